"""Plain-text output for people and logs: interval lines and a summary on stderr."""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Optional

from wskrecv.errors import ExitStatus
from wskrecv.output.format import (
    address,
    duration,
    iperf3_text,
    ms,
    nbytes,
    pct,
    plural,
    si,
)
from wskrecv.output.streamtext import field_lines, stream_lines, stream_table
from wskrecv.shown import shown
from wskrecv.stats.latency import Percentiles
from wskrecv.stats.modes import ClientStatistics, IrpStatistics, ModeStatistics
from wskrecv.stats.snapshot import MIN_RATE_SPAN_S, Snapshot
from wskrecv.words import terminal_columns, wrap_words


def format_address(host: str, port: int) -> str:
    return address(host, port)


def start_line(info: dict[str, Any]) -> str:
    """What the run receives on, what it was granted, and how it receives."""
    where = format_address(info["address"], info["port"])
    if info.get("replay"):  # a capture, not a socket: no buffer to grant
        return (f"wskrecv {info['mode']}: replaying {shown(info['replay'])} "
                f"({info['replay_filter']}) as {where}, {info['detail']}")
    if info["address"] == "::":
        where += " (IPv6 and IPv4)"
    asked = info.get("rcvbuf_requested")
    granted = f"rcvbuf {nbytes(info['rcvbuf'])}"
    if asked:
        granted += f" (asked {nbytes(asked)})"
    return f"wskrecv {info['mode']}: receiving on {where}, {granted}, {info['detail']}"


def sequence_text(snap: Snapshot) -> str:
    """Loss (this interval's lost/expected, as iperf3 prints it, then the total so far),
    reordering, duplicates... in a few words ("" when nothing carried a sequence)."""
    if not snap.sequenced:
        return ""
    parts = [f"lost {snap.interval_lost}/{snap.interval_expected} "
             f"({pct(snap.interval_loss_pct)}) total {snap.lost} ({pct(snap.loss_pct)})",
             f"reord {snap.reordered}", f"dup {snap.duplicates}"]
    for name, value in (("corrupt", snap.corrupt), ("late", snap.late),
                        ("unseq", snap.unsequenced)):
        if value:
            parts.append(f"{name} {value}")
    return " ".join(parts)


def percentiles_text(p: Optional[Percentiles]) -> str:
    if p is None:
        return "-"
    return f"p50 {ms(p.p50)}  p90 {ms(p.p90)}  p99 {ms(p.p99)}  max {ms(p.max)} ms"


def interval_line(snap: Snapshot) -> str:
    """One plain line per interval: rates, totals, and what went wrong so far."""
    line = (
        f"[{snap.elapsed_s:7.1f}s] {si(snap.interval_datagrams_per_s, 'dg/s'):>12}"
        f"  {si(snap.interval_bits_per_s, 'bit/s'):>13}"
        f"  total {snap.received} dg, {nbytes(snap.bytes)}"
    )
    seq = sequence_text(snap)
    if seq:
        line += "  " + seq
    if snap.jitter_ns is not None:
        line += f"  jitter {duration(snap.jitter_ns)}"
    if snap.interval_latency is not None:
        p = snap.interval_latency
        line += f"  owd p50/p99 {ms(p.p50)}/{ms(p.p99)} ms"
    if snap.truncated:
        line += f"  truncated {snap.truncated}"
    if snap.kernel_drops:
        line += f"  kernel drops {snap.kernel_drops}"
    if snap.violations:
        line += f"  VIOLATIONS {snap.violations}"
    if snap.iperf3 is not None:
        line += "  " + iperf3_text(snap.iperf3)
    host = host_text(snap, short=True)
    if host:
        line += f"  | {host}"
    return line


def host_text(snap: Snapshot, short: bool = False) -> str:
    """The host-wide UDP error counters, marked as such: they count every socket on the
    host, not this run ("" on a pipe when all are zero, short=True)."""
    h = snap.host_udp
    if h is None:
        return "" if short else "unreadable (all sockets on this host)"
    counts = (h.get("rcvbuf_errors", 0), h.get("in_csum_errors", 0), h.get("no_ports", 0))
    if short and not any(counts):
        return ""
    return (f"errors: rcvbuf {counts[0]}, checksum {counts[1]}, no port {counts[2]} "
            "(all sockets on this host)")


