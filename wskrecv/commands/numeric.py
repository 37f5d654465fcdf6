"""The click parameter type of every numeric option: `wskrecv.units` on the command line.

`number(limit)` gives a type whose errors are click usage errors (exit 2) naming the
option, the value and the bound, and whose `--help` metavar says the unit.
"""

from __future__ import annotations

from typing import Any, Optional

import click

from wskrecv import units
from wskrecv.units import Limit, NumberError


class NumberType(click.ParamType):
    """A finite, bounded number with units (see wskrecv.units)."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self.name = limit.kind.name

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, bool):
            self.fail(f"{value!r} is not a number", param, ctx)
        try:
            return self.limit.parse(value if isinstance(value, str) else repr(value))
        except NumberError as exc:
            self.fail(str(exc), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: Optional[click.Context] = None) -> str:
        return self.limit.metavar

    def __repr__(self) -> str:
        return f"NumberType({self.limit.kind.name})"


def number(
    kind: units.Kind, low: float, high: float, unit: str = "", low_open: bool = False,
    zero: bool = False,
) -> NumberType:
    """The click type for one option."""
    return NumberType(Limit(kind, low, high, unit, low_open, zero))


# The types several commands share.
COUNT = number(units.COUNT, 1, units.MAX_COUNT)
RUN_SECONDS = number(units.DURATION, 0, units.MAX_RUN_S, low_open=True)
INTERVAL = number(units.DURATION, 0.01, units.MAX_INTERVAL_S, zero=True)
PERCENT = number(units.PERCENT, 0, 100)
RCVBUF = number(units.SIZE, 1, units.MAX_RCVBUF)
FD = number(units.INTEGER, 0, units.MAX_FD - 1)
PORT = number(units.INTEGER, 0, 65535)

__all__ = ["COUNT", "FD", "INTERVAL", "PERCENT", "PORT", "RCVBUF", "RUN_SECONDS", "NumberType", "number"]
