"""The dashboard's layout and the display process's message loop, on an in-memory
console (no terminal, no network)."""

from __future__ import annotations

import io
import os
import re

import pytest
from rich.console import Console

from wskrecv import payload
from wskrecv.output.dashboard import View, render
from wskrecv.output.panels import chart, sparkline
from wskrecv.output.screen import Screen, encode, serve
from wskrecv.stats import Recorder
from wskrecv.stats.modes import EventStatistics, IrpStatistics, ModeStatistics
from wskrecv.stats.snapshot import Snapshot
from wskrecv.stats.streams import TOP_STREAMS

T0 = 1_700_000_000_000_000_000
INFO = {"address": "127.0.0.1", "port": 5001, "detail": "IRP style, 4 receives outstanding",
        "rcvbuf": 1 << 20}
IRP_STATS = IrpStatistics(outstanding=4, completions=7, cancellations=0, failures=0)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def snapshot(mode_stats: ModeStatistics = IRP_STATS) -> Snapshot:
    rec = Recorder("irp")
    seqs = [0, 1, 3, 2, 2, 6, 7]  # 2 lost, 1 reordered, 1 duplicate
    for i, s in enumerate(seqs):
        d = payload.build(1, s, T0 + i * 1000, b"x" * (28 + 100 * (i % 3)))
        rec.record(d, ("127.0.0.1", 40000), T0 + i * 1000 + 5000, False, T0 + i * 1000 + 9000)
    for port in (40001, 40002):  # two more senders, without headers
        rec.record(b"plain", ("127.0.0.1", port), None, False)
    return rec.snapshot(2.5, 0, {}, mode_stats)


def screen_text(view: View, width: int, height: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, height=height, force_terminal=True).print(
        render(view, width, height))
    return ANSI.sub("", out.getvalue()).splitlines()


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30), (160, 48), (200, 60)])
def test_fits_the_terminal_and_shows_the_key_figures(width: int, height: int) -> None:
    view = View(snapshot(), INFO, 1234.0, 5.6e6, (10.0, 20.0, 30.0))
    lines = screen_text(view, width, height)
    assert len(lines) <= height - 1  # a line stays free for the cursor
    assert all(len(line) <= width for line in lines)
    text = "\n".join(lines)
    for needle in ("127.0.0.1:5001", "1.23 k", "5.60 Mbit/s", "lost", "25.0%", "reordered",
                   "duplicates", "corrupt", "one-way", "app", "jitter", "kernel (socket)",
                   "127.0.0.1:40000", "IRP style", "outstanding 4", "completed 7", "0.005", "0.004"):
        assert needle in text, (needle, width, height)
    assert re.search(r"lost\s+2\b", text) and re.search(r"duplicates\s+1\b", text)


def test_wide_and_tall_terminals_get_the_rate_chart() -> None:
    view = View(snapshot(), INFO, 1.0, 1.0, tuple(float(i) for i in range(50)))
    assert "Datagrams/s per interval" in "\n".join(screen_text(view, 160, 48))
    assert "Datagrams/s per interval" not in "\n".join(screen_text(view, 80, 24))


def test_event_style_panel_shows_the_pool_and_its_high_water_mark() -> None:
    stats = EventStatistics(callbacks=12, mean_list_length=3.5, pended=2, released=40,
                            released_in_callback=0, rejected=0, pool_in_use=6,
                            pool_high_water=12, leaked=0, null_indications=0)
    snap = snapshot(stats)
    snap = Snapshot(**{**snap.__reduce__()[1][0], "mode": "event"})
    lines = screen_text(View(snap, {**INFO, "pool": 16}), 80, 24)
    assert len(lines) <= 23
    text = "\n".join(lines)
    for needle in ("Event style", "callbacks 12", "mean list length 3.50", "pended 2",
                   "6/16", "high 12", "released 40", "rejected 0", "leaked 0"):
        assert needle in text, needle


def test_sparkline_and_chart_scale_to_the_largest_value() -> None:
    assert sparkline([0, 50, 100], 10) == "▁▅█"
    assert sparkline([1, 2, 3, 4], 2) == "▆█"  # the newest values that fit
    rows = chart([0.0, 100.0], width=15, rows=2).plain.splitlines()
    assert rows[0].endswith(" █") and rows[1].endswith(" █")


