"""Classic pcap capture of received datagrams, with synthesised IPv4/IPv6 and UDP headers.

A receiver sees payloads, not packets, so each record rebuilds the packet the datagram
came in: an IPv4 or IPv6 header (real source and destination addresses, correct header
checksum) and a UDP header (real ports, length, checksum), then the bytes received.
The file is a nanosecond-resolution pcap (magic 0xa1b23c4d) with LINKTYPE_RAW (101):
each record starts at the IP header, so IPv4 and IPv6 mix in one file, and tcpdump,
Wireshark and scapy read it.

Built with `struct` only: the receive commands must not import scapy (it costs seconds of
start-up), and per-datagram work stays small when capture is on.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import stat
import struct
import threading
import time
from typing import IO, TYPE_CHECKING, Callable, Optional

from wskrecv.errors import NoBinaryOutput, OsFailure

if TYPE_CHECKING:
    from wskrecv.stats.recorder import DumpRecord

MAGIC_NS = 0xA1B23C4D  # nanosecond timestamps (libpcap >= 1.5, Wireshark, scapy)
VERSION = (2, 4)
LINKTYPE_RAW = 101  # the record is an IPv4 or IPv6 packet, told apart by its version nibble
SNAPLEN = 262144  # tcpdump's default; larger than any record written here

_GLOBAL = struct.Struct("<IHHiIII")  # magic, major, minor, thiszone, sigfigs, snaplen, linktype
_RECORD = struct.Struct("<IIII")  # ts_sec, ts_nsec, caplen, len
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_UDP = struct.Struct("!HHHH")
IPV4_HEADER = _IPV4.size  # 20
IPV6_HEADER = _IPV6.size  # 40
UDP_HEADER = _UDP.size  # 8
_PROTO_UDP = 17
BUFFER = 1 << 16  # bytes of whole records written at once
_TTL = 64

Address = tuple  # (host, port): a Python socket address, IPv6 scope allowed


def ones_complement_sum(data: bytes) -> int:
    """The 16-bit one's complement sum of `data` (RFC 1071), padded to even length.

    Because 2**16 is 1 modulo 0xFFFF, the sum of the 16-bit words folds to the whole byte
    string read as one big integer, modulo 0xFFFF: one C-speed pass instead of a Python
    loop over words.
    """
    if len(data) & 1:
        data += b"\0"
    if not data:
        return 0
    total = int.from_bytes(data, "big") % 0xFFFF
    # 0 and 0xFFFF are the same number in one's complement; a non-zero input sums to 0xFFFF.
    return 0xFFFF if total == 0 and data.count(0) != len(data) else total


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum: the complement of the one's complement sum."""
    return ~ones_complement_sum(data) & 0xFFFF


@functools.lru_cache(maxsize=4096)  # a run sees few distinct addresses; parsing is per datagram
def _split_host(host: str) -> tuple[int, bytes]:
    """(family, packed address); IPv4-mapped IPv6 addresses become IPv4 (that is what was
    on the wire) and a scope suffix (fe80::1%eth0) is dropped."""
    host = host.split("%", 1)[0]
    if ":" not in host:
        return socket.AF_INET, socket.inet_pton(socket.AF_INET, host)
    packed = socket.inet_pton(socket.AF_INET6, host)
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.AF_INET, packed[12:]
    return socket.AF_INET6, packed


