"""IP fragments put back together, as the receiving host's kernel would before a socket
saw the datagram, in bounded memory and capture time.

Bounds (what comes from a capture is hostile): at most MAX_PENDING datagrams being
rebuilt at once (the oldest gives way), at most MAX_FRAGMENTS pieces and 65,535 bytes
each, and a datagram not whole TIMEOUT_NS of capture time after its first piece is
given up (Linux's ipfrag_time is 30 s). Overlapping pieces discard the datagram, as
Linux does (RFC 5722 for IPv6). Whatever is given up is counted in `incomplete`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from wskrecv.capture.packets import Fragment

MAX_PENDING = 1024
MAX_FRAGMENTS = 128  # pieces of one datagram (64 KiB in 512-byte pieces is 128)
MAX_PAYLOAD = 65535  # an IP datagram's payload is at most this (less its header)
TIMEOUT_NS = 30_000_000_000


class _Pending:
    __slots__ = ("first_ns", "pieces", "total", "proto", "head", "size")

    def __init__(self, first_ns: int) -> None:
        self.first_ns = first_ns
        self.pieces: dict[int, bytes] = {}  # offset -> bytes
        self.total: Optional[int] = None  # the payload's length, once the last piece came
        self.proto = -1
        self.head: tuple = ()
        self.size = 0


class Reassembler:
    """Collects Fragments; `add` returns (proto, head, payload) once a datagram is whole."""

    def __init__(self, max_pending: int = MAX_PENDING, timeout_ns: int = TIMEOUT_NS) -> None:
        self.max_pending = max(1, max_pending)
        self.timeout_ns = timeout_ns
        self._pending: OrderedDict[tuple, _Pending] = OrderedDict()
        self.incomplete = 0  # datagrams given up (timed out, evicted, overlapping, cut)
        self.reassembled = 0  # datagrams made whole

    def add(self, frag: Fragment, time_ns: int) -> Optional[tuple[int, tuple, bytes]]:
        """Take one piece seen at `time_ns`; the whole datagram's (proto, head, payload)
        when this piece completes it, else None."""
        self._expire(time_ns)
        entry = self._pending.get(frag.key)
        if entry is None:
            if len(self._pending) >= self.max_pending:
                self._pending.popitem(last=False)
                self.incomplete += 1
            entry = self._pending[frag.key] = _Pending(time_ns)
        if not self._fits(entry, frag):
            self._give_up(frag.key)
            return None
        entry.pieces[frag.offset] = frag.data
        entry.size += len(frag.data)
        if frag.offset == 0:
            entry.proto, entry.head = frag.proto, frag.head
        if not frag.more:
            entry.total = frag.offset + len(frag.data)
        if entry.total is None or entry.size != entry.total or entry.proto < 0:
            return None
        del self._pending[frag.key]
        self.reassembled += 1
        payload = b"".join(entry.pieces[k] for k in sorted(entry.pieces))
        return entry.proto, entry.head, payload

    def _fits(self, entry: _Pending, frag: Fragment) -> bool:
        """Whether `frag` may join `entry`: whole, within bounds, overlapping nothing, and
        (all but the last) a multiple of 8 bytes long."""
        start, end = frag.offset, frag.offset + len(frag.data)
        if frag.cut or end > MAX_PAYLOAD or len(entry.pieces) >= MAX_FRAGMENTS:
            return False
        if frag.more and len(frag.data) % 8:
            return False
        if entry.total is not None and (end > entry.total or (not frag.more and end != entry.total)):
            return False
        if not frag.more and any(k + len(v) > end for k, v in entry.pieces.items()):
            return False
        return all(end <= k or start >= k + len(v) for k, v in entry.pieces.items())

    def _give_up(self, key: tuple) -> None:
        if self._pending.pop(key, None) is not None:
            self.incomplete += 1

    def _expire(self, now_ns: int) -> None:
        """Give up the datagrams whose first piece is older than the timeout (the oldest
        come first: entries are in arrival order)."""
        pending = self._pending
        while pending:
            key, entry = next(iter(pending.items()))
            if now_ns - entry.first_ns < self.timeout_ns:
                break
            del pending[key]
            self.incomplete += 1

    def finish(self) -> int:
        """The end of the capture: what is still pending is incomplete. Returns the total."""
        self.incomplete += len(self._pending)
        self._pending.clear()
        return self.incomplete


__all__ = ["MAX_PENDING", "TIMEOUT_NS", "Reassembler"]
