"""`wskrecv event` against datagrams sent from the test: in this process (tests/harness.py),
as the installed command where a signal ends the run."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from typing import Any

import pytest

from tests.cli.test_listen import summary_of
from tests.conftest import Wskrecv, read_line, skip_no_ipv6
from tests.harness import receive, wskrecv
from wskrecv import core as cores
from wskrecv.core import Core

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")


def numbered(n: int, size: int = 16) -> list[bytes]:
    return [i.to_bytes(4, "big") + b"\0" * (size - 4) for i in range(n)]


def wait_for_interval(w: Wskrecv, predicate: Any, timeout: float = 20) -> dict:
    """Read interval lines until one satisfies `predicate` (AssertionError after `timeout`)."""
    end = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < end:
        last = json.loads(read_line(w.proc.stdout, timeout))
        if last["type"] == "interval" and predicate(last):
            return last
    raise AssertionError(f"no interval line matched within {timeout} s; last: {last}")


class Flood:
    """Sends 64-byte datagrams to a receiver from a thread, as fast as it can, until stopped."""

    def __init__(self, w: Wskrecv) -> None:
        self.target = (w.address, w.port)
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            payload = b"\0" * 64
            while not self.stop.is_set():
                for _ in range(256):
                    s.sendto(payload, self.target)
                self.sent += 256

    def __enter__(self) -> Flood:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_success_style_consumes_every_list() -> None:
    r = receive("event", "--count", "300", send=numbered(300))
    start = r.start
    assert start["mode"] == "event" and start["batch"] == 64 and start["pool"] == 4096
    assert start["pend"] is False and start["reader"] in ("recvmmsg", "recvmsg")
    assert r.status == 0, r.stderr
    s = r.summary
    assert s["received"] == 300 and s["bytes"] == 300 * 16 and s["reason"] == "count reached"
    assert s["callbacks"] >= 1 and s["mean_list_length"] == round(300 / s["callbacks"], 2)
    assert s["pended"] == s["released"] == s["rejected"] == s["leaked"] == 0
    assert 1 <= s["pool_high_water"] <= 64 and s["pool_in_use"] == 0
    assert s["violations"] == 0 and s["kernel_drops"] == 0


def test_summary_schema_has_the_documented_fields() -> None:
    r = receive("event", "--count", "1", send=[b"x"])
    s = r.summary
    for key in ("mode", "received", "bytes", "truncated", "kernel_drops", "duration_s",
                "violations", "violations_by_rule", "callbacks", "mean_list_length", "pended",
                "released", "rejected", "pool_in_use", "pool_high_water", "leaked"):
        assert key in s, key
    assert set(r.start) >= {"mode", "address", "port", "rcvbuf", "batch", "pool", "pend",
                            "hold_ms", "reject_every", "reader"}


@pytest.mark.parametrize("hold", [[], ["--hold", "20"]])
def test_pend_releases_every_list_from_the_worker(hold: list[str]) -> None:
    r = receive("event", "--pend", *hold, "--count", "500", send=numbered(500))
    assert r.status == 0, r.stderr
    s = r.summary
    assert s["received"] == s["released"] == 500
    assert s["pended"] == s["callbacks"] >= 1
    assert s["leaked"] == 0 and s["pool_in_use"] == 0 and s["violations"] == 0
    assert r.start["hold_ms"] == (20 if hold else 0)


def test_pend_stops_exactly_at_count() -> None:
    r = receive("event", "--pend", "--hold", "10", "--count", "20", send=numbered(200))
    s = r.summary
    assert r.status == 0 and s["received"] == s["released"] == 20 and s["leaked"] == 0


@pytest.mark.parametrize("pend", [[], ["--pend"]])
def test_rejected_lists_are_indicated_again_first_and_in_order(pend: list[str]) -> None:
    r = receive("event", "--reject-every", "2", *pend, "--count", "400", "--dump",
                send=numbered(400))
    assert r.status == 0, r.stderr
    s, objs = r.summary, r.objs
    assert s["received"] == 400 and s["rejected"] >= 1 and s["violations"] == 0
    assert s["callbacks"] >= 2 * s["rejected"]  # each rejected list came back
    seen = [int(d["data"][:8], 16) for d in objs if d["type"] == "datagram"]
    assert seen == list(range(400))  # nothing lost, nothing twice, nothing overtaken
    if pend:
        assert s["released"] == 400 and s["leaked"] == 0


def test_batch_caps_the_list_length() -> None:
    r = receive("event", "--batch", "4", "--count", "100", send=numbered(100))
    s = r.summary
    assert r.status == 0 and s["received"] == 100
    assert s["callbacks"] >= 25 and s["mean_list_length"] <= 4 and s["pool_high_water"] <= 4


def test_pool_exhaustion_under_a_flood_drops_in_the_kernel_and_leaks_nothing() -> None:
    args = ["--pend", "--hold", "50", "--pool", "256", "--rcvbuf", "4096", "--interval", "0.1"]
    with Wskrecv("event", *args) as w:
        with Flood(w):
            wait_for_interval(w, lambda o: o["kernel_drops"] > 0 and o["pool_in_use"] == 256)
        w.signal(signal.SIGINT)
        status, objs, err = w.finish()
    assert status == 0, err
    s = summary_of(objs)
    assert s["pool_high_water"] == 256  # pinned at its limit, never beyond
    assert s["kernel_drops"] > 0
    assert s["received"] == s["released"] > 0
    assert s["leaked"] == 0 and s["pool_in_use"] == 0 and s["violations"] == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_pend_releases_everything_held(signum: int) -> None:
    with Wskrecv("event", "--pend", "--hold", "600000", "--interval", "0.05") as w:
        w.send(numbered(100))
        held = wait_for_interval(w, lambda o: o["pool_in_use"] == 100)
        # Counted when the callback returned STATUS_PENDING (the host counts what a client
        # accepts, as for `run`), and all of it still held.
        assert held["received"] == 100 and held["released"] == 0 and held["pended"] >= 1
        w.signal(signum)
        status, objs, err = w.finish()
    assert status == 0, err
    s = summary_of(objs)
    assert s["received"] == s["released"] == 100
    assert s["leaked"] == 0 and s["pool_in_use"] == 0 and s["violations"] == 0
    assert s["reason"] == ("interrupted" if signum == signal.SIGINT else "terminated")


def test_the_portable_reader_works_too(monkeypatch: pytest.MonkeyPatch, receive_core: Core) -> None:
    monkeypatch.setenv("WSKRECV_NO_RECVMMSG", "1")
    # The core is chosen as a process chooses it at start-up: with the variable set.
    again = cores.native() if receive_core.name == cores.NATIVE else cores.pure()
    monkeypatch.setattr(cores, "current", lambda: again)
    r = receive("event", "--count", "200", send=numbered(200))
    assert r.start["reader"] == "recvmsg"
    assert r.status == 0 and r.summary["received"] == 200


@skip_no_ipv6
def test_ipv6_with_dump() -> None:
    r = receive("event", "--count", "2", "--dump", bind="::1", send=[b"one", b"two"])
    dumps = r.of_type("datagram")
    assert r.status == 0 and [bytes.fromhex(d["data"]) for d in dumps] == [b"one", b"two"]
    assert dumps[0]["src"] == "::1" and dumps[0]["timestamp_ns"] > 0


def test_human_summary_names_the_event_counters() -> None:
    r = receive("event", "--pend", "--count", "3", json_mode=False, send=[b"a", b"b", b"c"])
    status, err = r.status, r.stderr
    assert status == 0
    assert "wskrecv event summary (count reached)" in err
    assert "released 3" in err and "leaked 0" in err and "pool_high_water" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--hold", "5"], "--hold needs --pend"),
        (["--reject-every", "1"], "--reject-every"),
        (["--batch", "0"], "--batch"),
        (["--batch", "1025"], "--batch"),
        (["--pool", "0"], "--pool"),
        (["--pend", "--hold", "-1"], "--hold"),
        (["--keep-every", "1"], "--keep-every"),
        (["--keep-every", "2", "--pend"], "--keep-every and --pend"),
    ],
)
def test_bad_input_is_a_usage_error_on_one_line(args: list[str], needle: str) -> None:
    r = wskrecv("event", "--bind", "127.0.0.1", "--port", "0", *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--static-callbacks"], {"static_callbacks": True, "dispatch_level": False}),
        (["--dispatch-level"], {"static_callbacks": False, "dispatch_level": True}),
        (["--keep-every", "3", "--hold", "1"], {"keep_every": 3, "hold_ms": 1.0}),
    ],
)
def test_wsk_variants_receive_every_datagram(args: list[str], start: dict) -> None:
    r = receive("event", *args, "--count", "50", send=numbered(50))
    assert {k: r.start[k] for k in start} == start
    s = r.summary
    assert r.status == 0 and s["received"] == 50 and s["violations"] == 0 and s["leaked"] == 0
    if "--keep-every" in args:
        assert s["released"] == 50 and 0 < s["released_in_callback"] < 50