class PcapWriter:
    """Writes one pcap record per datagram to a binary stream.

    `write` is safe to call from several threads (the event style may consume datagrams
    on a worker thread). `close` flushes; the file is valid after every whole record.
    """

    def __init__(self, stream: IO[bytes], close_stream: bool = True, flush_each: bool = False,
                 header: bool = True) -> None:
        """`header` False: `stream` is a capture whose header is written already; records
        are appended where it stands."""
        self.stream = stream
        self.close_stream = close_stream
        self.flush_each = flush_each  # for pipes: a reader downstream sees each datagram at once
        self.records = 0
        self._ident = 0
        self._lock = threading.Lock()
        self._closed = False
        # Records wait here and go out whole (BUFFER bytes at a time), so a write that
        # fails half way (disk full) is cut back to the last whole record: the file
        # always ends on one. `_ends`: where each pending record ends; `_written`: bytes
        # in the stream (whole records only); `_error`: the write that failed.
        self._pending = bytearray(file_header() if header else b"")
        self._ends = [len(self._pending)] if header else []
        self._written = 0 if header else stream.tell()
        self._error: Optional[OSError] = None
        if flush_each:
            self._send()
            stream.flush()

    def packet(
        self, data: bytes, src: Address, dst: Address, wire_length: Optional[int] = None
    ) -> tuple[bytes, int]:
        """The synthesised IP + UDP + payload bytes for one datagram, and the packet's
        length on the wire (larger than the bytes when the payload was truncated)."""
        src_family, src_ip = _split_host(src[0])
        dst_family, dst_ip = _split_host(dst[0])
        if dst_family != src_family:
            # The destination is unknown in the source's family (a dual-stack socket
            # bound to :: with no packet info): use the unspecified address.
            dst_ip = b"\0" * len(src_ip)
        payload_len = len(data) if wire_length is None else max(wire_length, len(data))
        udp_len = UDP_HEADER + payload_len
        complete = payload_len == len(data)
        if src_family == socket.AF_INET:
            pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, _PROTO_UDP, udp_len)
        else:
            pseudo = src_ip + dst_ip + struct.pack("!IxxxB", udp_len, _PROTO_UDP)
        udp = _UDP.pack(src[1], dst[1], udp_len & 0xFFFF, 0)
        csum = 0
        if complete:
            # The checksum covers the whole payload: only computable when we have it all.
            csum = internet_checksum(pseudo + udp + data) or 0xFFFF
        udp = _UDP.pack(src[1], dst[1], udp_len & 0xFFFF, csum)
        if src_family == socket.AF_INET:
            total = IPV4_HEADER + udp_len
            self._ident = (self._ident + 1) & 0xFFFF
            head = _IPV4.pack(
                0x45, 0, total & 0xFFFF, self._ident, 0x4000, _TTL, _PROTO_UDP, 0, src_ip, dst_ip
            )
            head = head[:10] + struct.pack("!H", internet_checksum(head)) + head[12:]
        else:
            total = IPV6_HEADER + udp_len
            head = _IPV6.pack(6 << 28, udp_len & 0xFFFF, _PROTO_UDP, _TTL, src_ip, dst_ip)
        return head + udp + data, total

    def write(
        self,
        data: bytes,
        src: Address,
        dst: Address,
        timestamp_ns: Optional[int] = None,
        wire_length: Optional[int] = None,
    ) -> None:
        """Append one datagram. `timestamp_ns` is the kernel receive time (now if None);
        `wire_length` is the datagram's full length when `data` is a truncated prefix,
        so the record's caplen is smaller than its len, as a snaplen-limited capture's."""
        ts = time.time_ns() if timestamp_ns is None else timestamp_ns
        pkt, length = self.packet(data, src, dst, wire_length)
        sec, nsec = divmod(ts, 1_000_000_000)
        self.write_record(_RECORD.pack(sec & 0xFFFFFFFF, nsec, len(pkt), length) + pkt)

    def write_record(self, record: bytes) -> None:
        """Append one whole pcap record (its 16-byte header and packet), as built by
        `write` or read from another capture."""
        with self._lock:
            if self._closed:
                return
            self._pending += record
            self._ends.append(len(self._pending))
            self.records += 1
            if self.flush_each:
                self._send()
                self.stream.flush()
            elif len(self._pending) >= BUFFER:
                self._send()

    def _send(self) -> None:
        """Write the pending records (under the lock). A write that fails leaves the
        stream at the last whole record that made it (a file is truncated back to it)
        and fails every later write alike."""
        if self._error is not None:
            raise OSError(self._error.errno, self._error.strerror)
        data = memoryview(bytes(self._pending))  # a copy: the pending buffer may change
        done = 0
        try:
            while done < len(data):
                n = self.stream.write(data[done:])
                done += len(data) - done if n is None else n
        except OSError as exc:
            whole = max((end for end in self._ends if end <= done), default=0)
            if whole < done and not isinstance(exc, BrokenPipeError):
                try:
                    self.stream.truncate(self._written + whole)
                except (OSError, ValueError, AttributeError):
                    pass  # not a file (a FIFO): nothing to cut back
            self._written += whole
            self._error = exc
            raise
        finally:
            if self._error is not None or done == len(data):
                self._pending.clear()
                self._ends.clear()
        self._written += done

    def sink(self, bound: Address, name: str) -> Callable[[DumpRecord], None]:
        """A sink for kept datagrams writing each from its remote address to its local one
        (packet info's destination, else the `bound` address) and the bound port.
        A failed write (disk full) is an OsFailure naming the capture `name`; so is a
        FIFO whose reader went away. Only standard output's reader leaving (`--pcap -`,
        `| tcpdump -r -` ended) stays a BrokenPipeError, which ends the run quietly."""
        return _CaptureSink(self, bound, name)

    def flush(self) -> None:
        """Write what is pending (a failure is the OSError of the write)."""
        with self._lock:
            if not self._closed:
                if self._pending:
                    self._send()
                self.stream.flush()

    def close_quietly(self) -> None:
        """Close without writing what is pending (it could not be written)."""
        with self._lock:
            self._closed = True
            if self.close_stream:
                with contextlib.suppress(OSError):
                    self.stream.close()

    def close(self) -> None:
        """Flush and (for files we opened) close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._pending and self._error is None:
                    self._send()
                self.stream.flush()
            finally:
                if self.close_stream:
                    self.stream.close()


class _CaptureSink:
    """The capture as the runner's sink for kept datagrams (see PcapWriter.sink), with
    `flush`: the runner writes what is pending before the summary, so a capture that
    fails at the end still fails the run the summary reports."""

    def __init__(self, writer: PcapWriter, bound: Address, name: str) -> None:
        self.writer = writer
        self.host, self.port = bound[0], bound[1]
        self.name = name

    def _failure(self, exc: OSError) -> Exception:
        if isinstance(exc, BrokenPipeError):
            if self.name == "-":
                return exc  # standard output's reader left: quietly
            return OsFailure(f"cannot write capture {self.name}: its reader went away")
        return OsFailure(f"cannot write capture {self.name}: {exc.strerror or exc}")

    def __call__(self, rec: DumpRecord) -> None:
        try:
            self.writer.write(rec.data, rec.remote, (rec.local or self.host, self.port),
                              rec.timestamp_ns, rec.orig_len)
        except OSError as exc:
            raise self._failure(exc) from None

    def flush(self) -> None:
        try:
            self.writer.flush()
        except OSError as exc:
            raise self._failure(exc) from None


def file_header() -> bytes:
    """The pcap file header wskrecv writes (nanosecond timestamps, LINKTYPE_RAW)."""
    return _GLOBAL.pack(MAGIC_NS, *VERSION, 0, 0, SNAPLEN, LINKTYPE_RAW)


def open_capture(
    path: str, stdout: Optional[IO[bytes]] = None, within: Optional[float] = None,
    waiting: Callable[[str], None] = lambda _: None,
) -> PcapWriter:
    """A writer for `--pcap PATH`; `-` writes to `stdout` (flushed record by record, for a
    reader at the other end of a pipe; NoBinaryOutput when there is none). The file header
    is written at once, so an unwritable path (`/dev/full`, `/proc/version`, a full disk)
    is an OsFailure before anything is received, and no file is left behind. A FIFO is
    opened once a reader has it open (said through `waiting`), for at most `within`
    seconds (the run's --duration or --timeout; None: until then); a stop signal ends the
    wait (Interrupted)."""
    if path == "-":
        if stdout is None:
            raise NoBinaryOutput()
        return PcapWriter(stdout, close_stream=False, flush_each=True)
    try:
        existed = os.path.lexists(path)
        if stat.S_ISFIFO(os.stat(path).st_mode) if existed else False:
            stream = _open_fifo(path, within, waiting)
        else:
            # Unbuffered: the writer buffers whole records itself (see PcapWriter._send).
            stream = open(path, "wb", buffering=0)  # noqa: SIM115 - the writer owns it
    except OSError as exc:
        raise OsFailure(f"cannot write capture {path}: {exc.strerror or exc}") from None
    writer = PcapWriter(stream)
    try:
        writer.flush()  # the header: a path that cannot take it fails now
    except OSError as exc:
        writer.close_quietly()
        if not existed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise OsFailure(f"cannot write capture {path}: {exc.strerror or exc}") from None
    return writer


FIFO_POLL = 0.05  # seconds between looks for a FIFO's reader


def _open_fifo(path: str, within: Optional[float], waiting: Callable[[str], None]) -> IO[bytes]:
    """FIFO `path` opened for writing once a reader has it open. A plain open() would
    wait for the reader in the kernel, deaf to the run's deadline and to Ctrl-C: a
    non-blocking open fails (ENXIO) until there is one, so look every FIFO_POLL s."""
    from wskrecv.errors import Interrupted
    from wskrecv.signals import StopSignals

    end = None if within is None else time.monotonic() + within
    stops = StopSignals(lambda _reason: None)
    with stops.installed():
        said = False
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
            if not said:
                waiting(f"waiting for a reader of the capture FIFO {path}")
                said = True
            if stops.signum is not None:
                raise Interrupted(stops.signum, f"no reader opened the capture FIFO {path}")
            if end is not None and time.monotonic() >= end:
                raise OSError(errno.ENXIO, f"no reader opened the FIFO within {within:g} s")
            time.sleep(FIFO_POLL)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb", buffering=0)


__all__ = [
    "LINKTYPE_RAW",
    "MAGIC_NS",
    "PcapWriter",
    "internet_checksum",
    "ones_complement_sum",
    "open_capture",
]