def dump_line(record: dict[str, Any]) -> str:
    """One --dump line: source -> destination, length (and the real length when the
    receive buffer truncated it), stream and sequence when the header says, payload hex."""
    where = format_address(record["src"], record["sport"])
    if record.get("dst") is not None:
        where += f" > {format_address(record['dst'], record['dport'])}"
    size = plural(record["length"], "byte")
    if record["truncated"]:
        size += f" TRUNC (of {record.get('orig_len', '?')})"
    seq = ""
    if record.get("sequence") is not None:
        seq = f" stream {record['stream']} seq {record['sequence']}"
    for name in ("tos", "ttl"):  # the packet's own fields, when the socket asked for them
        value = record.get(name)
        if value is not None:
            seq += f" {name} {f'0x{value:02x}' if name == 'tos' else value}"
    return f"{where} {size}{seq} {record['data']}"


def worker_lines(snap: Snapshot) -> list[str]:
    """One line per worker of a --workers run: its rate, total, drops and CPU."""
    return [
        f"  worker {w.worker} (pid {w.pid}): {si(w.datagrams_per_s, 'dg/s'):>12}  total "
        f"{w.received} dg  kernel drops {w.kernel_drops}  cpu {w.cpu_pct:.0f}%"
        + ("" if w.alive else "  DEAD")
        for w in snap.workers
    ]


def workers_summary(snap: Snapshot) -> list[str]:
    """The summary's worker lines: each worker's share, and a stream that moved."""
    if not snap.workers:
        return []
    shares = ", ".join(f"#{w.worker} {w.received}" + ("" if w.alive else " (dead)")
                       for w in snap.workers)
    lines = [f"workers      {len(snap.workers)}: {shares} datagrams"]
    if snap.moved_sources:
        lines.append(f"             {snap.moved_sources} source(s) seen by more than one worker: "
                     "their streams moved, so their loss/reorder counts are not exact")
    return lines


def rate_line(snap: Snapshot) -> str:
    """The summary's rate: over the span from the first datagram to the last, or, when
    that span is too short to measure one (a burst), what came within it instead."""
    span = snap.active_s
    if snap.rate_measurable and span is not None:
        over = f"{span:.3f} s" if span >= 1 else duration(span * 1e9)
        return (f"rate         {si(snap.datagrams_per_s, 'dg/s')}, {si(snap.bits_per_s, 'bit/s')}"
                f" over {over}, first datagram to last")
    if snap.received > 1:
        within = duration(span * 1e9) if span is not None else "the same instant"
        if span is not None:
            within = f"within {within}"
        return (f"rate         not measured: {snap.received} datagrams arrived {within}, too "
                f"short a span for a rate (at least {duration(MIN_RATE_SPAN_S * 1e9)})")
    if snap.received == 1:
        return "rate         not measured: 1 datagram (a rate needs two)"
    return "rate         none: nothing received"


STYLE_LABELS = {"irp": "IRP style   ", "event": "event style "}


def style_lines(stats: Optional[ModeStatistics]) -> list[str]:
    """The receive style's own counters, labelled with the style: a built-in client's
    style, or the styles a `wskrecv run` client uses (an event-style client's summary
    has no IRP counters). Plain values only: a client's report is printed apart."""
    if stats is None:
        return []
    if isinstance(stats, ClientStatistics):
        parts = [(s, stats.style_json(s)) for s in stats.styles]
    else:
        parts = [("irp" if isinstance(stats, IrpStatistics) else "event", stats.as_json())]
    lines = []
    for style, values in parts:
        items = [f"{k} {v}" for k, v in values.items()
                 if not isinstance(v, (dict, list)) and not (k in RARE and not v)]
        lines += flow(STYLE_LABELS[style] + " ", items)
    return lines


# Counters the style lines show only when they are not 0 (JSON has them all).
RARE = ("broadcast", "multicast", "released_in_callback", "null_indications")


