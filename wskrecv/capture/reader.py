"""Reading a capture: the UDP datagrams of a pcap or pcapng file, in capture order, with
their capture times, streamed (memory does not grow with the file).

`CaptureReader.read(max_n, stop_ns)` hands out column batches for the counting kernel;
`datagrams()` one `Datagram` at a time, for code that takes them singly (replay). The
batch scanner (scan.py, or the compiled core's twin) takes the common records; the rest
(other pcapng blocks, fragments, truncated datagrams, anything odd) go through the
general path here, one record at a time, in order.

A file cut short (a capture still being written, a copy that stopped) is read up to its
last whole record, and `problem` says how much was cut; a record that contradicts
itself (a length no record can have) stops the reading there, said the same way.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO, Callable, NamedTuple, Optional

from wskrecv.capture import formats, packets, scan
from wskrecv.capture.formats import CaptureFormatError, Interface
from wskrecv.capture.fragments import Reassembler

CHUNK = 1 << 20  # bytes read at a time
SUPPORTED = ", ".join(packets.describe_linktype(t) for t in packets.LINKTYPES)

Scanner = Callable[..., tuple]  # scan.scan's signature


class CaptureError(Exception):
    """The file is not a capture wskrecv can read; the message names the file."""


class Batch:
    """Datagrams in capture order, as columns: payloads (what a receiver would have been
    given), source and destination socket addresses, capture times in nanoseconds, and
    each datagram's length on the wire once the capture cut one short (None while every
    payload is whole)."""

    __slots__ = ("datas", "sources", "dests", "stamps", "wire_lengths")

    def __init__(self) -> None:
        self.datas: list[bytes] = []
        self.sources: list[tuple] = []
        self.dests: list[tuple] = []
        self.stamps: list[int] = []
        self.wire_lengths: Optional[list[int]] = None

    def __len__(self) -> int:
        return len(self.datas)


class Datagram(NamedTuple):
    """One UDP datagram of a capture."""

    time_ns: int
    src: tuple
    dst: tuple
    data: bytes
    wire_length: int

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.wire_length


class CaptureReader:
    """The UDP datagrams of one capture stream. `port`: only those to this destination
    port (0: all); `scanner`: the batch scanner (scan.scan, or the compiled core's)."""

    def __init__(self, stream: IO[bytes], name: str, port: int = 0,
                 scanner: Scanner = scan.scan, chunk: int = CHUNK) -> None:
        self.name = name
        self.port = port
        self._stream = stream
        self._read1 = getattr(stream, "read1", stream.read)
        self._scan = scanner
        self._chunk = chunk
        self._buf = b""
        self._pos = 0
        self._offset = 0  # file offset of _buf[0]
        self._eof = False
        self._done = False
        self._cache: dict = {}
        self.tally = [0] * scan.TALLY_SIZE
        self.fragments = Reassembler()
        self.interfaces: list[Interface] = []
        self._ifaces: tuple = ()
        self.drops: dict[int, int] = {}  # pcapng isb_ifdrop per interface (the last said)
        self.problem: Optional[str] = None  # why the reading stopped early (cut, corrupt)
        self.cut_bytes = 0
        self.read_error: Optional[str] = None  # reading the file failed part-way: why
        # The datagrams of a read a stop signal interrupted (KeyboardInterrupt), uncounted.
        self.interrupted: Optional[Batch] = None
        self.waiting = False  # in a read of the stream (a signal handler may interrupt it)
        self._last_ns = 0
        self._fill(4)
        head = self._buf
        if formats.is_pcapng(head):
            self.format, self._kind, self._big = "pcapng", formats.PCAPNG, False
            return
        self._fill(formats.PCAP_HEADER)
        try:
            found = formats.pcap_header(self._buf)
        except CaptureFormatError as exc:
            raise CaptureError(f"{name}: {exc}") from None
        if found is None:
            what = "is empty" if not self._buf else "is not a pcap or pcapng capture"
            raise CaptureError(f"{name} {what}")
        self.format, self._kind = "pcap", formats.PCAP
        self._big, iface = found
        self._describe(iface)
        self._check_linktype(0)
        self._pos = formats.PCAP_HEADER

    # -- the file's bytes ---------------------------------------------------------------

    def _fill(self, need: int) -> bool:
        """Make at least `need` bytes from _pos available; False at the end of the file."""
        while len(self._buf) - self._pos < need and not self._eof:
            try:
                # read1: what a pipe has now (a capture still being written, `tcpdump -w -`
                # upstream), without waiting for a whole chunk.
                self.waiting = True
                try:
                    more = self._read1(max(self._chunk, need - (len(self._buf) - self._pos)))
                finally:
                    self.waiting = False
            except (OSError, EOFError) as exc:  # a read error, a damaged gzip stream
                self.read_error = str(getattr(exc, "strerror", None) or exc)
                more = b""
            if not more:
                self._eof = True
                break
            self._offset += self._pos
            self._buf = self._buf[self._pos:] + more
            self._pos = 0
        return len(self._buf) - self._pos >= need

    def _stop(self, message: str) -> None:
        """End the reading here: what follows (`message` says why) is not read."""
        rest = len(self._buf) - self._pos
        if not self._eof:
            try:
                rest += sum(len(b) for b in iter(lambda: self._stream.read(self._chunk), b""))
            except (OSError, EOFError):
                pass  # what could be counted is counted
        self.cut_bytes = rest
        self.problem = f"{self.name}: {message}"
        self._done = True

    def _cut(self, whole: int) -> None:
        """The file ends inside a record of `whole` bytes (0: inside its header)."""
        have = len(self._buf) - self._pos
        if whole:
            self._stop(f"cut short: the last record has {have} of its {whole} bytes "
                       f"({whole - have} missing); the whole records before it were read")
        else:
            self._stop(f"cut short: {have} stray bytes after the last whole record "
                       "(a record header cut off); the whole records before it were read")

    # -- interfaces ---------------------------------------------------------------------

    def _describe(self, iface: Interface) -> None:
        self.interfaces.append(iface)
        # The scanner converts times itself when a unit is a whole number of ns and the
        # offset fits its 64 bits.
        fits = -(1 << 62) < iface.offset_ns < 1 << 62
        unit = iface.mult if iface.div == 1 and fits else 0
        self._ifaces += ((iface.linktype, unit, iface.offset_ns if unit else 0),)

    def _check_linktype(self, index: int) -> None:
        linktype = self.interfaces[index].linktype
        if linktype not in packets.LINKTYPES:
            where = f" (interface {index})" if self.format == "pcapng" else ""
            raise CaptureError(f"{self.name}: {packets.describe_linktype(linktype)}{where} is not "
                               f"a link type wskrecv reads ({SUPPORTED})")

    # -- reading ------------------------------------------------------------------------

    def read(self, max_n: int, stop_ns: Optional[int] = None) -> Optional[Batch]:
        """Up to `max_n` datagrams, each captured before `stop_ns` (None: any time). An
        empty batch: the next datagram is at or after `stop_ns`. None: no more."""
        if self._done:
            return None
        batch = Batch()
        try:
            return self._read(batch, max_n, stop_ns)
        except KeyboardInterrupt:
            self.interrupted = batch  # a signal while waiting for bytes: keep what was read
            raise

    def _read(self, batch: Batch, max_n: int, stop_ns: Optional[int]) -> Optional[Batch]:
        datas = batch.datas
        while len(datas) < max_n and not self._done:
            pos, status = self._scan(self._buf, self._pos, self._kind, self._big, self._ifaces,
                                     self.port, stop_ns, max_n, self._cache, datas,
                                     batch.sources, batch.dests, batch.stamps, self.tally)
            self._pos = pos
            wires = batch.wire_lengths
            if wires is not None and len(wires) < len(datas):  # the scanner's are whole
                wires.extend(len(d) for d in datas[len(wires):])
            if status == scan.TIME or status == scan.FULL:
                break
            if status == scan.END:
                if datas:
                    break  # hand these out before waiting for more (a pipe may wait long)
                if not self._fill(len(self._buf) - pos + 1):
                    self._at_end()
                continue
            status = self._general(batch, stop_ns)
            if status == scan.TIME:
                break
        if self._done and not datas:
            return None
        if batch.stamps:
            self._last_ns = batch.stamps[-1]
        return batch

    def _at_end(self) -> None:
        """The file is over: a record left part-way is a cut; pending fragments never
        completed."""
        have = len(self._buf) - self._pos
        if self.read_error is not None:
            self._stop(f"reading failed after {self._offset + self._pos} bytes "
                       f"({self.read_error}); the whole records before it were read")
        elif have:
            self._cut(self._record_size())
        self._done = True
        self.fragments.finish()

    def _record_size(self) -> int:
        """The size of the record at _pos, when its header is there (else 0)."""
        have = len(self._buf) - self._pos
        if self._kind == formats.PCAP:
            if have < formats.PCAP_RECORD:
                return 0
            caplen = struct.unpack_from(">I" if self._big else "<I", self._buf, self._pos + 8)[0]
            return formats.PCAP_RECORD + caplen
        if have < 8:
            return 0
        return struct.unpack_from(">I" if self._big else "<I", self._buf, self._pos + 4)[0]

    def _general(self, batch: Batch, stop_ns: Optional[int]) -> int:
        """The record at _pos, the general way: scan.TIME (not taken: at or after
        `stop_ns`), scan.END (more bytes needed, or the reading stopped) or scan.SLOW
        (taken)."""
        if self._kind == formats.PCAP:
            return self._pcap_record(batch, stop_ns)
        return self._pcapng_block(batch, stop_ns)

    def _pcap_record(self, batch: Batch, stop_ns: Optional[int]) -> int:
        if not self._fill(formats.PCAP_RECORD):
            self._at_end()
            return scan.END
        sec, frac, caplen, wire = struct.unpack_from(">IIII" if self._big else "<IIII", self._buf,
                                                     self._pos)
        if caplen > formats.MAX_BLOCK:
            self._stop(f"corrupt at byte {self._offset + self._pos}: a record claims {caplen} "
                       "captured bytes; the records before it were read")
            return scan.END
        if not self._fill(formats.PCAP_RECORD + caplen):
            self._at_end()
            return scan.END
        time_ns = self.interfaces[0].ns(frac) + sec * 1_000_000_000
        if stop_ns is not None and time_ns >= stop_ns:
            return scan.TIME
        start = self._pos + formats.PCAP_RECORD
        self._frame(batch, 0, time_ns, self._buf[start:start + caplen], wire)
        self._pos = start + caplen
        return scan.SLOW

    def _pcapng_block(self, batch: Batch, stop_ns: Optional[int]) -> int:
        if not self._fill(12):
            self._at_end()
            return scan.END
        buf, pos = self._buf, self._pos
        btype = struct.unpack_from("<I", buf, pos)[0]
        try:
            order = formats.section_order(buf[pos:pos + 12]) if btype == formats.SHB else (
                ">" if self._big else "<")
        except CaptureFormatError as exc:
            self._stop(f"corrupt at byte {self._offset + pos}: {exc}")
            return scan.END
        btype, total = struct.unpack_from(order + "II", buf, pos)
        if total < 12 or total % 4 or total > formats.MAX_BLOCK:
            self._stop(f"corrupt at byte {self._offset + pos}: a block claims {total} bytes; "
                       "the blocks before it were read")
            return scan.END
        if not self._fill(total):
            self._at_end()
            return scan.END
        buf, pos = self._buf, self._pos
        if struct.unpack_from(order + "I", buf, pos + total - 4)[0] != total:
            self._stop(f"corrupt at byte {self._offset + pos}: a block's two lengths differ")
            return scan.END
        body = buf[pos + 8:pos + total - 4]
        try:
            if btype == formats.SHB:
                self._big = order == ">"
                self.interfaces, self._ifaces = [], ()
            elif btype == formats.IDB:
                self._describe(formats.interface(body, order))
            elif btype in (formats.EPB, formats.OPB, formats.SPB):
                frame = formats.packet_block(btype, body, order, self.interfaces)
                time_ns = frame.time_ns if frame.time_ns >= 0 else self._last_ns
                if stop_ns is not None and time_ns >= stop_ns:
                    return scan.TIME
                self._check_linktype(frame.interface)
                self._frame(batch, frame.interface, time_ns, frame.data, frame.wire_length)
            elif btype == formats.ISB:
                drops = formats.interface_drops(body, order)
                if drops is not None:
                    self.drops[drops[0]] = drops[1]
        except CaptureFormatError as exc:
            self._stop(f"corrupt at byte {self._offset + pos}: {exc}")
            return scan.END
        self._pos = pos + total
        return scan.SLOW

    def _endpoint(self, version: int, packed: bytes, port: int) -> tuple:
        return scan.endpoint(self._cache, version, packed, port)

    def _frame(self, batch: Batch, iface: int, time_ns: int, frame: bytes, wire: int) -> None:
        """Decode one frame; its datagram (a whole one, once its fragments are in) joins
        the batch, else its skip reason is counted."""
        self.tally[scan.FRAMES] += 1
        self._last_ns = time_ns
        linktype = self.interfaces[iface].linktype
        found = packets.decode(linktype, frame, wire, self.port, self._endpoint)
        if isinstance(found, packets.Fragment):
            whole = self.fragments.add(found, time_ns)
            if whole is None:
                return
            found = packets.reassembled(whole[1], whole[0], whole[2], self.port, self._endpoint)
            if isinstance(found, packets.Fragment):
                found = packets.MALFORMED
        if not isinstance(found, packets.Udp):
            self.tally[found] += 1
            return
        if len(found.data) != found.wire_length and batch.wire_lengths is None:
            batch.wire_lengths = [len(d) for d in batch.datas]
        batch.datas.append(found.data)
        batch.sources.append(found.src)
        batch.dests.append(found.dst)
        batch.stamps.append(time_ns)
        if batch.wire_lengths is not None:
            batch.wire_lengths.append(found.wire_length)

    def datagrams(self, batch: int = 1024) -> Iterator[Datagram]:
        """Every datagram, one at a time, in capture order."""
        while True:
            got = self.read(batch)
            if got is None:
                return
            wires = got.wire_lengths
            for i, data in enumerate(got.datas):
                yield Datagram(got.stamps[i], got.sources[i], got.dests[i], data,
                               wires[i] if wires is not None else len(data))

    def skipped(self) -> dict[str, int]:
        """Frames that gave no datagram, by reason (packets.SKIP_REASONS), and
        `fragments_incomplete`: fragmented datagrams never made whole."""
        out = dict(zip(packets.SKIP_REASONS, self.tally))
        out["fragments_incomplete"] = self.fragments.incomplete
        return out

    @property
    def frames(self) -> int:
        return self.tally[scan.FRAMES]

    def close(self) -> None:
        """Close the stream (not standard input's)."""
        if self.name != "standard input":
            self._stream.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
