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
        if self.max_loss is not None and snap.loss_pct > self.max_loss:
            reasons.append(
                f"loss {snap.loss_pct:.3f}% ({snap.lost} of {snap.expected}) is above "
                f"--max-loss {_pct(self.max_loss)}"
            )
        if self.max_reorder is not None and snap.reorder_pct > self.max_reorder:
            reasons.append(
                f"reordering {snap.reorder_pct:.3f}% ({snap.reordered} of {snap.sequenced}) "
                f"is above --max-reorder {_pct(self.max_reorder)}"
            )
        return "; ".join(reasons) or None