def flow(label: str, items: list[str], width: int = 80) -> list[str]:
    """`items` after `label`, two spaces apart, in lines of at most `width` columns
    (broken between items; a continuation under the first item): a summary fits 80
    columns on a pipe too, where nothing wraps it."""
    lines, line = [], label
    for item in items:
        if line.strip() and len(line) + 2 + len(item) > width and line != label:
            lines.append(line)
            line = " " * len(label) + item
        else:
            line += ("  " if line != label else "") + item
    return [*lines, line]


def replies_text(n: int) -> str:
    """What a sender that asked for replies is told (sockperf ping-pong, under-load)."""
    return (f"{plural(n, 'datagram')} asked for a reply (sockperf ping-pong or under-load): "
            "wskrecv only receives and sends none; `sockperf throughput` is the test that "
            "needs no reply")


def summary_lines(snap: Snapshot, status: ExitStatus, reason: str,
                  every_stream: bool = False, width: Optional[int] = None) -> list[str]:
    """The end-of-run block; `width`, a terminal's, fits its tables to it."""
    lines = [
        f"--- wskrecv {snap.mode} summary ({reason}) ---",
        f"received     {plural(snap.received, 'datagram')}, {nbytes(snap.bytes)} in "
        f"{snap.elapsed_s:.3f} s",
        rate_line(snap),
        f"kernel drops {snap.kernel_drops} (this socket"
        + (f"; {snap.drops_after_last_read} after the last read"
           if snap.drops_after_last_read is not None else "")
        + (f"; {snap.kernel_drops_before_run} more before this run, not counted"
           if snap.kernel_drops_before_run else "") + ")",
    ]
    if snap.unread_at_exit is not None:
        at_least = "" if snap.unread_complete else "at least "
        them = "it" if snap.unread_at_exit == 1 and not at_least else "them"
        lines.append(f"unread       {at_least}{plural(snap.unread_at_exit, 'datagram')} still "
                     f"queued at exit (--max-loss counts {them} as lost)")
    lines.append(f"truncated    {snap.truncated}")
    lines += workers_summary(snap)
    if snap.sequenced:
        streams = plural(snap.streams_tracked, "stream")
        lines.append(
            f"sequence     {snap.seq_format}: {snap.sequenced} sequenced in {streams}, "
            f"{snap.unsequenced} unsequenced"
            + (f", {snap.streams_evicted} streams evicted" if snap.streams_evicted else "")
        )
        lines.append(
            f"loss         lost {snap.lost} ({pct(snap.loss_pct)}), reordered {snap.reordered}, "
            f"duplicates {snap.duplicates}, corrupt {snap.corrupt}, late {snap.late}"
            + (f", restarts {snap.restarts}" if snap.restarts else "")
        )
        lines += stream_table(snap, every_stream, width)
    elif snap.seq_format != "none" and snap.received:
        lines.append(f"sequence     none recognised ({snap.seq_format}): "
                     f"{snap.unsequenced} unsequenced")
    if snap.reply_requests:
        lines.append(f"replies      {replies_text(snap.reply_requests)}")
    if snap.jitter_ns is not None:
        lines.append(f"jitter       {duration(snap.jitter_ns)} (RFC 3550)")
    if snap.latency is not None:
        lines.append(f"latency      {percentiles_text(snap.latency)} (kernel - send time)")
    if snap.app_latency is not None:
        lines.append(f"app latency  {percentiles_text(snap.app_latency)} (completion - kernel)")
    if snap.received:
        z = snap.sizes
        lines.append(f"sizes        min {z.min}  avg {z.mean:.1f}  max {z.max} bytes")
    lines += field_lines(snap)
    if snap.sources:
        top = ", ".join(f"{format_address(s.address, s.port)} {s.datagrams}" for s in snap.sources[:3])
        more = f" (+{snap.sources_seen - 3} more)" if snap.sources_seen > 3 else ""
        if snap.sources_evicted:
            more += f", {snap.sources_evicted} evicted"
        lines.append(f"sources      {top}{more}")
    lines += style_lines(snap.mode_stats)
    if snap.iperf3 is not None:
        i = snap.iperf3
        lines.append(f"iperf3       tests done {i.get('tests_done', 0)}, refused "
                     f"{i.get('tests_refused', 0)}, failed {i.get('tests_failed', 0)}, denied "
                     f"{i.get('denied', 0)} (TCP port {i.get('port')})")
    violations = f"violations   {snap.violations}"
    if snap.violations:
        violations += " (" + ", ".join(f"{k} {v}" for k, v in snap.violations_by_rule.items()) + ")"
    lines.append(violations)
    if snap.cautions:  # apart from the violations: advice, not a rule (never fails a run)
        lines.append(f"cautions     {snap.cautions} (" + ", ".join(
            f"{k} {v}" for k, v in snap.cautions_by_rule.items()) + ")")
    if snap.faults is not None:
        from wskrecv.output.injected import fault_lines

        lines += fault_lines(snap.faults)
    if snap.host_udp is not None:
        lines.append(f"host UDP     {host_text(snap)}")
    if status is ExitStatus.DEADLINE:
        lines.append("deadline passed before the expected datagrams arrived (exit 3)")
    if status is ExitStatus.CLIENT_STALLED:
        lines.append("the client stopped receiving after an injected fault (exit 8)")
    return lines


