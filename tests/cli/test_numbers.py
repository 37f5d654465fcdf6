"""Numbers on the command line and in the environment: units, non-finite values,
overflows and unbounded requests (exit 2, one line naming the bound, never a traceback).
In this process (tests/harness.py), but for --workers."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import Wskrecv
from tests.harness import Result, receive, wskrecv

USAGE = 2


@pytest.mark.parametrize(
    "argv",
    [
        ["event", "--pend", "--hold", "nan"],
        ["event", "--pend", "--hold", "inf"],
        ["listen", "-t", "nan"],
        ["listen", "-t", "inf"],
        ["listen", "-i", "inf"],
        ["listen", "-i", "nan"],
        ["event", "--timeout", "nan"],
        ["listen", "--timeout", "inf"],
        ["listen", "--max-loss", "nan"],
        ["event", "--max-reorder", "nan"],
        ["send", "127.0.0.1", "9", "-r", "nan"],
        ["send", "127.0.0.1", "9", "-r", "inf"],
        ["send", "127.0.0.1", "9", "-t", "inf"],
        ["send", "127.0.0.1", "9", "--bitrate", "nan"],
        ["selftest", "--timeout", "inf"],
    ],
)
def test_non_finite_values_are_usage_errors(argv: list[str]) -> None:
    r = wskrecv(*argv)
    assert r.returncode == USAGE, r.stderr
    assert "not a finite number" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["event", "--pend", "--hold", "1e13"], "at most 3,600,000 ms"),
        (["listen", "-t", "1e13"], "at most 2,592,000 s"),
        (["listen", "--rcvbuf", "3000000000"], "at most 1 GiB"),
        (["event", "--rcvbuf", "99999999999999999999999"], "at most 1 GiB"),
        (["listen", "--fd", "2147483648"], "at most 1,048,575"),
        (["listen", "-n", "100000"], "at most 1,024"),
        (["event", "--pool", "1e12"], "at most 1,048,576"),
        (["send", "127.0.0.1", "9", "-r", "1e300"], "at most 100,000,000"),
        (["send", "127.0.0.1", "9", "--duplicate", "2:1000000000"], "at most 1,000"),
        (["send", "127.0.0.1", "9", "--size", "1e999"], "at most 1 GiB"),
        (["send", "127.0.0.1", "9", "--seed", "-1"], "at least 0"),
        (["bench", "--count", "1e15"], "at most 100,000,000"),
        (["listen", "-p", "70000"], "at most 65,535"),
    ],
)
def test_overflowing_and_unbounded_values_name_the_bound(argv: list[str], says: str) -> None:
    r = wskrecv(*argv)
    assert r.returncode == USAGE, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr


def test_listen_fds_from_the_environment_is_bounded() -> None:
    """LISTEN_PID must name wskrecv's own process: this one."""
    r = wskrecv("listen", "-t", "1",
                env={"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2000000000"})
    assert r.returncode == USAGE, r.stderr
    assert "LISTEN_FDS='2000000000' is too large: at most 1,048,573" in r.stderr
    assert "MemoryError" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.network
def test_units_on_the_command_line() -> None:
    r = receive("listen", "--rcvbuf", "1MiB", "-c", "1", "--timeout", "1m", send=[b"x"])
    assert r.start["rcvbuf_requested"] == 1 << 20
    assert r.status == 0 and r.summary["received"] == 1


@pytest.mark.network
def test_interval_zero_turns_interval_reports_off() -> None:
    r = receive("listen", "-i", "0", "-c", "3", send=[b"a", b"b", b"c"])
    assert r.status == 0
    assert [o["type"] for o in r.objs] == ["start", "summary"] and r.summary["received"] == 3


@pytest.mark.network
def test_the_default_listen_keeps_several_receives_posted() -> None:
    r = receive("listen", "-c", "1", send=[b"x"])
    assert r.start["outstanding"] == 64
    r = wskrecv("listen", "--help")
    assert "-n 1 is" in " ".join(r.stdout.split())  # the classic shape, one option away


def _send_json(*args: str, expect: int = 0) -> dict:
    r = wskrecv("send", *args, "--json")
    assert r.returncode == expect, r.stderr
    (line,) = r.stdout.splitlines()
    return json.loads(line)


@pytest.mark.network
def test_send_bitrate_paces_payload_bits() -> None:
    def send(r: Result) -> None:
        r.notes.append(_send_json("127.0.0.1", str(r.address[1]), "-c", "10", "-s", "64",  # type: ignore[index]
                                  "--bitrate", "512k"))

    (report,) = receive("listen", "-c", "10", then=send).notes
    assert report["rate_requested"] == 512_000 / (8 * 64)
    r = wskrecv("send", "127.0.0.1", "9", "--rate", "10", "--bitrate", "1M")
    assert r.returncode == USAGE and "give one" in r.stderr


@pytest.mark.network
def test_interval_zero_with_workers() -> None:
    with Wskrecv("listen", "--workers", "2", "-i", "0", "-c", "3") as w:
        w.send([b"a", b"b", b"c"])
        status, objs, err = w.finish()
    assert status == 0, err
    assert [o["type"] for o in objs] == ["summary"] and objs[0]["received"] == 3
    assert objs[0]["unread_at_exit"] == 0  # the workers' ends, merged
