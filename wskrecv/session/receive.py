"""One receive session, whatever carries it out: `ReceiveSession` owns a run from end to
end, and a strategy (single.OneProcess, workers.Workers) receives.

The session loads a `wskrecv run` client before any socket exists (a bad file is exit 2),
binds the metrics endpoint before any work (a port in use fails at once), has the
strategy bind or adopt the sockets, says what the run receives on (`start_info`: one
builder for both strategies), builds the reporter, the --dump and --pcap sinks and the
iperf3 server when the strategy asks, lets go of all of it whatever happened, and ends
with the epilogue: the client's report, the socket's error, the threshold line, the exit
status. No click here: errors propagate as WskrecvError for `cli.main`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from wskrecv.config import ReceiveConfig
from wskrecv.environment import Environment
from wskrecv.errors import Ending, OsFailure, UsageError
from wskrecv.session.outputs import close_capture, dump_sink, make_reporter, open_metrics

if TYPE_CHECKING:
    from wskrecv.core import Core
    from wskrecv.hosting.user import UserClient
    from wskrecv.iperf3.service import Iperf3Service
    from wskrecv.output.metrics import MetricsEndpoint
    from wskrecv.output.pcap import PcapWriter
    from wskrecv.provider.udp import UdpProvider
    from wskrecv.runner import Reporter, RunResult, Sidecar
    from wskrecv.stats.recorder import DumpSink, Recorder
    from wskrecv.wsk import WskDatagramSocket
    from wskrecv.wsk.inject import Injector


class Strategy(Protocol):
    """How a session's sockets are received on: by one loop in this process, or by worker
    processes and the parent's coordinator."""

    def open(self, core: Core) -> Sequence[UdpProvider]:
        """Bind or adopt the run's sockets, read by `core`'s reader (`close` lets go)."""
        ...

    def describe(self, info: dict[str, Any]) -> None:
        """Add the strategy's own start fields (and words of the start line's detail)."""

    def run(self, session: ReceiveSession, info: dict[str, Any]) -> RunResult:
        """Build what receives, take the reporter from `session.reporter`, complete the
        start information with `session.announce`, run, and return how it ended."""
        ...

    def close(self) -> None:
        """Let go of the sockets and whatever else the strategy holds, whatever happened.
        Idempotent."""

    def fault_clock(self) -> tuple[Callable[[], int], float]:
        """The clock injected faults run on (ns), and how long (seconds) a client may go
        without receiving before that is a stall."""
        ...


def start_info(config: ReceiveConfig, providers: Sequence[UdpProvider], core: Core,
               user: Optional[UserClient] = None) -> dict[str, Any]:
    """What the run receives on and how: the start line and the JSON start object, the
    same for one socket and for N workers' (they share an address, a buffer size, a
    bind note; an inherited socket's drops before the run are summed)."""
    first = providers[0]
    host, port = first.local_address[:2]
    detail, extra = config.describe()
    info: dict[str, Any] = {
        "mode": config.mode,
        "address": host,
        "port": port,
        "rcvbuf": first.rcvbuf,
        "rcvbuf_requested": first.rcvbuf_requested,
        "reader": first.reader,
        "core": core.name,
        "detail": detail,
        "seq_format": config.seq_format,
        **extra,
        **(user.start_info() if user is not None else {}),
    }
    if config.mode == "irp":  # who completes listen's client's steady requests
        from wskrecv.hosting.native import completions

        # Kept datagrams (--dump, --pcap) and injected faults take the Python code.
        info["completions"] = completions(core.completer,
                                          config.keeps_datagrams or config.injects)
        info["detail"] += f", {info['completions']} completions"
    if first.note:
        info["note"] = first.note
        info["detail"] += f" ({first.note})"
    if first.rcvbuf_cap is not None and first.rcvbuf_requested:
        from wskrecv.provider.udp import rmem_max_hint

        info["rmem_max"] = first.rcvbuf_cap
        info["rcvbuf_note"] = rmem_max_hint(first.rcvbuf_requested, first.rcvbuf_cap)
    if len(providers) == 1 and first.inherited_fd is not None:
        info["fd"] = first.inherited_fd
        info["detail"] += f", inherited fd {first.inherited_fd}"
    before = [p.drops_before_run for p in providers if p.drops_before_run is not None]
    if before:
        info["kernel_drops_before_run"] = drops = sum(before)
        if drops:
            info["detail"] += f", {drops} kernel drops before this run (not counted)"
    membership = getattr(first, "membership", None)
    if membership is not None:  # --join, --bind-dev
        words, fields = membership.describe()
        info["detail"] += f", {words}"
        info.update(fields)
    return info


