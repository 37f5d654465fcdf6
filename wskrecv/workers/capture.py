"""`--pcap` with `--workers`: one capture from every worker's records, in time order.

Each worker writes its own part file beside the capture (`FILE.worker-N.part`, or in a
temporary directory for `--pcap -`) as a one-worker run writes its capture. When the run
ends the parent joins the parts into FILE, ordered by kernel receive timestamp (a k-way
merge: each part is already in time order), and removes them. So the capture is complete
and fully time-ordered, but written when the run ends rather than datagram by datagram.
A worker that was killed leaves a part whose last record may be cut short: its whole
records are kept.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Optional

from wskrecv.errors import NoBinaryOutput, OsFailure
from wskrecv.output.pcap import _GLOBAL, _RECORD, PcapWriter

_Record = tuple[int, int, int, bytes]  # (seconds, nanoseconds, part index, record bytes)


def _records(path: str, index: int) -> Iterator[_Record]:
    """The whole records of one part file, in file order."""
    with open(path, "rb") as f:
        if len(f.read(_GLOBAL.size)) < _GLOBAL.size:
            return
        while True:
            head = f.read(_RECORD.size)
            if len(head) < _RECORD.size:
                return
            sec, nsec, caplen, _ = _RECORD.unpack(head)
            body = f.read(caplen)
            if len(body) < caplen:
                return  # cut short by a killed worker
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
            try:
                open(self.target, "ab").close()  # noqa: SIM115 - only a check
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
                    stream = open(self.target, "wb", buffering=1 << 16)  # noqa: SIM115
                except OSError as exc:
                    raise OsFailure(
                        f"cannot write capture {self.target}: {exc.strerror or exc}") from None
                writer = PcapWriter(stream)
            parts = [_records(p, i) for i, p in enumerate(self.paths) if os.path.exists(p)]
            n = 0
            try:
                for _, _, _, record in heapq.merge(*parts):
                    writer.write_record(record)
                    n += 1
                writer.close()
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise OsFailure(f"cannot write capture {self.target}: {exc.strerror or exc}") from None
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
