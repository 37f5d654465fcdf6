"""Thresholds for scripts: a run whose statistics end above one exits 4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from wskrecv.stats.snapshot import Snapshot


def _pct(value: float) -> str:
    return f"{value:g}%"


@dataclass(frozen=True)
class Thresholds:
    """--max-loss and --max-reorder, in percent; None: not checked."""

    max_loss: Optional[float] = None
    max_reorder: Optional[float] = None

    def __bool__(self) -> bool:
        return self.max_loss is not None or self.max_reorder is not None

    def check(self, snap: Snapshot) -> Optional[str]:
        """A one-line reason when `snap` is above a threshold, else None."""
        reasons = []
        if self.max_loss is not None and snap.loss_at_exit_pct > self.max_loss:
            missing = snap.lost + snap.unseen_at_exit
            unseen = (f", {snap.unseen_at_exit} of them unread at exit or dropped after the "
                      "last read" if snap.unseen_at_exit else "")
            reasons.append(
                f"loss {snap.loss_at_exit_pct:.3f}% ({missing} of "
                f"{snap.expected_at_exit}{unseen}) is above --max-loss {_pct(self.max_loss)}"
            )
        if self.max_reorder is not None and snap.reorder_pct > self.max_reorder:
            reasons.append(
                f"reordering {snap.reorder_pct:.3f}% ({snap.reordered} of {snap.sequenced}) "
                f"is above --max-reorder {_pct(self.max_reorder)}"
            )
        return "; ".join(reasons) or None