def test_display_process_loop_draws_until_final(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    screen = Screen(out, Console(file=out, width=80, height=24, force_terminal=True))
    r, w = os.pipe()
    snap = snapshot()
    os.write(w, encode(("start", INFO)) + encode(("frame", snap)) + encode(("interval", snap)))
    os.write(w, encode(("final", snap, "count reached")))
    os.close(w)
    serve(r, screen)
    os.close(r)
    text = ANSI.sub("", out.getvalue())
    assert "done: count reached" in text and not screen.live.is_started


def test_display_process_gives_up_when_the_receiver_goes_away() -> None:
    out = io.StringIO()
    screen = Screen(out, Console(file=out, width=80, height=24, force_terminal=True))
    r, w = os.pipe()
    os.write(w, encode(("start", INFO)) + encode(("frame", snapshot()))[:10])  # cut short
    os.close(w)
    serve(r, screen)
    os.close(r)
    assert not screen.live.is_started


@pytest.mark.parametrize("n", [2, 16])
def test_workers_get_a_line_each_and_still_fit(n: int) -> None:
    from dataclasses import replace

    from wskrecv.stats.snapshot import WorkerRow

    rows = tuple(WorkerRow(i, 1000 + i, 10 * i, 1500.0 * i, i % 2, 40.0, alive=i != 1)
                 for i in range(n))
    view = View(replace(snapshot(), workers=rows), INFO)
    for width, height in ((80, 24), (100, 40)):
        lines = screen_text(view, width, height)
        assert len(lines) <= height - 1 and all(len(line) <= width for line in lines)
    small = "\n".join(screen_text(view, 80, 24))
    assert f"{n} workers 0 1.50 k" in small and "1 DEAD" in small  # summed up in one item
    tall = "\n".join(screen_text(view, 100, 40))
    assert re.search(r"worker 0 .* received 0 .* drops 0 .* cpu 40%", tall)
    assert re.search(r"worker 1 .* DEAD", tall)
    if n > 8:
        assert "+9 more workers" in tall and "worker 7 " not in tall


def test_an_inherited_sockets_drops_before_the_run_are_shown_apart() -> None:
    """The Drops panel counts this run's kernel drops; an inherited socket's earlier ones
    have their own row (in place of "unread at exit": such a socket is never drained)."""
    from dataclasses import replace

    view = View(replace(snapshot(), kernel_drops_before_run=991), INFO, 1.0, 1.0, ())
    text = "\n".join(screen_text(view, 80, 24))
    assert re.search(r"kernel \(socket\)\s+0 ", text)
    assert re.search(r"before this run\s+991 ", text) and "unread at exit" not in text
    own = "\n".join(screen_text(View(snapshot(), INFO, 1.0, 1.0, ()), 80, 24))
    assert "before this run" not in own and "unread at exit" in own


def streams_snapshot(n: int) -> Snapshot:
    """`n` streams from three senders; stream k loses k sequences of 20."""
    rec = Recorder("event")
    for k in range(n):
        remote = ("127.0.0.1", 40000 + k % 3)
        for i, s in enumerate(q for q in range(20) if q == 0 or q > k):
            rec.record(payload.build(k, s, T0 + i, b"x"), remote, T0 + i + 50, False, T0 + i + 90)
    return rec.snapshot(2.5, 0, {}, None, streams_limit=TOP_STREAMS)


@pytest.mark.parametrize(("width", "height"), [(130, 45), (80, 24), (70, 20), (60, 15)])
def test_several_streams_get_a_streams_panel_worst_first(width: int, height: int) -> None:
    view = View(streams_snapshot(14), INFO, 1.0, 8.0, (1.0,))
    lines = screen_text(view, width, height)
    text = "\n".join(lines)
    assert len(lines) <= height - 1 and all(len(line) <= width for line in lines)
    if width < 80 or height < 24:
        return  # below 80x24, panels that rank higher may leave it no room
    assert "Streams" in text and "+" in text and " more" in text
    # The worst stream (13 lost of 20) is listed before the next (12).
    assert text.index("#13") < text.index("#12")
    assert "13 65.0%" in " ".join(text.split()) or "13 65%" in " ".join(text.split())


def test_one_stream_gets_no_streams_panel() -> None:
    lines = screen_text(View(streams_snapshot(1), INFO, 1.0, 8.0, (1.0,)), 130, 45)
    assert not any("Streams" in line for line in lines)
