"""A capture read back as if it were the socket (`--replay`): its UDP datagrams, the ones
the selection keeps, in capture order, with the capture's times as kernel receive times.

The receive loop reads it as it reads a socket (`read(max_n)`, only what the model asks
for), but nothing waits: time is the capture's. Each read stops before `horizon()` (the
loop's next due time: an interval, a delayed completion, a work item) so that what falls
due is handled in capture order, and the replay's clock (the loop's) moves to the last
datagram read. The capture is read with wskrecv.capture, `wskrecv analyze`'s reader.

A capture cut short is replayed up to its last whole record, and `problem` says so; so is
one whose reading fails part-way (a pcapng interface of a link type wskrecv does not read).
"""

from __future__ import annotations

from typing import IO, Callable, Optional

from wskrecv.capture import CaptureError, CaptureReader, open_capture_file
from wskrecv.capture.select import Selection
from wskrecv.errors import UsageError
from wskrecv.wsk.datagram import Datagram, make_datagram

BATCH = 1024  # datagrams the reader hands out at a time (the loop asks for fewer)
_MAPPED = "::ffff:"


class ReplayProvider:
    """The provider contract (runner.contracts.Provider) over a capture file."""

    inherited_fd = None  # nothing is inherited: never drained as a socket would be
    drops_before_run: Optional[int] = None
    kernel_drops = 0  # a capture has no socket: no drops of ours
    drops_at_last_read = 0
    rcvbuf = 0
    rcvbuf_requested: Optional[int] = None
    rcvbuf_cap: Optional[int] = None
    note: Optional[str] = None
    reader = "capture"

    def __init__(self, reader: CaptureReader, selection: Selection, local_address: tuple,
                 advance: Callable[[int], None] = lambda ns: None) -> None:
        self._reader = reader
        self.name = reader.name
        self.selection = selection
        self._rest = selection.rest  # what the reader's port does not check
        self.local_address = local_address
        self._v6 = len(local_address) > 2 or ":" in str(local_address[0])
        self.advance = advance  # moves the replay's clock to a datagram's time
        self.horizon: Callable[[], Optional[int]] = lambda: None
        self._ahead: list[Datagram] = []  # read from the capture, not yet handed out
        self._done = False
        self.read_count = 0
        self.problem: Optional[str] = None  # why the capture was not read to its end
        self.unreadable = False  # ... because what followed could not be read at all
        self.first_ns = self.peek_ns()

    @classmethod
    def open(cls, path: str, selection: Selection, local_address: tuple, scanner: Callable,
             stdin: Optional[IO[bytes]] = None) -> ReplayProvider:
        """The capture at `path` (`-`: standard input), or a UsageError (exit 2): not a
        capture, a link type wskrecv does not read, or no datagram the selection keeps."""
        try:
            reader = open_capture_file(path, selection.dst_port, scanner, stdin=stdin)
        except CaptureError as exc:
            raise UsageError(str(exc)) from None
        provider = cls(reader, selection, local_address)
        if provider.first_ns is None:
            reader.close()
            what = provider.problem or f"{reader.frames} frames read"
            raise UsageError(f"{reader.name}: no UDP datagram matches {selection} ({what}); "
                             "choose them with --port or --replay-filter")
        return provider

    # -- what the loop reads ------------------------------------------------------------

    def _fill(self) -> bool:
        """Read ahead from the capture: False once it is over."""
        while not self._ahead and not self._done:
            try:
                batch = self._reader.read(BATCH)
            except CaptureError as exc:  # e.g. a pcapng interface of another link type
                self.problem = str(exc)
                self.unreadable = True
                batch = None
            if batch is None:
                self._done = True
                if self.problem is None:
                    self.problem = self._reader.problem
                break
            rest, v6 = self._rest, self._v6
            for data, src, dst, stamp in zip(batch.datas, batch.sources, batch.dests,
                                              batch.stamps):
                if rest and not all(t.matches(src, dst) for t in rest):
                    continue
                if v6 and len(src) == 2:  # as a dual-stack socket gives an IPv4 sender
                    src = (_MAPPED + src[0], src[1], 0, 0)
                self._ahead.append(make_datagram(Datagram, (data, src, (dst[0], 0), stamp)))
            self._ahead.reverse()  # popped from the end, oldest first
        return bool(self._ahead)

    def peek_ns(self) -> Optional[int]:
        """The capture time of the next datagram, or None when there is none left."""
        if not self._fill():
            return None
        return self._ahead[-1].timestamp_ns

    def read(self, max_n: int) -> list[Datagram]:
        """Up to `max_n` datagrams, in capture order, captured before `horizon()`; the
        replay's clock moves to the last one's time."""
        horizon = self.horizon()
        got: list[Datagram] = []
        ahead = self._ahead
        while len(got) < max_n and self._fill():
            d = ahead[-1]
            if horizon is not None and d.timestamp_ns >= horizon:
                break
            got.append(ahead.pop())
        if got:
            self.read_count += len(got)
            self.advance(got[-1].timestamp_ns)
        return got

    @property
    def exhausted(self) -> bool:
        return not self._fill()

    def end_reason(self) -> str:
        """Why the replay ran out: the capture's end, or where it stopped early."""
        if self.problem is None:
            return "end of capture"
        return "capture unreadable" if self.unreadable else "capture cut short"

    def drain(self, seconds: float) -> tuple[int, bool]:
        """What the replay did not read (every datagram left: a file is finite)."""
        n = 0
        while self._fill():
            n += len(self._ahead)
            self._ahead.clear()
        return n, True

    def fileno(self) -> int:
        return -1  # nothing to wait on

    def close(self) -> None:
        self._reader.close()


__all__ = ["ReplayProvider"]
