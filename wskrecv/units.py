"""Numbers the user gives: on the command line and in the environment.

One parser for every numeric option, so that each accepts the same units and refuses the
same mistakes: a value must be a finite decimal number (`nan`, `inf` and `1e999` are
refused, never passed on to loops and timers), a whole number where a count or a size is
asked for, and inside the option's stated range, upper bound included (a hold of 1e13 s is
not a hold; a 3 GB receive buffer does not fit the kernel's int). The error names the bound.

Units, as network tools spell them:

- sizes: `K`, `M`, `G` (1000-based) and `KiB`, `MiB`, `GiB` (1024-based); `B` optional;
- durations: `ms`, `s`, `m` (minutes), `h`; a bare number is the option's own unit;
- rates and counts: `k`, `M`, `G` (1000-based); bit rates (`send --bitrate`) likewise.

Click-free: `commands/numeric.py` wraps these as click parameter types, and the provider
uses them for environment values (LISTEN_FDS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from fractions import Fraction

Number = Union[int, float]

# A plain decimal number: digits, an optional fraction, a short exponent (a longer one
# would make the exact arithmetic below build a huge integer), then an optional unit.
# nan, inf, hex and underscores do not match.
_NUMBER = re.compile(
    r"\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?)\s*(?P<unit>[A-Za-z/]*)\s*\Z"
)
_NON_FINITE = re.compile(r"\s*[+-]?(nan|inf|infinity)\s*\Z", re.IGNORECASE)

_SI = {"k": 10**3, "m": 10**6, "g": 10**9}


class NumberError(ValueError):
    """A value that is not a number of the asked kind, or out of its range. The message is
    one line, without the option's name (the caller adds it)."""


@dataclass(frozen=True)
class Kind:
    """A kind of quantity: its units (suffix -> factor to the base unit) and how a value of
    it is shown in messages."""

    name: str
    factors: Mapping[str, Union[int, str]]  # "1/1000": exact, unlike a float
    integer: bool
    case_sensitive: bool
    examples: str

    @cached_property
    def units(self) -> Mapping[str, Fraction]:
        """Suffix -> exact factor. Built on first use: `fractions` (and `decimal`, which it
        imports) cost start-up, and `--help` parses no number."""
        from fractions import Fraction

        return {k: Fraction(v) for k, v in self.factors.items()}

    def factor(self, unit: str) -> Optional[Fraction]:
        key = unit if self.case_sensitive else unit.lower()
        return self.units.get(key)


SIZE = Kind(
    "size",
    {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
     "kib": 2**10, "mib": 2**20, "gib": 2**30, "ki": 2**10, "mi": 2**20, "gi": 2**30},
    integer=True, case_sensitive=False, examples="e.g. 1500, 64K, 8MiB",
)
COUNT = Kind(
    "count", {"": 1, **_SI}, integer=True, case_sensitive=False,
    examples="e.g. 1000, 100k, 2M",
)
DURATION = Kind(  # seconds; "m" is minutes, so this kind is case-sensitive
    "duration",
    {"ms": "1/1000", "s": 1, "m": 60, "min": 60, "h": 3600},
    integer=False, case_sensitive=True, examples="e.g. 500ms, 2s, 5m, 1h",
)
RATE = Kind(  # per second
    "rate", {"": 1, **_SI}, integer=False, case_sensitive=False,
    examples="e.g. 50000, 50k, 1M",
)
BITRATE = Kind(  # bits per second
    "bit rate",
    {"": 1, **_SI, "bit/s": 1, "kbit/s": 10**3, "mbit/s": 10**6, "gbit/s": 10**9},
    integer=False, case_sensitive=False, examples="e.g. 500k, 10M, 1G",
)
PERCENT = Kind("percentage", {"": 1, "%": 1}, integer=False, case_sensitive=True,
               examples="e.g. 0.1")
INTEGER = Kind("integer", {"": 1}, integer=True, case_sensitive=True,
               examples="e.g. 3")


def _fraction(x: Number) -> Fraction:
    """A bound as the decimal number it is written as (0.01 is 1/100, not the binary float
    nearest to it, which is a little larger)."""
    from fractions import Fraction

    return Fraction(str(x)) if isinstance(x, float) else Fraction(x)


def _show(kind: Kind, value: Fraction, unit: str) -> str:
    """A bound in the option's terms: '60 s', '1 GiB (1073741824 bytes)', '1,048,576'."""
    shown = value / kind.units[unit] if unit in kind.units else value
    text = f"{int(shown):,}" if shown.denominator == 1 else f"{float(shown):g}"
    if kind is SIZE:
        for name, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if value >= size and value % size == 0:
                return f"{value // size} {name} ({int(value):,} bytes)"
        return f"{text} bytes"
    if kind is DURATION:
        return f"{text} {unit or 's'}"
    if kind is PERCENT:
        return f"{text}%"
    return text


