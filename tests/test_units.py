"""wskrecv.units: one parser for every number the user gives (units, finiteness, bounds)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wskrecv import units
from wskrecv.units import Limit, NumberError, parse_env

SIZE = Limit(units.SIZE, 1, units.MAX_RCVBUF)
SECONDS = Limit(units.DURATION, 0, units.MAX_RUN_S, low_open=True)
HOLD_MS = Limit(units.DURATION, 0, units.MAX_HOLD_MS, unit="ms")
RATE = Limit(units.RATE, 0, units.MAX_RATE)
INTERVAL = Limit(units.DURATION, 0.01, 3600, zero=True)


@pytest.mark.parametrize(
    ("limit", "text", "value"),
    [
        (SIZE, "1500", 1500), (SIZE, "64K", 64_000), (SIZE, "64k", 64_000),
        (SIZE, "8MiB", 8 << 20), (SIZE, "1GiB", 1 << 30), (SIZE, "2M", 2_000_000),
        (SIZE, "1.5KiB", 1536), (SIZE, "100B", 100),
        (SECONDS, "2", 2.0), (SECONDS, "500ms", 0.5), (SECONDS, "5m", 300.0),
        (SECONDS, "1h", 3600.0), (SECONDS, "1.5s", 1.5), (SECONDS, "2e1", 20.0),
        (HOLD_MS, "20", 20.0), (HOLD_MS, "2s", 2000.0), (HOLD_MS, "1m", 60_000.0),
        (RATE, "50k", 50_000.0), (RATE, "1M", 1e6), (RATE, "0", 0.0),
        (INTERVAL, "0", 0.0), (INTERVAL, "0.5", 0.5),
    ],
)
def test_units_are_read_as_network_tools_write_them(limit: Limit, text: str, value: float) -> None:
    got = limit.parse(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", " +inf "])
def test_non_finite_values_are_refused(text: str) -> None:
    for limit in (SIZE, SECONDS, HOLD_MS, RATE, INTERVAL):
        with pytest.raises(NumberError, match="not a finite number"):
            limit.parse(text)


@pytest.mark.parametrize(
    ("limit", "text", "says"),
    [
        (HOLD_MS, "1e13", "at most 3,600,000 ms"),
        (SIZE, "3000000000", "at most 1 GiB (1,073,741,824 bytes)"),
        (SECONDS, "1e400", "at most 2,592,000 s"),  # past a float: still just too large
        (SECONDS, "1e4000", "is not a duration"),  # the exponent is bounded: no huge integer
        (SECONDS, "0", "more than 0 s"),
        (INTERVAL, "0.001", "at least 0.01 s (or 0)"),
        (RATE, "-1", "at least 0"),
        (SIZE, "1.5", "not a whole number"),
        (SIZE, "12X", "unknown unit 'X'"),
        (SIZE, "0x10", "is not a size"),
        (SECONDS, "5 M", "unknown unit 'M'"),  # minutes are m; M would be mega
        (SIZE, "", "is not a size"),
    ],
)
def test_bad_values_are_one_line_naming_the_bound(limit: Limit, text: str, says: str) -> None:
    with pytest.raises(NumberError) as info:
        limit.parse(text)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_environment_values_name_their_variable() -> None:
    fds = Limit(units.INTEGER, 0, units.MAX_FD - 3)
    with pytest.raises(NumberError, match=r"LISTEN_FDS='2000000000' is too large: at most 1,048,573"):
        parse_env("LISTEN_FDS", "2000000000", fds)
    assert parse_env("LISTEN_FDS", "1", fds) == 1


@given(st.integers(min_value=1, max_value=units.MAX_RCVBUF))
def test_any_integer_in_range_round_trips(n: int) -> None:
    assert SIZE.parse(str(n)) == n


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_is_either_accepted_finite_and_in_range_or_refused(x: float) -> None:
    try:
        got = SECONDS.parse(repr(x))
    except NumberError:
        return
    assert 0 < got <= units.MAX_RUN_S


def test_a_bound_written_as_a_decimal_is_exact() -> None:
    assert INTERVAL.parse("0.01") == 0.01  # 0.01 as a float is a hair above 1/100
