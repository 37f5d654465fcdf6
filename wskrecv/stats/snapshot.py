"""Frozen views of a run's statistics. Display and JSON output render these only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class Snapshot:
    """Everything known about a run at one instant.

    `interval_*` fields cover the time since the previous snapshot; `mode_stats` holds
    the receive style's own counters (IRP: outstanding, completions...; event: callbacks...).
    """

    mode: str
    elapsed_s: float
    received: int
    bytes: int
    truncated: int
    kernel_drops: int
    violations: int
    interval_s: float = 0.0
    interval_received: int = 0
    interval_bytes: int = 0
    violations_by_rule: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    mode_stats: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))

    @property
    def interval_datagrams_per_s(self) -> float:
        return self.interval_received / self.interval_s if self.interval_s > 0 else 0.0

    @property
    def interval_bits_per_s(self) -> float:
        return self.interval_bytes * 8 / self.interval_s if self.interval_s > 0 else 0.0

    @property
    def datagrams_per_s(self) -> float:
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def bits_per_s(self) -> float:
        return self.bytes * 8 / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def interval_dict(self) -> dict[str, Any]:
        """The `interval` JSON object (without its "type")."""
        return {
            "mode": self.mode,
            "t": round(self.elapsed_s, 6),
            "interval_s": round(self.interval_s, 6),
            "datagrams": self.interval_received,
            "bytes": self.interval_bytes,
            "datagrams_per_s": round(self.interval_datagrams_per_s, 1),
            "bits_per_s": round(self.interval_bits_per_s, 1),
            "received": self.received,
            "total_bytes": self.bytes,
            "truncated": self.truncated,
            "kernel_drops": self.kernel_drops,
            "violations": self.violations,
            **self.mode_stats,
        }

    def summary_dict(self) -> dict[str, Any]:
        """The `summary` JSON object (without its "type")."""
        return {
            "mode": self.mode,
            "received": self.received,
            "bytes": self.bytes,
            "truncated": self.truncated,
            "kernel_drops": self.kernel_drops,
            "duration_s": round(self.elapsed_s, 6),
            "datagrams_per_s": round(self.datagrams_per_s, 1),
            "bits_per_s": round(self.bits_per_s, 1),
            "violations": self.violations,
            "violations_by_rule": dict(self.violations_by_rule),
            **self.mode_stats,
        }
