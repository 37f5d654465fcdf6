"""Thresholds for scripts: a run whose statistics end above one exits 4.

A threshold is named by its field ("max_loss", "max_reorder"), never by a command-line
flag: whoever reports an excess words it with its own names for them (`name`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from wskrecv.stats.snapshot import Snapshot


@dataclass(frozen=True)
class Excess:
    """A statistic the run ended above its threshold: `count` of `of` is `pct` percent,
    above the `limit` percent of the Thresholds field `threshold`."""

    threshold: str  # "max_loss" or "max_reorder"
    statistic: str  # "loss" or "reordering"
    pct: float
    limit: float
    count: int
    of: int
    unseen: int = 0  # of `count`: unread at exit or dropped after the last read
    dropped: int = 0  # of `count`: dropped by the kernel where no sequence gap shows it

    def words(self, name: Callable[[str], str] = str) -> str:
        """One clause, the threshold called `name(threshold)`."""
        parts = []
        if self.unseen:
            parts.append(f"{self.unseen} of them unread at exit or dropped after the last read")
        if self.dropped:
            parts.append(f"{self.dropped} dropped by the kernel (queue full) without a "
                         "sequence gap to show it")
        detail = "".join(", " + p for p in parts)
        return (f"{self.statistic} {self.pct:.3f}% ({self.count} of {self.of}{detail}) "
                f"is above {name(self.threshold)} {self.limit:g}%")


@dataclass(frozen=True)
class Thresholds:
    """The largest loss and reordering a run may end with, in percent; None: not checked."""

    max_loss: Optional[float] = None
    max_reorder: Optional[float] = None

    def __bool__(self) -> bool:
        return self.max_loss is not None or self.max_reorder is not None

    def excesses(self, snap: Snapshot) -> tuple[Excess, ...]:
        """The thresholds `snap` is above (none: the run passes)."""
        found = []
        if self.max_loss is not None and snap.loss_at_exit_pct > self.max_loss:
            found.append(Excess("max_loss", "loss", snap.loss_at_exit_pct, self.max_loss,
                                snap.lost_at_exit, snap.expected_at_exit,
                                snap.unseen_at_exit, snap.drops_unexplained))
        if self.max_reorder is not None and snap.reorder_pct > self.max_reorder:
            found.append(Excess("max_reorder", "reordering", snap.reorder_pct, self.max_reorder,
                                snap.reordered, snap.sequenced))
        return tuple(found)

    def judge(self, name: Callable[[str], str] = str) -> Callable[[Snapshot], Optional[str]]:
        """A run's judge: a snapshot -> the one-line reason it is above a threshold (each
        threshold called `name(field)`), or None."""

        def check(snap: Snapshot) -> Optional[str]:
            return "; ".join(e.words(name) for e in self.excesses(snap)) or None

        return check
