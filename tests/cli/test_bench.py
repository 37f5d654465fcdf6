"""`wskrecv bench` (no assertion on speed anywhere), in this process (tests/harness.py), but
for a stop signal."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WSKRECV, popen
from tests.harness import wskrecv
from tests.processes import cmdline, frozen_with_a_child, gone
from wskrecv import core as cores
from wskrecv.bench.native import find_compiler

LABELS = ["python recvfrom_into loop", "irp --outstanding 1", "irp --outstanding 64"]
HAVE_CC = find_compiler() is not None


def bench_json(*args: str, env: dict[str, str] | None = None) -> dict:
    r = wskrecv("bench", "--json", "-q", *args, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    return json.loads(line)


def test_smoke_count_20000_one_round() -> None:
    r = wskrecv("bench", "--count", "20000", "--rounds", "1", timeout=120)
    assert r.returncode == 0, r.stderr
    for label in LABELS + (["C recvfrom loop"] if HAVE_CC else []):
        assert label in r.stdout
        assert f"round 1/1  {label}" in r.stderr  # progress, one line per measurement
    assert "vs python" in r.stdout and "fill drops 0, not queued 0" in r.stdout
    assert "\x1b" not in r.stdout + r.stderr


def test_json_document_structure() -> None:
    doc = bench_json("--count", "2000", "--rounds", "2")
    # With the native core, the pure-Python one is measured beside it (NAME-py).
    core = cores.current()
    both = core.name == cores.NATIVE
    assert (doc["type"], doc["kind"], doc["schema"]) == ("bench", "drain", 1)
    assert doc["params"]["count"] == doc["params"]["count_requested"] == 2000
    assert doc["params"]["size"] == 64 and doc["params"]["rounds"] == 2
    assert doc["fill"]["drops"] == 0 and doc["fill"]["lost"] == 0 and doc["fill"]["truesize"] > 64
    names = [m["name"] for m in doc["modes"]]
    assert names == (["c"] if HAVE_CC else []) + ["python"] + [
        n for m in ("irp-1", "irp-64", "event", "event-pend") for n in ([m, m + "-py"] if both else [m])
    ]
    assert doc["core"] == core.name
    for m in doc["modes"]:
        r = m["rate"]
        assert len(m["rates"]) == len(m["seconds"]) == 2
        assert 0 < r["min"] <= r["median"] <= r["max"]
        assert m["violations"] == 0 and m["kind"] in ("baseline", "wskrecv")
        assert m["vs_python"] > 0 and (m["vs_c"] > 0 if HAVE_CC else m["vs_c"] is None)
    assert {m["name"]: m["vs_python"] for m in doc["modes"]}["python"] == 1.0
    assert set(doc["machine"]) >= {"cpus", "python", "kernel", "compiler", "root"}


def test_save_then_compare(tmp_path: Path) -> None:
    saved = tmp_path / "before.json"
    modes = ["--mode", "python", "--mode", "irp-1", "--count", "2000", "--rounds", "1"]
    first = bench_json(*modes, "--save", str(saved))
    assert json.loads(saved.read_text()) == first
    second = bench_json(*modes, "--compare", str(saved))
    rows = {r["name"]: r for r in second["comparison"]["rows"]}
    assert {"python", "irp-1"} <= set(rows) <= {"python", "irp-1", "irp-1-py"}
    assert rows["irp-1"]["before"] == first["modes"][1]["rate"]["median"]
    assert rows["irp-1"]["after"] == second["modes"][1]["rate"]["median"]
    text = wskrecv("bench", *modes, "--compare", str(saved), "-q", timeout=120)
    assert text.returncode == 0, text.stderr
    assert "compared with the saved run" in text.stdout and "irp --outstanding 1" in text.stdout


def test_live_run_receives_everything_a_queue_can_hold() -> None:
    doc = bench_json("--live", "--count", "2000", "--rounds", "1")
    assert doc["kind"] == "live" and doc["sender"]["rate"]["median"] > 0
    for m in doc["modes"]:
        # 2000 small datagrams fit the 64 MiB queue: every receiver gets them all, and a
        # receiver is only ended once the sender is done and the queue is empty.
        assert (m["sent"], m["received"], m["lost"], m["kernel_drops"]) == (2000, 2000, 0, 0)


def test_without_a_compiler_the_c_baseline_is_skipped_with_a_note() -> None:
    env = {"PATH": os.path.dirname(WSKRECV or sys.executable), "CC": ""}
    doc = bench_json("--count", "1000", "--rounds", "1", env=env)
    assert "c" not in [m["name"] for m in doc["modes"]]
    assert any("no C compiler" in n for n in doc["notes"])
    assert doc["params"]["fill_method"] == "Python send loop"
    assert all(m["vs_c"] is None for m in doc["modes"])
    live = bench_json("--live", "--count", "1000", "--rounds", "1", "-m", "python", env=env)
    assert live["params"]["sender"] == "Python send loop"
    assert live["modes"][0]["received"] == 1000
    only_c = wskrecv("bench", "-m", "c", env=env)
    assert only_c.returncode == 1 and only_c.stdout == ""
    assert only_c.stderr.startswith("wskrecv: error: nothing to measure: no C compiler")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--size", "0"], "--size"),
        (["--size", "65508"], "--size"),
        (["--rounds", "0"], "--rounds"),
        (["--mode", "nope"], "--mode"),
        (["--rcvbuf", "1000000"], "--rcvbuf applies to --live only"),
        (["--compare", "/nonexistent/before.json"], "cannot read /nonexistent/before.json"),
    ],
)
def test_bad_input_gets_one_line_and_exit_two(args: list[str], needle: str) -> None:
    r = wskrecv("bench", *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert r.stdout == ""  # refused before measuring anything


def test_compare_with_a_file_that_is_not_a_result(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"type": "summary"}\n')
    r = wskrecv("bench", "--compare", str(bad))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == f"wskrecv: error: {bad} is not a wskrecv bench result (saved with --save)"


def test_an_unwritable_save_path_fails_before_measuring(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "r.json"
    r = wskrecv("bench", "-m", "python", "--count", "500", "--rounds", "1", "-q",
                "--save", str(target))
    assert r.returncode == 1
    assert r.stdout == ""  # nothing measured yet: no minutes of work thrown away
    assert r.stderr.strip() == f"wskrecv: error: cannot save results to {target}: No such file or directory"


def test_a_save_that_fails_late_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from wskrecv.bench import results
    from wskrecv.errors import OsFailure

    target = tmp_path / "r.json"
    target.write_text("old results\n")

    def broken_dump(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results.json, "dump", broken_dump)
    with pytest.raises(OsFailure, match="No space left on device"):
        results.save(str(target), {"type": "bench"})
    assert target.read_text() == "old results\n" and os.listdir(tmp_path) == ["r.json"]


def test_help_lists_the_options() -> None:
    r = wskrecv("bench", "--help")
    assert r.returncode == 0
    for opt in ("--size", "--count", "--rounds", "--mode", "--live", "--rcvbuf", "--json",
                "--save", "--compare", "--quiet"):
        assert opt in r.stdout
    assert shutil.which("wskrecv")


@pytest.mark.parametrize(("signum", "status"),
                         [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_stop_signal_ends_it_with_nothing_reported_and_no_helper_left(
    signum: int, status: int,
) -> None:
    """Caught while a helper process runs (the queue filler, the C receiver): SIGTERM and
    SIGHUP stop the benchmark as Ctrl-C does, exit 128 + the signal's number, report
    nothing, and the helper goes with it."""
    assert WSKRECV
    with popen([WSKRECV, "bench", "--count", "200000", "--rounds", "3"],
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        with frozen_with_a_child(proc) as (helper, started):
            proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        assert gone(helper, started), f"helper {helper} outlived the benchmark: {cmdline(helper)!r}"
    assert proc.returncode == status, err
    assert out == "" and "Traceback" not in err


def test_a_pure_python_row_is_chosen_by_its_name() -> None:
    """The README names the pure-Python core's rows MODE-py: `-m irp-64-py` was refused.
    It measures that row alone, labelled [pure-Python] in the table; `-m irp-64` keeps
    measuring the mode on each core."""
    doc = bench_json("--count", "2000", "--rounds", "1", "-m", "python", "-m", "irp-64-py")
    pure_only = cores.current().name == cores.PURE
    assert [m["name"] for m in doc["modes"]] == ["python", "irp-64" if pure_only else "irp-64-py"]
    r = wskrecv("bench", "--count", "2000", "--rounds", "1", "-m", "irp-64-py", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "irp --outstanding 64 [pure-Python]" in r.stdout or pure_only
