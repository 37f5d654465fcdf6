"""`wskrecv selftest` through the installed command, and its verdict logic."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import WSKRECV, popen, read_line, run_cli, wait_for
from tests.processes import frozen_with_a_child, gone, has_a_socket
from wskrecv.cli import cli, main
from wskrecv.generator.raw import can_send_raw
from wskrecv.selftest import FAIL, PASS, SKIP, Case, Context, all_cases, run_case
from wskrecv.selftest.analysis import analyse
from wskrecv.selftest.engine import CaseFailed, expect

pytestmark = pytest.mark.network

RAW_CASES = {"fragments-ipv4", "fragments-ipv6", "bad-checksum", "raw-sources"}
EVENT_AVAILABLE = "event" in cli.commands


def parse(stdout: str) -> tuple[list[dict], dict]:
    objs = [json.loads(line) for line in stdout.splitlines()]
    assert [o["type"] for o in objs[:-1]] == ["case"] * (len(objs) - 1)
    assert objs[-1]["type"] == "verdict"
    return objs[:-1], objs[-1]


@pytest.mark.long
def test_selftest_passes_every_case_it_can_run_here() -> None:
    r = run_cli("selftest", "--json", timeout=120)
    cases, verdict = parse(r.stdout)
    failed = [c for c in cases if c["status"] == FAIL]
    assert not failed, failed
    assert r.returncode == 0 and verdict["ok"] is True and verdict["failed"] == 0
    assert len(cases) == len(all_cases()) == verdict["passed"] + verdict["skipped"]
    for c in cases:
        if c["status"] == SKIP:
            assert c["detail"], c
            if c["name"] in RAW_CASES and can_send_raw():
                raise AssertionError(f"raw case skipped although raw sockets work: {c}")
            if c["style"] != "irp" and EVENT_AVAILABLE and "style not available" in c["detail"]:
                raise AssertionError(f"event case skipped although `wskrecv event` exists: {c}")
    if can_send_raw():  # CI runs as root: the crafted cases must really have run
        assert {c["name"] for c in cases if c["status"] == PASS} >= RAW_CASES - {"fragments-ipv6"}
    # Figures come from the real exchange.
    (ipv4,) = [c for c in cases if c["name"] == "ipv4" and c["style"] == "irp"]
    assert ipv4["figures"]["sent"] == ipv4["figures"]["received"] == 1000


def test_plain_output_lists_each_case_and_the_verdict() -> None:
    r = run_cli("selftest", "--only", "ipv4", "--only", "cancel", env={"CI": "true"})
    assert r.returncode == 0 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("wskrecv selftest: ")
    assert any(line.startswith("PASS  ipv4[irp]") and "received 1000" in line for line in lines)
    assert any(line.startswith("PASS  cancel[irp]") and "STATUS_CANCELLED 8" in line for line in lines)
    assert lines[-1].startswith("selftest PASS: ")
    assert "\x1b" not in r.stderr


def test_list_and_only() -> None:
    r = run_cli("selftest", "--list", "--only", "event-pend")
    assert r.returncode == 0
    keys = [line.split()[0] for line in r.stdout.splitlines()]
    assert keys == [c.key for c in all_cases() if c.style == "event-pend"]
    r = run_cli("selftest", "--only", "no-such-case")
    assert r.returncode == 2
    assert r.stderr.strip() == "wskrecv: error: no selftest case matches no-such-case (see --list)"


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="dropping CAP_NET_RAW needs root and setpriv")
def test_without_cap_net_raw_the_raw_cases_skip_with_the_reason() -> None:
    assert WSKRECV
    r = subprocess.run(
        [shutil.which("setpriv") or "setpriv", "--bounding-set", "-net_raw", "--", WSKRECV,
         "selftest", "--json", "--only", "fragments-*", "--only", "bad-checksum",
         "--only", "raw-sources", "--only", "ipv4"],
        capture_output=True, text=True, timeout=120,
    )
    cases, verdict = parse(r.stdout)
    assert r.returncode == 0 and verdict["ok"]
    by_name = {(c["name"], c["style"]): c for c in cases}
    for name in RAW_CASES:
        assert by_name[(name, "irp")]["status"] == SKIP
        assert by_name[(name, "irp")]["detail"] == "needs root or CAP_NET_RAW (raw IP sockets)"
    assert by_name[("ipv4", "irp")]["status"] == PASS


def _failing(ctx: Context, case: Case) -> dict:
    expect(False, "received 0 of 1")
    return {}


def test_a_failing_case_fails_the_verdict_with_exit_5(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    ok = Case("fine", "irp", "passes", lambda ctx, case: {"sent": 1})
    bad = Case("broken", "irp", "fails", _failing)
    monkeypatch.setattr("wskrecv.selftest.all_cases", lambda: [ok, bad])
    with pytest.raises(SystemExit) as exit_info:
        main(["selftest", "--json"])
    assert exit_info.value.code == 5
    cases, verdict = parse(capsys.readouterr().out)
    assert [(c["name"], c["status"], c["detail"]) for c in cases] == [
        ("fine", PASS, "sent 1"), ("broken", FAIL, "received 0 of 1")]
    assert verdict == {**verdict, "ok": False, "passed": 1, "failed": 1, "skipped": 0}


def test_unmet_needs_skip_before_running() -> None:
    ctx = Context({}, timeout=1)  # no commands at all

    def never(ctx: Context, case: Case) -> dict:
        raise CaseFailed("must not run")

    result = run_case(ctx, Case("x", "event-pend", "t", never))
    assert (result.status, result.detail) == (SKIP, "event style not available")


def test_analysis_counts_late_duplicate_corrupt_and_foreign() -> None:
    from wskrecv import payload

    def rec(seq: int, corrupt: bool = False, src: str = "127.0.0.1") -> dict:
        data = payload.build(0, seq, 0, b"body")
        if corrupt:
            data[-1] ^= 1
        return {"src": src, "sport": 1, "length": len(data), "truncated": False, "data": data.hex()}

    records = [rec(0), rec(2), rec(1), rec(2), rec(3, corrupt=True), rec(4)]
    records += [rec(0, src="127.0.0.2"), rec(1, src="127.0.0.2")]  # a stream of its own
    records.append({"src": "127.0.0.1", "sport": 1, "length": 2, "truncated": True, "data": "0102"})
    got = analyse(records)
    assert (got.count, got.late, got.duplicates, got.corrupt, got.foreign) == (9, 1, 1, 1, 1)
    assert list(got.streams) == [("127.0.0.1", 1, 0), ("127.0.0.2", 1, 0)]
    assert got.missing(5) == [2, 3, 4]  # stream 2 stopped at 1; stream 1 has 0..4
    assert got.missing(2) == [] and got.distinct == 7 and not got.in_order
    assert got.sources == {"127.0.0.1:1": 7, "127.0.0.2:1": 2} and got.truncated == 1


def test_ctrl_c_ends_with_an_interrupted_verdict_and_exit_130() -> None:
    assert WSKRECV
    proc = subprocess.Popen([WSKRECV, "selftest", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "true"})
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert json.loads(first)["type"] == "case"  # the first case has finished
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    verdict = json.loads(out.splitlines()[-1])
    assert verdict["type"] == "verdict" and verdict["interrupted"] is True and verdict["ok"] is False
    assert "Traceback" not in err


@contextlib.contextmanager
def _selftest_with_a_receiver_running(
    receiving: bool = True,
) -> Iterator[tuple[subprocess.Popen, int, int]]:
    """`wskrecv selftest --json`, stopped (SIGSTOP) while a case's receiver runs: yields
    (the selftest, the receiver's pid, its start time). `receiving`: the receiver has its
    socket already; otherwise it may be anywhere, usually just forked. The caller signals
    the selftest, which is continued (SIGCONT) on the way out."""
    assert WSKRECV
    with popen([WSKRECV, "selftest", "--json"], stdout=subprocess.PIPE,
               stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "true"}) as proc:
        wanted = has_a_socket if receiving else (lambda pid: True)
        with frozen_with_a_child(proc, wanted) as (receiver, started):
            yield proc, receiver, started


@pytest.mark.parametrize(("signum", "receiving"), [
    (signal.SIGTERM, True), (signal.SIGTERM, False), (signal.SIGHUP, True)])
def test_a_stop_signal_ends_it_with_a_verdict_and_its_receivers_at_once(
    signum: int, receiving: bool,
) -> None:
    with _selftest_with_a_receiver_running(receiving) as (proc, receiver, started):
        proc.send_signal(signum)
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
        # The selftest reaped its receiver before it exited: none is left, no waiting.
        assert gone(receiver, started), f"receiver {receiver} survived the selftest"
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    cases, verdict = parse(out)
    assert cases and cases[-1]["status"] == "INTERRUPTED"
    assert cases[-1]["detail"] == f"interrupted by {name}"
    assert all(c["status"] in (PASS, SKIP) for c in cases[:-1])
    assert verdict == {**verdict, "ok": False, "interrupted": True, "interrupted_by": name,
                       "interrupted_case": f"{cases[-1]['name']}[{cases[-1]['style']}]"}
    assert verdict["not_run"] == len(all_cases()) - len(cases)


def test_a_killed_selftest_takes_its_receivers_with_it() -> None:
    with _selftest_with_a_receiver_running() as (proc, receiver, started):
        # The receiver is stopped too, so it cannot end by itself (a write to the pipe
        # of its dead parent): only the kernel's parent-death signal can end it.
        os.kill(receiver, signal.SIGSTOP)
        try:
            proc.kill()  # SIGKILL: no finally runs in the selftest
            proc.wait(60)
            assert wait_for(lambda: gone(receiver, started), 30), \
                f"receiver {receiver} still runs after its selftest was killed"
        finally:
            if not gone(receiver, started):
                os.kill(receiver, signal.SIGKILL)


def test_the_plain_verdict_says_which_case_a_signal_interrupted() -> None:
    assert WSKRECV
    with popen([WSKRECV, "selftest"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True, env={**os.environ, "CI": "true"}) as proc:
        assert proc.stderr is not None
        assert read_line(proc.stderr, 60).startswith("wskrecv selftest: ")
        assert read_line(proc.stderr, 60).startswith("PASS  ")  # the first case is done
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    last = err.splitlines()[-1]
    assert re.fullmatch(r"selftest INTERRUPTED by SIGTERM( during \S+\[\S+\])?: [1-9]\d* passed, "
                        r"0 failed, \d+ skipped, [1-9]\d* not run in \d+\.\d s", last), last
