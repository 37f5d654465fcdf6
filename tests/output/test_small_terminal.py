"""Below 80x24 the dashboard leaves panels out rather than cut numbers (issue 13)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from wskrecv.output.dashboard import View, render
from wskrecv.output.panels import header
from wskrecv.stats.snapshot import Snapshot

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HOST = {"in_datagrams": 987_654_321, "in_errors": 5, "rcvbuf_errors": 813_206,
        "in_csum_errors": 385, "no_ports": 223_046}


def big() -> Snapshot:
    """Numbers as wide as a long run makes them."""
    return Snapshot(mode="irp", elapsed_s=86_399.9, received=123_456_789, bytes=98_765_432_109,
                    truncated=0, kernel_drops=4_567_890, violations=0, seq_format="auto",
                    lost=1_234_567, reordered=7_654_321, duplicates=55_555, corrupt=0,
                    expected=124_000_000, sequenced=123_456_789, streams_tracked=3, host_udp=HOST,
                    unread_at_exit=9_876_543)


def lines(width: int, height: int, final: bool = True) -> list[str]:
    view = View(big(), {"address": "::", "port": 65535, "detail": "IRP style"},
                1_234_567.0, 9.87e9, (1.0, 2.0), final="duration over" if final else None)
    out = io.StringIO()
    Console(file=out, width=width, height=height, force_terminal=True).print(
        render(view, width, height))
    return ANSI.sub("", out.getvalue()).splitlines()


@pytest.mark.parametrize(("width", "height"), [(60, 15), (79, 24), (80, 23), (40, 12), (70, 30)])
def test_small_terminals_cut_no_number(width: int, height: int) -> None:
    shown = lines(width, height)
    text = "\n".join(shown)
    assert len(shown) <= height - 1 and all(len(line) <= width for line in shown)
    assert "…" not in text and "..." not in text


def test_at_60x15_every_number_shown_is_whole() -> None:
    text = "\n".join(lines(60, 15))
    # The panels that fit show their figures in full.
    assert "123,456,789" in text and "1,234,567" in text and "7,654,321" in text
    assert "[::]:65535" in text and "86,399.9 s" in text


def test_the_drops_panel_puts_the_socket_first_and_the_host_apart() -> None:
    text = "\n".join(lines(80, 24))
    assert "kernel (socket)" in text and "unread at exit" in text
    assert "all sockets on this host" in text
    assert text.index("kernel (socket)") < text.index("unread at exit") < text.index(
        "all sockets on this host")
    assert "9,876,543" in text  # unread at exit, at the end of the run


@pytest.mark.parametrize("width", range(60, 201, 7))
def test_the_header_keeps_name_address_and_format_at_every_width(width: int) -> None:
    """Between about 115 and 149 columns a long start detail collapsed the header to the
    mode and the time; now the detail goes first, and each part shown is whole."""
    detail = ("event style, callback returns STATUS_SUCCESS, lists of up to 64 datagrams, "
              "pool of 4096 buffers, reader recvmmsg")
    view = View(big(), {"address": "127.0.0.1", "port": 5901, "detail": detail})
    out = io.StringIO()
    Console(file=out, width=width, height=24, force_terminal=True).print(header(view, width))
    (line,) = ANSI.sub("", out.getvalue()).splitlines()
    assert "127.0.0.1:5901" in line and line.rstrip().endswith("86,399.9 s")
    assert "wskrecv" in line and "seq auto" in line and "…" not in line
    full = len(" wskrecv  irp 127.0.0.1:5901  " + detail + "  seq auto 86,399.9 s")
    assert (detail in line) == (width >= full)


def test_small_terminals_rank_loss_and_drops_before_sizes_and_sources() -> None:
    *shown, note = lines(70, 20)
    text = "\n".join(shown)
    assert "Drops" in text and "4,567,890" in text and "Top sources" not in text
    assert note.startswith("not shown") and note.rstrip().endswith("Sizes (bytes), Top sources")


def test_the_average_rate_is_shown_during_a_run_and_not_for_a_burst() -> None:
    """During a run the snapshots carry no first/last arrival: the average is over the
    run so far; a finished burst shorter than a measurable span shows none."""
    from dataclasses import replace

    def average(snap: Snapshot) -> str:
        out = io.StringIO()
        Console(file=out, width=130, height=45, force_terminal=True).print(
            render(View(snap, {"address": "::", "port": 1}), 130, 45))
        (row,) = [line for line in ANSI.sub("", out.getvalue()).splitlines() if "average" in line]
        return row.split("average")[1].split("│")[0].strip()

    running = replace(big(), received=1000, elapsed_s=2.0)
    assert average(running) == "500 dg/s"
    t0 = 1_700_000_000_000_000_000
    burst = replace(running, first_ns=t0, last_ns=t0 + 172_000)
    assert average(burst) == "-"


@pytest.mark.parametrize(("chart", "info", "loss", "titles"), [
    ("auto", {}, (0.0, 0.0), ["Datagrams/s"]),
    ("auto", {}, (0.0, 2.5), ["Datagrams/s", "Loss (%)"]),
    ("auto", {"iperf3_port": 5201}, (0.0, 0.0), ["Bits/s"]),
    ("bits", {}, (0.0, 2.5), ["Bits/s"]),
    ("loss", {}, (0.0, 0.0), ["Loss (%)"]),
])
def test_the_chart_shows_what_chart_asks_or_the_runs_own_unit(
        chart: str, info: dict, loss: tuple, titles: list) -> None:
    """The chart showed datagrams/s only: --chart picks bits/s or loss; auto charts the
    run's unit (bits/s for an iperf3 server) and loss beside it once an interval lost."""
    view = View(big(), {"address": "::", "port": 1, "chart": chart, **info}, 1.0, 8.0,
                (10.0, 20.0), None, (80.0, 160.0), loss)
    assert [s.title for s in view.series()] == titles
    out = io.StringIO()
    Console(file=out, width=130, height=45, force_terminal=True).print(render(view, 130, 45))
    text = ANSI.sub("", out.getvalue())
    for title in titles:
        assert f"{title} per interval, newest right" in text
