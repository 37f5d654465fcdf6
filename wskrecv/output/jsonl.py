"""JSON lines on stdout: one object per line, each with a "type"."""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Optional

from wskrecv.errors import ExitStatus
from wskrecv.shown import shown_all
from wskrecv.stats.snapshot import Snapshot


class JsonReporter:
    """`start`, `interval`, `datagram` and `summary` objects, flushed line by line."""

    frame_interval: Optional[float] = None  # no live frames

    def __init__(self, stream: Optional[IO[str]] = None, quiet: bool = False,
                 per_stream: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.quiet = quiet
        self.per_stream = per_stream  # interval objects carry the `streams` array

    def emit(self, obj: dict[str, Any]) -> None:
        self.stream.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.stream.flush()

    def start(self, info: dict[str, Any]) -> None:
        if not self.quiet:
            self.emit({"type": "start", **{k: v for k, v in info.items() if k != "detail"}})

    def interval(self, snap: Snapshot) -> None:
        if not self.quiet:
            self.emit({"type": "interval", **snap.interval_dict(self.per_stream)})

    def frame(self, snap: Snapshot) -> None:
        pass

    def close(self) -> None:
        pass

    def note(self, record: dict[str, Any]) -> None:
        """An `iperf3` object: the iperf3 server started, ended or refused a test...; or
        a `metrics` object (the record's `type`): the endpoint could not serve. A peer's
        text in it is escaped: `jq -r` prints strings raw."""
        if not self.quiet:
            self.emit({"type": "iperf3", **shown_all(record)})

    def datagram(self, record: dict[str, Any]) -> None:
        self.emit({"type": "datagram", **record})

    def summary(
        self, snap: Snapshot, status: ExitStatus, reason: str, threshold: Optional[str] = None
    ) -> None:
        self.emit(
            {"type": "summary", **snap.summary_dict(), "reason": reason,
             "threshold": threshold, "exit_status": int(status)}
        )
