"""Words for people (issue 28): the summary and --help wrapped between words at the
terminal's width, each receive style's own counters, and no rate claimed for a burst."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import termios

import pytest
from click.testing import CliRunner

from wskrecv.cli import cli
from wskrecv.errors import ExitStatus
from wskrecv.output.human import HumanReporter, summary_lines
from wskrecv.stats.modes import ClientStatistics, EventStatistics, IrpStatistics
from wskrecv.stats.snapshot import Snapshot
from wskrecv.words import wrap_words

T0 = 1_700_000_000_000_000_000


def snap(**kw: object) -> Snapshot:
    base: dict = dict(mode="irp", elapsed_s=2.5, received=1610, bytes=279_634, truncated=0,
                      kernel_drops=0, violations=0, seq_format="auto", unread_at_exit=0,
                      drops_after_last_read=0, host_udp={"rcvbuf_errors": 0})
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def words(text: str) -> list[str]:
    return text.split()


# -- the summary at the terminal's width ------------------------------------------------


def on_a_pty(width: int, snapshot: Snapshot) -> list[str]:
    """HumanReporter's summary as a `width`-column pty received it."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as tty:
            HumanReporter(tty).summary(snapshot, ExitStatus.OK, "duration over")
        return os.read(master, 1 << 16).decode().replace("\r\n", "\n").splitlines()
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("width", [60, 70])
def test_a_summary_on_a_narrow_terminal_breaks_lines_between_words_only(width: int) -> None:
    """On a real pty narrower than the summary's lines ("... --max-loss counts them as
    lost", the host line) they are cut between words, the rest under the value column;
    the words read the same as on a pipe."""
    s = snap(mode_stats=IrpStatistics(64, 1610, 1, 0))
    shown = on_a_pty(width, s)
    plain = summary_lines(s, ExitStatus.OK, "duration over")
    assert any(len(line) > width for line in plain)  # something to wrap
    assert all(len(line) <= width for line in shown), shown
    assert words("\n".join(shown)) == words("\n".join(plain))  # no word cut or lost
    unread = next(i for i, line in enumerate(shown) if line.startswith("unread"))
    assert shown[unread + 1].startswith(" " * 13) and shown[unread + 1][13] != " "


def test_the_streams_table_fits_the_terminal_by_columns_not_by_words() -> None:
    """The summary's streams table (90 columns with its latency column) was cut between
    words like prose; on a terminal it leaves out its rightmost columns and says which,
    each row whole; on a pipe it keeps them all."""
    from wskrecv.stats.latency import Percentiles
    from wskrecv.stats.streams import StreamRow

    rows = tuple(StreamRow("127.0.0.1", 56846 + i, 0, 8000, i, 8000 + i, 157, 112, 0, 0, 4690.0,
                           Percentiles(8000, 6000, 9000, 29000, 300000)) for i in range(3))
    s = snap(stream_rows=rows, sequenced=24000, expected=24003, lost=3)
    plain = summary_lines(s, ExitStatus.OK, "x")
    assert any("owd p50/p99 ms" in line and len(line) > 80 for line in plain)
    shown = on_a_pty(80, s)
    assert all(len(line) <= 80 for line in shown), shown
    table = [line for line in shown if line.startswith("  127.0.0.1:")]
    assert len(table) == 3 and all(line.split()[2] == "8000" for line in table)
    assert any(line.startswith("(owd p50/p99 ms: left out at this width") for line in shown)


def test_a_summary_fits_80_columns_on_a_pipe_too() -> None:
    """On a pipe nothing wraps the summary, and a terminal reading the pipe (| cat, | tee)
    cut its long lines mid-word ("broadc" / "ast"): its lines fit 80 columns by design
    (the style's counters flow over two lines, zero broadcast/multicast counts left out)."""
    event = EventStatistics(8546, 7.02, 0, 0, 0, 0, 0, 64, 0, 0)
    for stats in (IrpStatistics(64, 1610, 1, 0), event):
        lines = summary_lines(snap(mode_stats=stats, first_ns=T0, last_ns=T0 + 1_609_000_000,
                                   start_ns=T0), ExitStatus.OK, "duration over")
        assert all(len(line) <= 80 for line in lines), [x for x in lines if len(x) > 80]
        assert not any("broadcast" in line or "multicast" in line for line in lines)


def test_on_a_pipe_each_summary_fact_stays_one_line() -> None:
    out = io.StringIO()
    s = snap(mode_stats=IrpStatistics(64, 1610, 1, 0))
    HumanReporter(out).summary(s, ExitStatus.OK, "duration over")
    assert out.getvalue().splitlines() == summary_lines(s, ExitStatus.OK, "duration over")


