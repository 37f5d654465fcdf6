"""`wskrecv analyze`: a capture run through the counting kernel, as a live run counts.

The datagrams of the capture (wskrecv.capture) go to the same Recorder and counting
kernel (native or pure, wskrecv.core) a receive command uses, with the capture's times
standing for the kernel's receive timestamps: the summary, JSON objects and interval
reports are a live run's, over capture time (intervals fall every --interval seconds of
capture time from the first datagram). A capture that `--pcap` wrote during a live run
gives that run's counts exactly: the same datagrams in the order they were counted,
with the kernel timestamps they were counted with.

What a capture cannot say is left out, not made up: no application latency (no
completion times), no socket drops (a pcapng file's interface drops are reported apart,
as the capturing host's), no unread datagrams.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Union

from wskrecv.capture import CaptureError, CaptureReader, open_capture_file
from wskrecv.capture.packets import describe_linktype
from wskrecv.environment import Environment
from wskrecv.errors import Ending, ExitStatus, UsageError
from wskrecv.offline.output import make_reporter
from wskrecv.stats.recorder import Recorder
from wskrecv.stats.sequence import MAX_STREAMS
from wskrecv.stats.snapshot import Snapshot

BATCH = 4096  # datagrams handed to the counting kernel at once
MAX_EMPTY_INTERVALS = 100  # a longer silence in a capture is reported as one interval
NS = 1_000_000_000

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class SourceFilter:
    """`--src`: an address or network, and optionally a source port."""

    network: Network
    port: Optional[int] = None

    def matches(self, source: tuple) -> bool:
        if self.port is not None and source[1] != self.port:
            return False
        return ipaddress.ip_address(source[0]) in self.network


@dataclass(frozen=True)
class AnalyzeConfig:
    """What `wskrecv analyze` was asked to do (every option with its default)."""

    files: tuple[str, ...] = ()
    port: int = 0  # only datagrams to this destination port (0: all)
    sources: tuple[SourceFilter, ...] = ()  # only datagrams from these (none: all)
    seq_format: str = "auto"
    per_stream: bool = False  # every stream's figures in intervals and the summary table
    max_streams: int = MAX_STREAMS
    interval: float = 1.0
    count: Optional[int] = None
    as_json: bool = False
    quiet: bool = False
    max_loss: Optional[float] = None
    max_reorder: Optional[float] = None


class _Stop:
    """A stop signal's reason, once one came: the loop looks between batches. A signal
    that comes while a reader waits for bytes (a pipe that has nothing yet) interrupts
    the wait as KeyboardInterrupt, which `run` turns into the end of the analysis; what
    was read is counted and reported either way."""

    reason: Optional[str] = None
    reader: Optional[CaptureReader] = None  # the reader being read

    def __call__(self, reason: str) -> None:
        self.reason = self.reason or reason
        if self.reader is not None and self.reader.waiting:
            raise KeyboardInterrupt(reason)


class Analysis:
    """One analysis: the readers of the files in turn, the recorder, the clock."""

    def __init__(self, config: AnalyzeConfig, counter: Any, scanner: Any) -> None:
        self.config = config
        self.scanner = scanner
        self.recorder = Recorder("analyze", seq_format=config.seq_format, counter=counter,
                                 max_streams=config.max_streams)
        self.first_ns: Optional[int] = None
        self.last_ns: Optional[int] = None
        self.next_tick: Optional[int] = None
        self.interval_ns = int(config.interval * NS)
        self.readers: list[CaptureReader] = []
        self.problem: Optional[str] = None
        self._verdicts: dict[tuple, bool] = {}

    def snapshot(self, elapsed_ns: int, advance: bool, streams_limit: Optional[int] = 0) -> Snapshot:
        """The recorder's snapshot at `elapsed_ns` of capture time, as a capture says it:
        no application latency, no socket. `streams_limit`: per-stream rows (0: none,
        None: every stream)."""
        snap = self.recorder.snapshot(elapsed_ns / NS, 0, {}, None, advance=advance,
                                      streams_limit=streams_limit)
        return replace(snap, app_latency=None, interval_app_latency=None)

    def _wanted(self, sources: list) -> Optional[list[int]]:
        """The indices of the datagrams --src keeps (None: all of them)."""
        filters = self.config.sources
        if not filters:
            return None
        verdicts = self._verdicts
        keep = []
        for i, source in enumerate(sources):
            ok = verdicts.get(source)
            if ok is None:
                if len(verdicts) > 4096:
                    verdicts.clear()
                ok = verdicts[source] = any(f.matches(source) for f in filters)
            if ok:
                keep.append(i)
        return None if len(keep) == len(sources) else keep

    def count(self, batch: Any) -> int:
        """Count one batch (after --src); how many datagrams it counted."""
        datas, sources, stamps, wires = batch.datas, batch.sources, batch.stamps, batch.wire_lengths
        keep = self._wanted(sources)
        if keep is not None:
            self.filtered += len(datas) - len(keep)
            datas = [datas[i] for i in keep]
            sources = [sources[i] for i in keep]
            stamps = [stamps[i] for i in keep]
            wires = [wires[i] for i in keep] if wires is not None else None
        if not datas:
            return 0
        self._silent = 0
        if self.first_ns is None:
            self.first_ns = stamps[0]
            self.next_tick = stamps[0] + self.interval_ns if self.interval_ns > 0 else None
        if self.last_ns is None or stamps[-1] > self.last_ns:
            self.last_ns = stamps[-1]
        if wires is None:
            self.recorder.record_many(datas, sources, stamps, stamps[-1])
        else:
            record = self.recorder.record
            for data, source, stamp, wire in zip(datas, sources, stamps, wires):
                record(data, source, stamp, len(data) < wire, now_ns=stamp)
        return len(datas)

    filtered = 0  # datagrams --src left out

    def run(self, reporter: Any, stop: _Stop) -> str:
        """Read every file, reporting intervals of capture time; the stop reason."""
        try:
            return self._read_all(reporter, stop)
        except KeyboardInterrupt:
            if stop.reason is None:
                raise  # not one of our stop signals
            for reader in self.readers:
                if reader.interrupted is not None:  # read before the signal: counted
                    self.count(reader.interrupted)
                reader.close()
            return stop.reason

    def _read_all(self, reporter: Any, stop: _Stop) -> str:
        config = self.config
        limit = config.count
        for path in config.files:
            reader = stop.reader = open_capture_file(path, config.port, self.scanner)
            self.readers.append(reader)
            try:
                while stop.reason is None:
                    # One datagram first: the intervals start at its time.
                    want = BATCH if self.first_ns is not None else 1
                    if limit is not None:
                        want = min(want, limit - self.recorder.received)
                        if want <= 0:
                            return "count reached"
                    batch = reader.read(want, self.next_tick)
                    if batch is None:
                        break
                    if len(batch):
                        self.count(batch)
                    else:
                        self._tick(reporter, reader)
            finally:
                reader.close()
            if reader.problem is not None:
                self.problem = reader.problem
                return "capture cut short"
        return stop.reason or "end of capture"

    def _tick(self, reporter: Any, reader: CaptureReader) -> None:
        """Capture time reached the next interval's start: report the interval. After
        MAX_EMPTY_INTERVALS silent ones in a row, the silence ends in one long interval
        (the next report falls in the interval of the next datagram)."""
        assert self.first_ns is not None and self.next_tick is not None
        reporter.interval(self.snapshot(self.next_tick - self.first_ns, advance=True,
                                        streams_limit=None if self.config.per_stream else 0))
        self.next_tick += self.interval_ns
        self._silent += 1
        if self._silent > MAX_EMPTY_INTERVALS:
            peek = reader.read(1)  # the next datagram, whenever it came
            if peek is not None and len(peek):
                behind = peek.stamps[0] - self.next_tick
                if behind >= 0:
                    self.next_tick += (behind // self.interval_ns + 1) * self.interval_ns
                self.count(peek)

    _silent = 0  # intervals reported since a datagram was last counted

    def summary_snapshot(self) -> Snapshot:
        elapsed = (self.last_ns - self.first_ns) if self.first_ns is not None and self.last_ns else 0
        snap = self.snapshot(elapsed, advance=False, streams_limit=None)
        return replace(snap, start_ns=self.first_ns, first_ns=self.first_ns, last_ns=self.last_ns)

    def capture_info(self) -> dict[str, Any]:
        """The summary's `capture` object: what the files held besides what was counted."""
        skipped: dict[str, int] = {}
        frames = reassembled = 0
        for r in self.readers:
            frames += r.frames
            reassembled += r.fragments.reassembled
            for k, v in r.skipped().items():
                skipped[k] = skipped.get(k, 0) + v
        skipped["other_source"] = self.filtered
        drops = {f"{r.name}#{i}": n for r in self.readers for i, n in r.drops.items()}
        return {"files": [r.name for r in self.readers], "frames": frames,
                "datagrams": self.recorder.received + self.filtered,
                "fragments_reassembled": reassembled, "skipped": skipped,
                "interface_drops": drops,
                "cut_bytes": sum(r.cut_bytes for r in self.readers), "problem": self.problem}