def run_length(config: ReceiveConfig) -> Optional[float]:
    """The longest a run may last (--duration, --timeout), or None."""
    limits = [t for t in (config.duration, config.timeout) if t is not None]
    return min(limits) if limits else None


class ReceiveSession:
    """One receive run of `config`, carried out by `strategy`; `run` returns the exit
    status. What the run says of an option (a failed threshold) calls its ReceiveConfig
    field `option_name(field)`: the command line passes its flags' names."""

    def __init__(self, config: ReceiveConfig, env: Environment, strategy: Strategy,
                 option_name: Callable[[str], str] = str) -> None:
        from wskrecv import core as cores

        self.config = config
        self.env = env
        self.strategy = strategy
        self.option_name = option_name
        self.core = cores.current()
        self.user: Optional[UserClient] = None  # `wskrecv run`'s client
        self.faults: Optional[Injector] = None  # --inject: what the client's registration gets
        self.metrics: Optional[MetricsEndpoint] = None
        self.capture: Optional[PcapWriter] = None
        self.iperf3: Optional[Iperf3Service] = None
        self._reporter: Optional[Reporter] = None
        # Whether the run was asked to end (a stop signal, --count...): the strategy says
        # once its loop exists. With the deadline, it ends a wait for a stalled output.
        self.stopping: Callable[[], bool] = lambda: False

    def run(self) -> int:
        """Open, start, run, let go, report: the exit status (errors propagate). Standard
        streams that can stall (a pipe nobody reads) are written by threads of their own
        (output/queued.py), so -t and signals still end the run; drained at the end."""
        import time

        from wskrecv.output.queued import Patience
        from wskrecv.signals import repeats_ignored

        env, config = self.env, self.config
        patience = Patience(env)
        self.env = patience.env
        end = run_length(config)
        end_at = None if end is None else time.monotonic() + end
        patience.give_up_when(lambda: self.stopping()
                              or end_at is not None and time.monotonic() >= end_at)
        ran: list[RunResult] = []
        with repeats_ignored(), ExitStack() as hold:  # a group's stop signal comes twice
            if config.mode == "client":  # what the client may do, bounded (confine.py)
                from wskrecv.hosting.confine import confined

                hold.enter_context(confined(self._client_code, self.env.stderr))
            try:
                return self._run(ran)
            finally:
                summary = None
                if ran and config.as_json:  # the summary went to stdout: on stderr if stalled
                    from wskrecv.output.human import summary_lines

                    r = ran[0]
                    summary = "\n".join(summary_lines(r.snapshot, r.status, r.reason))
                patience.end(env, summary, ran[0].signum if ran else None)

    def _run(self, ran: list[RunResult]) -> int:
        config = self.config
        if config.injects:  # before the client: its constructor's IoAllocateIrp may fail
            from wskrecv.session.inject import make_injector

            self.faults = make_injector(config, *self.strategy.fault_clock())
        if config.mode == "client":
            from wskrecv.hosting.user import UserClient

            # Before any socket: a bad file is exit 2.
            self.user = UserClient.load(config, self.faults)
        self.metrics = open_metrics(config)  # bound first: a port in use fails before any work
        try:
            providers = self.strategy.open(self.core)
            info = start_info(config, providers, self.core, self.user)
            if self.faults is not None:
                from wskrecv.session.inject import describe

                describe(info, self.faults)
            self.strategy.describe(info)
            result = self.strategy.run(self, info)
            ran.append(result)
            if self.metrics is not None and not result.signalled_after:
                self.metrics.linger(config.metrics_linger)
        finally:
            self._close()
        return self._epilogue(result)

    # -- what the strategies ask for --------------------------------------------------

    def reporter(self, recorder: Optional[Callable[[], Recorder]] = None) -> Reporter:
        """The run's reporter (built once: the live display, if any, starts here), and the
        metrics endpoint starts serving. `recorder`: a one-process run's, which the
        endpoint reads at every report (--workers feeds it the workers' Partials)."""
        if self._reporter is None:
            self._reporter = make_reporter(self.env, self.config)
            if self.metrics is not None:
                self.metrics.start()
                if recorder is not None:
                    from wskrecv.output.metrics import MetricsReporter

                    self._reporter = MetricsReporter(self._reporter, self.metrics, recorder)
        return self._reporter

    def sinks(self, provider: UdpProvider, reporter: Reporter) -> list[DumpSink]:
        """What one socket's kept datagrams go to: --dump (the reporter), --pcap (the
        capture, flushed when the session ends)."""
        from wskrecv.output.pcap import open_capture

        config = self.config
        sinks: list[DumpSink] = []
        if config.dump:
            sinks.append(dump_sink(reporter, config.seq_format, provider.local_address))
        if config.pcap is not None:
            self.capture = open_capture(config.pcap, self.env.stdout_binary,
                                        within=run_length(config), waiting=self._say)
            sinks.append(self.capture.sink(provider.local_address, config.pcap))
        return sinks

    def _client_code(self, filename: str) -> bool:
        """Whether `filename` is the `wskrecv run` client's code (once it is loaded)."""
        return self.user is not None and self.user.code.owns(filename)

    def _say(self, words: str) -> None:
        self.env.stderr.write(f"wskrecv: {words}\n")
        self.env.stderr.flush()

    def sidecar(self, provider: UdpProvider, reporter: Reporter,
                ) -> Optional[Callable[[Recorder, WskDatagramSocket], Sidecar]]:
        """What builds the iperf3 server beside one socket's loop (--iperf3), or None."""
        if not self.config.iperf3:
            return None
        from wskrecv.iperf3.service import attach  # only --iperf3 pays for it

        def build(recorder: Recorder, sock: WskDatagramSocket) -> Sidecar:
            self.iperf3 = attach(provider, recorder, reporter, one_off=self.config.one_off,
                                 json_output=self.config.as_json,
                                 rcv_timeout=self.config.rcv_timeout)
            return self.iperf3

        return build

    def announce(self, info: dict[str, Any]) -> None:
        """The last start fields, once everything is built: the metrics endpoint's, the
        iperf3 server's port."""
        if self.metrics is not None:
            self.metrics.describe(info)
        if self.iperf3 is not None:
            info["iperf3_port"] = self.iperf3.port
            info["detail"] += f", iperf3 server on TCP port {self.iperf3.port}"

    # -- the end ----------------------------------------------------------------------

    def _close(self) -> None:
        """Let go of everything, in order, whatever happened: a capture whose last flush
        fails (disk full) is the error, after the rest is closed."""
        if self.metrics is not None:
            self.metrics.close()
        try:
            if self.capture is not None:
                close_capture(self.capture, self.config.pcap or "")
        finally:
            try:
                if self.iperf3 is not None:
                    self.iperf3.close()
                self.strategy.close()
            finally:
                if self._reporter is not None:
                    self._reporter.close()  # the live display gives the terminal back

    def _epilogue(self, result: RunResult) -> int:
        """After the summary: the client's report, the threshold line (judged on every
        ending), a replayed capture's problem (cut: exit 2), the socket's error (one line,
        exit 1); the exit status."""
        env = self.env
        if self.user is not None:
            self.user.report(env)  # what the client broke, where; its fault's traceback
        if result.threshold:
            env.stderr.write(f"wskrecv: threshold exceeded: {result.threshold}\n")
            env.stderr.flush()
        problem = getattr(self.strategy, "problem", None)  # a replayed capture's
        if problem:
            if result.ending is Ending.CAPTURE_CUT:
                raise UsageError(problem)
            env.stderr.write(f"wskrecv: note: {problem}\n")
            env.stderr.flush()
        if result.error:
            raise OsFailure(result.error)
        return int(result.status)


__all__ = ["ReceiveSession", "Strategy", "run_length", "start_info"]
