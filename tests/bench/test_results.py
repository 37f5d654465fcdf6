"""The benchmark's JSON document, comparison and text report, from made-up samples."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from wskrecv import core as cores
from wskrecv.bench import results
from wskrecv.bench.native import Native
from wskrecv.bench.queue import FillReport
from wskrecv.bench.report import render
from wskrecv.bench.run import DrainRun, LiveRun, Samples
from wskrecv.bench.targets import CLoop, PythonLoop, all_targets, mode_target
from wskrecv.config import BENCH_MODES
from wskrecv.errors import OsFailure, UsageError


def drain_run(rates: dict[str, list[float]]) -> DrainRun:
    targets = {"c": CLoop(Native(None, None)), "python": PythonLoop(),
               "irp-1": mode_target("irp-1", cores.pure())}
    samples = []
    for name, rs in rates.items():
        s = Samples(targets[name])
        s.rounds = [{"rate": r, "seconds": 1000 / r, "queued": 1000} for r in rs]
        samples.append(s)
    fills = [FillReport(1000, 1000, 1000, 0, 0.01)] * sum(len(v) for v in rates.values())
    return DrainRun(1000, 1000, 832, 1 << 20, fills, samples, [])


def doc_of(rates: dict[str, list[float]]) -> dict:
    return results.drain_document(drain_run(rates), 64, 3, {"fill_method": "C sendmmsg"}, [])


def test_medians_spread_and_ratios_to_both_baselines() -> None:
    doc = doc_of({"c": [800, 1000, 900], "python": [400, 300, 500], "irp-1": [200, 100, 150]})
    modes = {m["name"]: m for m in doc["modes"]}
    assert modes["irp-1"]["rate"] == {"median": 150, "min": 100, "max": 200}
    assert modes["irp-1"]["vs_python"] == 0.375 and modes["irp-1"]["vs_c"] == round(150 / 900, 4)
    assert modes["python"]["vs_python"] == 1.0 and modes["c"]["vs_c"] == 1.0
    assert doc["type"] == "bench" and doc["kind"] == "drain" and doc["schema"] == results.SCHEMA
    assert doc["params"]["count"] == 1000 and doc["fill"]["drops"] == 0
    json.dumps(doc)  # plain JSON all the way down


def test_without_a_baseline_its_ratio_is_none_and_shown_as_a_dash() -> None:
    doc = doc_of({"python": [400], "irp-1": [100]})
    assert all(m["vs_c"] is None for m in doc["modes"])
    line = next(x for x in render(doc).splitlines() if x.startswith("irp --outstanding 1"))
    assert line.split()[-2:] == ["0.25x", "-"]


def test_compare_matches_modes_by_name_and_gives_the_change() -> None:
    old = doc_of({"python": [400], "irp-1": [100]})
    new = doc_of({"python": [400], "irp-1": [150], "c": [900]})
    cmp = results.compare(old, new)
    (row,) = [r for r in cmp["rows"] if r["name"] == "irp-1"]
    assert (row["before"], row["after"], row["change"]) == (100, 150, 0.5)
    assert (row["vs_python_before"], row["vs_python_after"]) == (0.25, 0.375)
    assert "c" not in {r["name"] for r in cmp["rows"]} and cmp["notes"] == []
    text = render(new, cmp)
    assert "compared with the saved run" in text and "+50.0%" in text


def test_compare_notes_runs_of_different_shape() -> None:
    old = doc_of({"python": [400]})
    old["params"]["size"] = 1400
    live = results.live_document(
        LiveRun(10, 1 << 20, [], [1000.0], []), 64, 1, {"sender": "C sendmmsg"}, []
    )
    notes = results.compare(old, live)["notes"]
    assert "comparing a drain run with a live run" in notes
    assert "size differs: 1400 then, 64 now" in notes


def test_a_live_document_totals_every_round() -> None:
    s = Samples(mode_target("irp-1", cores.pure()))
    s.rounds = [
        {"sent": 100, "received": 90, "lost": 10, "kernel_drops": 10, "seconds": 1.0, "rate": 90.0},
        {"sent": 100, "received": 100, "lost": 0, "kernel_drops": 0, "seconds": 1.0, "rate": 100.0},
    ]
    doc = results.live_document(LiveRun(100, 1 << 20, [s], [500.0, 700.0], []), 64, 2,
                                {"sender": "C sendmmsg"}, [])
    (m,) = doc["modes"]
    assert (m["sent"], m["received"], m["lost"], m["kernel_drops"]) == (200, 190, 10, 10)
    assert m["rate"]["median"] == 95.0 and doc["sender"]["rate"]["median"] == 600.0
    assert "irp --outstanding 1" in render(doc)


def test_save_then_load_gives_the_same_document(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = doc_of({"python": [400], "irp-1": [100]})
    path = tmp_path / "r.json"
    results.save(str(path), doc)
    assert results.load(str(path)) == doc


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read"),
        ("{nope", "is not JSON"),
        ('{"type": "summary"}', "is not a wskrecv bench result"),
        ('{"type": "bench", "schema": 99, "modes": []}', "bench schema 99"),
    ],
)
def test_load_refuses_what_is_not_a_saved_result(tmp_path, content, needle) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=needle):
        results.load(str(path))


def test_every_mode_the_cli_offers_builds_the_target_of_that_name() -> None:
    assert [t.name for t in all_targets(Native(None, None), [cores.pure()])] == list(BENCH_MODES)


def test_two_cores_measure_every_wskrecv_mode_side_by_side() -> None:
    one, two = cores.pure(), cores.pure()
    targets = all_targets(Native(None, None), [one, two])
    wskrecv_modes = [m for m in BENCH_MODES if m not in ("c", "python")]
    assert [t.name for t in targets] == ["c", "python"] + [
        n for m in wskrecv_modes for n in (m, m + "-py")]
    assert [t.base for t in targets][2:] == [m for m in wskrecv_modes for _ in (1, 2)]
    assert targets[2].label == "irp --outstanding 1 [pure-Python]"


def test_save_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """--save writes regular files only: a device, a FIFO or a directory stays as it was."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, problem in ((os.devnull, "not a regular file (a character device)"),
                          (str(fifo), "not a regular file (a FIFO)"),
                          (str(tmp_path), "Is a directory")):
        with pytest.raises(OsFailure, match=re.escape(f"cannot save results to {path}: {problem}")):
            results.check_writable(path)
        with pytest.raises(OsFailure, match=re.escape(problem)):
            results.save(path, {"type": "bench"})
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_save_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    results.save(str(link), {"type": "bench"})
    assert link.is_symlink() and json.loads(target.read_text()) == {"type": "bench"}


def test_compare_reads_with_a_size_bound() -> None:
    """--compare /dev/zero: refused after MAX_DOCUMENT bytes, not read until memory ends."""
    with pytest.raises(UsageError, match="is larger than 16 MiB"):
        results.load("/dev/zero")