class HumanReporter:
    """One line per interval, a block at the end. No control codes: safe for pipes."""

    frame_interval: Optional[float] = None  # no live frames

    def __init__(
        self, stream: Optional[IO[str]] = None, quiet: bool = False, dump: Optional[IO[str]] = None,
        per_stream: bool = False, timestamps: Optional[str] = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.per_stream = per_stream  # a line per stream after each interval line
        self.dump_stream = dump if dump is not None else sys.stdout
        self.timestamps = timestamps  # --timestamps: a strftime format before every line
        self.told_replies = False  # a sender asked for replies: said once

    def _line(self, text: str) -> None:
        self._write([text])

    def _write(self, lines: list[str], rows: bool = False) -> None:
        """Lines on the stream, each after the --timestamps time; on a terminal, wrapped
        between words at its width, but for rows of a table (`rows`, or indented by two
        spaces), laid out by whoever made them: a table cut between words would be no
        table."""
        stamp = self._stamp()
        width = terminal_columns(self.stream)
        if width is not None and stamp:
            width = max(20, width - len(stamp))
        self.stream.write("".join(
            stamp + part + "\n" for line in lines
            for part in ([line] if rows or line.startswith("  ") else wrap_words(line, width))))
        self.stream.flush()

    def start(self, info: dict[str, Any]) -> None:
        if not self.quiet:
            self._line(start_line(info))
            if info.get("rcvbuf_note"):
                self._line(f"wskrecv: note: {info['rcvbuf_note']}")

    def interval(self, snap: Snapshot) -> None:
        if not self.quiet and snap.reply_requests and not self.told_replies:
            self.told_replies = True
            self._line(f"wskrecv: note: {replies_text(snap.reply_requests)}")
        if not self.quiet:
            self._line(interval_line(snap))
            for line in worker_lines(snap) + stream_lines(snap):
                self._line(line)

    def frame(self, snap: Snapshot) -> None:
        pass

    def close(self) -> None:
        pass

    def note(self, record: dict[str, Any]) -> None:
        """One line about the iperf3 server (a test started, ended, was refused...) or the
        metrics endpoint (its `type`)."""
        if not self.quiet:
            self._line(f"wskrecv {record.get('type', 'iperf3')}: "
                       f"{shown(record['message'], None)}")
            # a test's end, in iperf3's layout (its rows as iperf3 prints them)
            self._write(list(record.get("report") or ()), rows=True)

    def datagram(self, record: dict[str, Any]) -> None:
        self.dump_stream.write(self._stamp() + dump_line(record) + "\n")

    def _stamp(self) -> str:
        """The local time in the --timestamps format (iperf3's: "%c "), or nothing."""
        return time.strftime(self.timestamps) if self.timestamps is not None else ""

    def summary(
        self, snap: Snapshot, status: ExitStatus, reason: str, threshold: Optional[str] = None
    ) -> None:
        # The threshold's one-line reason is printed once, by the command (all outputs).
        width = terminal_columns(self.stream)
        self._write(summary_lines(snap, status, reason, self.per_stream, width))