@pytest.mark.parametrize("width", [80, 60, 40])
def test_wrap_words_never_cuts_a_word(width: int) -> None:
    line = ("unread       12 datagrams still queued at exit (never read; --max-loss counts "
            "them as lost) multicast event-pend WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS)")
    parts = wrap_words(line, width)
    assert words(" ".join(parts)) == words(line)
    assert all(len(p) <= width or " " not in p.strip() for p in parts)


# -- --help between words ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["listen", "event", "run", "send", "bench", "selftest"])
@pytest.mark.parametrize("columns", [80, 60])
def test_help_wraps_between_words(command: str, columns: int) -> None:
    """Every word of every option's help appears whole ("Ws" / "kControlClient(...",
    "event-" / "pend" were cut at 80 columns)."""
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=columns - 2,
                                env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    shown = result.output
    assert not re.search(r"[A-Za-z]-\n\s+[a-z]", shown)  # no word split at a hyphen
    command_obj = cli.commands[command]  # type: ignore[attr-defined]
    for param in command_obj.params:
        for word in words(getattr(param, "help", None) or ""):
            assert word in shown, (param.name, word)


# -- each style's own counters ----------------------------------------------------------


def client_stats(styles: tuple[str, ...]) -> ClientStatistics:
    return ClientStatistics(
        outstanding=0, completions=0, cancellations=0, failures=0, callbacks=2,
        mean_list_length=2.5, consumed=5, pended=0, released=0, released_in_callback=0,
        rejected=0, held=0, pool_in_use=0, pool_high_water=4, leaked=0, null_indications=0,
        client={"class": "Client", "file": "c.py", "violation_sites": [], "fault": None},
        styles=styles)


def test_an_event_style_clients_summary_has_no_irp_counters() -> None:
    text = "\n".join(summary_lines(snap(mode_stats=client_stats(("event",))), ExitStatus.OK,
                                   "count reached"))
    assert re.search(r"^event style\s+callbacks 2 .*consumed 5", text, re.M)
    assert "outstanding" not in text and "completions" not in text


def test_a_client_using_both_styles_shows_both_and_the_built_ins_name_theirs() -> None:
    both = summary_lines(snap(mode_stats=client_stats(("irp", "event"))), ExitStatus.OK, "x")
    assert any(line.startswith("IRP style    outstanding 0") for line in both)
    assert any(line.startswith("event style  callbacks 2") for line in both)
    irp = summary_lines(snap(mode_stats=IrpStatistics(0, 1610, 1, 0)), ExitStatus.OK, "x")
    assert any(line.startswith("IRP style    outstanding 0  completions 1610  cancellations 1  "
                               "failures 0") for line in irp)
    event = EventStatistics(3, 2.0, 0, 0, 0, 0, 0, 64, 0, 0)
    lines = summary_lines(snap(mode="event", mode_stats=event), ExitStatus.OK, "x")
    assert any(line.startswith("event style  callbacks 3") for line in lines)
    assert not any("outstanding" in line for line in lines)


# -- a burst has no rate ----------------------------------------------------------------


def test_a_burst_below_a_measurable_span_says_so_instead_of_a_rate() -> None:
    """100 datagrams within 172 us: "582 kdg/s over the 0.000 s" was printed."""
    burst = snap(received=100, bytes=6400, first_ns=T0, last_ns=T0 + 172_000, start_ns=T0 - 10**9)
    (rate,) = [line for line in summary_lines(burst, ExitStatus.OK, "x") if line.startswith("rate")]
    assert "not measured" in rate and "within 172 µs" in rate and "dg/s" not in rate
    assert burst.summary_dict()["rate_measurable"] is False
    steady = snap(received=100, bytes=6400, first_ns=T0, last_ns=T0 + 9_900_000, start_ns=T0)
    (rate,) = [line for line in summary_lines(steady, ExitStatus.OK, "x") if line.startswith("rate")]
    assert rate.startswith("rate         10.00 kdg/s") and "over 9.9 ms, first datagram to last" in rate
    assert steady.summary_dict()["rate_measurable"] is True
    one = snap(received=1, bytes=64, first_ns=T0, last_ns=T0, start_ns=T0)
    (rate,) = [line for line in summary_lines(one, ExitStatus.OK, "x") if line.startswith("rate")]
    assert rate == "rate         not measured: 1 datagram (a rate needs two)"