@dataclass(frozen=True)
class Limit:
    """What one option accepts: a kind, the unit of a bare number (and of the result), and
    the range. `zero` allows 0 below `low` (`-i 0`: no interval reports; `--rate 0`: flat
    out)."""

    kind: Kind
    low: Number
    high: Number
    unit: str = ""  # the unit of a bare number and of the parsed value ("ms" for --hold)
    low_open: bool = False
    zero: bool = False

    @property
    def metavar(self) -> str:
        return {"size": "BYTES", "count": "N", "duration": "MS" if self.unit == "ms" else "S",
                "rate": "N", "bit rate": "BITS", "percentage": "PCT"}.get(self.kind.name, "N")

    def describe(self) -> str:
        """The range in words, for --help and messages: '0.01 s to 3600 s, or 0'."""
        low = _show(self.kind, _fraction(self.low) * self._scale, self.unit)
        high = _show(self.kind, _fraction(self.high) * self._scale, self.unit)
        text = f"{'more than' if self.low_open else 'from'} {low} to {high}"
        return text + (", or 0" if self.zero else "")

    @property
    def _scale(self) -> Fraction:
        return self.kind.units.get(self.unit) or _fraction(1)

    def parse(self, text: str) -> Number:
        """The value of `text` in this option's unit: an int for integer kinds, else a
        float. NumberError (one line, naming the bound) when it is not acceptable."""
        value = self._exact(str(text))
        scale = self._scale
        in_unit = value / scale
        if self.kind.integer and in_unit.denominator != 1:
            raise NumberError(f"{text!r} is not a whole number")
        if not (self.zero and in_unit == 0):
            low, high = _fraction(self.low), _fraction(self.high)
            if in_unit < low or (self.low_open and in_unit == low):
                more = "more than" if self.low_open else "at least"
                extra = " (or 0)" if self.zero else ""
                raise NumberError(f"{text!r} is too small: {more} "
                                  f"{_show(self.kind, low * scale, self.unit)}{extra}")
            if in_unit > high:
                raise NumberError(f"{text!r} is too large: at most "
                                  f"{_show(self.kind, high * scale, self.unit)}")
        return int(in_unit) if self.kind.integer else float(in_unit)

    def _exact(self, text: str) -> Fraction:
        """`text` as an exact number of the kind's base unit."""
        if _NON_FINITE.match(text):
            raise NumberError(f"{text!r} is not a finite number")
        m = _NUMBER.match(text)
        if m is None:
            article = "an" if self.kind.name[0] in "aeiou" else "a"
            raise NumberError(f"{text!r} is not {article} {self.kind.name} ({self.kind.examples})")
        unit = m.group("unit")
        factor = self.kind.factor(unit) if unit else self._scale
        if factor is None:
            raise NumberError(f"{text!r}: unknown unit {unit!r} ({self.kind.examples})")
        from fractions import Fraction

        return Fraction(m.group("num")) * factor


def parse_env(name: str, text: str, limit: Limit) -> Number:
    """An environment variable's value; the NumberError names the variable."""
    try:
        return limit.parse(text)
    except NumberError as exc:
        raise NumberError(f"{name}={exc}") from None


# Bounds shared by several commands (stated in --help and the man page).
MAX_COUNT = 2**63 - 1  # datagram counts: a signed 64-bit integer, as in the JSON
MAX_RUN_S = 30 * 86400  # --duration, --timeout: 30 days
MAX_INTERVAL_S = 3600  # --interval
MAX_HOLD_MS = 3_600_000  # event --hold: an hour
MAX_GRACE_S = 3600  # run --grace: an hour
MAX_RCVBUF = 2**30  # SO_RCVBUF(FORCE): the kernel keeps at most INT_MAX/2 (and doubles it)
MAX_FD = 2**20  # fs.nr_open's default: no process has a descriptor this high
MAX_OUTSTANDING = 1024  # listen -n: each receive owns a --buffer-size buffer (64 MiB)
MAX_POOL = 1 << 20  # event --pool: retained datagrams held in memory
MAX_RATE = 10**8  # send --rate: datagrams/s (well past what one host sends)
MAX_BITRATE = 10**12  # send --bitrate: 1 Tbit/s

__all__ = [
    "BITRATE", "COUNT", "DURATION", "INTEGER", "Kind", "Limit", "MAX_BITRATE", "MAX_COUNT",
    "MAX_FD", "MAX_HOLD_MS", "MAX_INTERVAL_S", "MAX_OUTSTANDING", "MAX_POOL", "MAX_RATE",
    "MAX_RCVBUF", "MAX_RUN_S", "NumberError", "PERCENT", "RATE", "SIZE", "parse_env",
]
