"""The counters the receivers update for every datagram they consume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

from wskrecv.stats.snapshot import Snapshot, _frozen

# dump(data, remote, truncated, timestamp_ns, local): one call per datagram when --dump or
# --pcap is on. `local` is the datagram's destination address from packet info, or None.
DumpSink = Callable[[bytes, tuple, bool, Optional[int], Optional[str]], None]


class Recorder:
    """Mutable statistics of one run. Cheap to update; `snapshot()` freezes a copy."""

    def __init__(self, mode: str, dump: Optional[DumpSink] = None) -> None:
        self.mode = mode
        self.dump = dump
        self.received = 0
        self.bytes = 0
        self.truncated = 0
        self._last_t = 0.0
        self._last_received = 0
        self._last_bytes = 0

    def record(
        self,
        data: Any,
        remote: tuple,
        timestamp_ns: Optional[int],
        truncated: bool,
        *,
        local: Optional[str] = None,
    ) -> None:
        """Count one datagram the application consumed (`data` is what it received;
        `local`, its destination address from packet info, matters only to the dump sink:
        receivers pass it when `dump` is set)."""
        self.received += 1
        self.bytes += len(data)
        if truncated:
            self.truncated += 1
        if self.dump is not None:
            self.dump(bytes(data), remote, truncated, timestamp_ns, local)

    def snapshot(
        self,
        elapsed_s: float,
        kernel_drops: int,
        violations: Mapping[str, int],
        mode_stats: Mapping[str, Any],
        advance: bool = True,
    ) -> Snapshot:
        """Freeze the counters; with `advance`, start a new interval at `elapsed_s`."""
        snap = Snapshot(
            mode=self.mode,
            elapsed_s=elapsed_s,
            received=self.received,
            bytes=self.bytes,
            truncated=self.truncated,
            kernel_drops=kernel_drops,
            violations=sum(violations.values()),
            interval_s=elapsed_s - self._last_t,
            interval_received=self.received - self._last_received,
            interval_bytes=self.bytes - self._last_bytes,
            violations_by_rule=_frozen(violations),
            mode_stats=_frozen(mode_stats),
        )
        if advance:
            self._last_t = elapsed_s
            self._last_received = self.received
            self._last_bytes = self.bytes
        return snap
