"""`--pcap` with `--workers`: one capture from every worker's records, in time order.

Each worker writes its own part file beside the capture (`FILE.worker-N.part`, or in a
temporary directory for `--pcap -`) as a one-worker run writes its capture. When the run
ends the parent joins the parts into FILE, ordered by kernel receive timestamp (a k-way
merge: each part is already in time order), and removes them, before the summary (which
says whether it worked). So the capture is complete and fully time-ordered, but written
when the run ends rather than datagram by datagram. A worker that was killed leaves a
part whose last record may be cut short: its whole records are kept.

The join gives back the parts' disk space as it reads them (fallocate's PUNCH_HOLE, where
the file system has it): on a disk with room for the records once, but not for the parts
and the joined file together, it keeps every record a one-process run would have kept
(it lost 1,232 of 3,300). A join that fails still leaves a valid file: the header, and
whole records only.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any, Optional

from wskrecv.errors import NoBinaryOutput, OsFailure
from wskrecv.output.pcap import _GLOBAL, _RECORD, PcapWriter, file_header

_Record = tuple[int, int, int, bytes]  # (seconds, nanoseconds, part index, record bytes)


PUNCH_EVERY = 4096  # bytes of a part read between two give-backs of its space (a page)
_PUNCH_HOLE = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE (linux/falloc.h)


class _Punch:
    """fallocate(fd, PUNCH_HOLE) through ctypes: free a file's first bytes, its size kept.
    Off for good after the first failure (a file system without it, not Linux)."""

    def __init__(self) -> None:
        self.works = True
        self._fallocate: Any = None

    def __call__(self, fd: int, length: int) -> None:
        if not self.works or length <= 0:
            return
        try:
            if self._fallocate is None:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                                           ctypes.c_long]
                self._fallocate = libc.fallocate
            if self._fallocate(fd, _PUNCH_HOLE, 0, length) != 0:
                self.works = False
        except (OSError, AttributeError):
            self.works = False


def _records(path: str, index: int, punch: _Punch) -> Iterator[_Record]:
    """The whole records of one part file, in file order; what has been read is given
    back to the file system as it goes (`punch`)."""
    with open(path, "r+b") as f:
        if len(f.read(_GLOBAL.size)) < _GLOBAL.size:
            return
        read = freed = _GLOBAL.size
        while True:
            head = f.read(_RECORD.size)
            if len(head) < _RECORD.size:
                return
            sec, nsec, caplen, _ = _RECORD.unpack(head)
            body = f.read(caplen)
            if len(body) < caplen:
                return  # cut short by a killed worker
            # The record before this one is in the joined file's buffer at least: what
            # lies before it can go (whole pages).
            if read - freed >= PUNCH_EVERY:
                punch(f.fileno(), read & ~0xFFF)
                freed = read
            read += len(head) + caplen
            yield sec, nsec, index, head + body


class PartFiles:
    """Where the workers write their parts of the capture `target`."""

    def __init__(self, target: str, workers: int) -> None:
        self.target = target
        self._tmpdir: Optional[str] = None
        if target == "-":
            self._tmpdir = tempfile.mkdtemp(prefix="wskrecv-pcap-")
            base = os.path.join(self._tmpdir, "capture")
        else:
            base = target
        self.paths = [f"{base}.worker-{i}.part" for i in range(workers)]

    def create(self, stdout: Optional[IO[bytes]]) -> None:
        """Before the workers start: the capture can be written (NoBinaryOutput for a
        `-` without binary output, OsFailure naming FILE otherwise), and each part
        exists, empty."""
        if self.target == "-":
            if stdout is None:
                raise NoBinaryOutput()
        else:
            try:  # its header now: a disk the parts fill leaves a valid, if empty, capture
                with open(self.target, "wb") as f:
                    f.write(file_header())
            except OSError as exc:
                raise OsFailure(
                    f"cannot write capture {self.target}: {exc.strerror or exc}") from None
        try:
            for p in self.paths:
                open(p, "wb").close()  # noqa: SIM115
        except OSError as exc:
            self.remove()
            raise OsFailure(f"cannot write capture {self.target}: {exc.strerror or exc}") from None

    def join(self, stdout: Optional[IO[bytes]]) -> int:
        """Write the capture from the parts (time-ordered); returns the records written.
        The parts are removed whatever happens."""
        try:
            if self.target == "-":
                if stdout is None:
                    raise NoBinaryOutput()
                writer = PcapWriter(stdout, close_stream=False)
            else:
                try:
                    stream = open(self.target, "r+b", buffering=0)  # noqa: SIM115
                    stream.seek(len(file_header()))  # after the header create() wrote
                    stream.truncate()
                except OSError as exc:
                    raise OsFailure(
                        f"cannot write capture {self.target}: {exc.strerror or exc}") from None
                writer = PcapWriter(stream, header=False)
            punch = _Punch()
            parts = [_records(p, i, punch) for i, p in enumerate(self.paths)
                     if os.path.exists(p)]
            n = 0
            try:
                writer.flush()  # the header first (to stdout): a valid capture, if empty
                for _, _, _, record in heapq.merge(*parts):
                    writer.write_record(record)
                    n += 1
                writer.close()
            except BrokenPipeError:
                raise
            except OSError as exc:
                writer.close_quietly()
                raise OsFailure(f"cannot write capture {self.target}: {exc.strerror or exc} "
                                f"({n} records written)") from None
            return n
        finally:
            self.remove()

    def remove(self) -> None:
        for p in self.paths:
            try:
                os.unlink(p)
            except OSError:
                pass
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


__all__ = ["PartFiles"]