def check_files(config: AnalyzeConfig, scanner: Any) -> list[dict[str, Any]]:
    """Open each file once before anything is reported: a file that is not a capture
    fails the command (exit 2) before any output. What each holds (format, link types)."""
    found = []
    for path in config.files:
        if path == "-":
            found.append({"file": "standard input", "format": None, "linktypes": []})
            continue
        try:
            with open_capture_file(path, config.port, scanner) as reader:
                linktypes = [describe_linktype(i.linktype) for i in reader.interfaces]
                found.append({"file": path, "format": reader.format, "linktypes": linktypes})
        except CaptureError as exc:
            raise UsageError(str(exc)) from None
    return found


def analyze(config: AnalyzeConfig, env: Environment,
            option_name: Callable[[str], str] = str) -> int:
    """Analyse the captures; returns the exit status (a capture that is not one, or is
    cut short, is a UsageError after the summary: exit 2)."""
    from wskrecv import core as cores
    from wskrecv.runner.finish import against_thresholds
    from wskrecv.signals import StopSignals
    from wskrecv.stats.thresholds import Thresholds

    core = cores.current()
    files = check_files(config, core.scan)
    analysis = Analysis(config, core.counter, core.scan)
    reporter = make_reporter(env, config.as_json, config.quiet, config.per_stream, analysis.capture_info)
    info = {"mode": "analyze", "files": files, "core": core.name, "seq_format": config.seq_format,
            "port": config.port or None,
            "src": [describe_source(f) for f in config.sources] or None}
    stop = _Stop()
    signals = StopSignals(stop)
    with signals.installed():
        reporter.start(info)
        try:
            reason = analysis.run(reporter, stop)
        except CaptureError as exc:  # a pcapng interface of a link type we do not read
            analysis.problem = str(exc)
            reason = "capture unreadable"
        stop.reader = None
        snap = analysis.summary_snapshot()
        judge = Thresholds(config.max_loss, config.max_reorder)
        ending, breach = against_thresholds(Ending.COMPLETE, judge.judge(option_name) if judge else None,
                                            snap)
        status = ending.exit_status
        if stop.reason is not None:
            status = ExitStatus.for_signal(signals.signum or 2)
        if analysis.problem is not None:
            status = ExitStatus.USAGE
        reporter.summary(snap, status, reason, threshold=breach)
    if analysis.problem is not None:
        raise UsageError(analysis.problem)
    if breach:
        env.stderr.write(f"wskrecv: threshold exceeded: {breach}\n")
        env.stderr.flush()
    return int(status)


def describe_source(f: SourceFilter) -> str:
    net = str(f.network) if f.network.prefixlen != f.network.max_prefixlen else str(f.network.network_address)
    if f.port is None:
        return net
    return f"[{net}]:{f.port}" if ":" in net else f"{net}:{f.port}"


def parse_source(text: str) -> SourceFilter:
    """`--src` as given: ADDR, ADDR/PREFIX, ADDR:PORT or [ADDR]:PORT (a UsageError
    naming it otherwise)."""
    from wskrecv.addresses import split_host_port

    host, port = split_host_port(text, "--src")
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        raise UsageError(f"--src {text!r}: not an IP address or network") from None
    return SourceFilter(network, port)


__all__ = ["AnalyzeConfig", "Analysis", "SourceFilter", "analyze", "parse_source"]

