"""What a receive command runs once its options are parsed: the socket, the WSK model,
the application, the runner and the reporters.

Kept apart from the option definitions (common.py) so that `--help` and a bad option
never import the receive machinery: start-up is part of the product's speed.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from wskrecv.commands.common import given_on_command_line, reject, want_live
from wskrecv.environment import Environment, current_environment
from wskrecv.errors import OsFailure
from wskrecv.output import HumanReporter, JsonReporter
from wskrecv.output.pcap import PcapWriter, open_capture
from wskrecv.provider.activation import open_receive_socket
from wskrecv.provider.broadcast import broadcast_addresses
from wskrecv.provider.health import address_gone
from wskrecv.provider.udp import DEFAULT_BATCH
from wskrecv.runner import Limits, Runner
from wskrecv.stats import Recorder
from wskrecv.stats.hostudp import HostUdp
from wskrecv.stats.recorder import DumpSink
from wskrecv.stats.thresholds import Thresholds
from wskrecv.wsk import (
    WSK_SET_STATIC_EVENT_CALLBACKS,
    BufferPool,
    Verifier,
    WskDatagramSocket,
    WskEventCallbackControl,
    wsk_register,
)


def make_reporter(
    env: Environment, as_json: bool, quiet: bool, stdout_taken: bool = False, live: bool = False
) -> Any:
    """JSON lines on stdout, human lines on stderr (--dump lines on stdout unless
    `stdout_taken`, e.g. by `--pcap -`), or the live dashboard (with JSON lines too, if
    asked)."""
    dump = env.stderr if stdout_taken else env.stdout
    if live:
        from wskrecv.output.live import LiveReporter  # imports rich: only when needed

        json_reporter = JsonReporter(env.stdout, quiet=quiet) if as_json else None
        return LiveReporter(env.stderr, also=json_reporter, dump=dump, color=env.color)
    if as_json:
        return JsonReporter(env.stdout, quiet=quiet)
    return HumanReporter(env.stderr, quiet=quiet, dump=dump)


def _fan_out(*sinks: DumpSink) -> DumpSink:
    def fan_out(*args: Any) -> None:
        for sink in sinks:
            sink(*args)

    return fan_out


def build_runner(
    provider: Any,
    mode: str,
    make_app: Callable[[WskDatagramSocket, Recorder], Any],
    reporter: Any,
    limits: Limits,
    lock: Any = None,
    dump: Any = None,
    batch: int = DEFAULT_BATCH,
    pool: Optional[int] = None,
    seq_format: str = "auto",
    host: Optional[HostUdp] = None,
    thresholds: Optional[Thresholds] = None,
    health: Optional[Callable[[], Optional[str]]] = None,
    static_events: bool = False,
    dispatch_level: bool = False,
) -> Runner:
    """The WSK model, the application and the runner on top of an open provider: what a
    receive command runs, and what `wskrecv bench` times (so both measure one code path,
    full statistics included). `pool` bounds the socket's indication buffers (None:
    unbounded); `batch` caps a read; `thresholds` judge the run's end (exit 4); `health`
    says, once per interval, why the socket can no longer receive (exit 1).

    The socket is created the way a driver creates it: WskRegister, WskCaptureProviderNPI
    and, with `static_events`, WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS) before
    WskSocket. `dispatch_level` simulates callbacks at DISPATCH_LEVEL."""
    npi = wsk_register(Verifier()).capture_provider_npi()
    if static_events:
        npi.control_client(WSK_SET_STATIC_EVENT_CALLBACKS, WskEventCallbackControl())
    sock = npi.socket(lock=lock, pool=BufferPool(pool), dispatch_level=dispatch_level)
    sock.broadcast_addresses = broadcast_addresses()
    sock.bind(provider.local_address)
    recorder = Recorder(mode, dump=dump, seq_format=seq_format, host=host)
    app = make_app(sock, recorder)
    judge = thresholds.check if thresholds else None
    return Runner(provider, sock, app, recorder, reporter, limits, batch=batch, judge=judge,
                  health=health)


def run_receive_command(
    mode: str,
    params: dict[str, Any],
    make_app: Callable[[WskDatagramSocket, Recorder], Any],
    detail: str,
    extra_start: Optional[dict[str, Any]] = None,
    lock: Any = None,
    env: Optional[Environment] = None,
    batch: int = DEFAULT_BATCH,
    pool: Optional[int] = None,
    static_events: bool = False,
    dispatch_level: bool = False,
) -> int:
    """Open the socket, build the model and the application, run, report. Returns the exit
    status; errors propagate as WskrecvError for `cli.main` to report.

    `batch` caps each read (and so each indication list); `pool` bounds the socket's
    indication buffers (None: unbounded)."""
    env = env or current_environment()
    pcap_path = params.get("pcap")
    pcap_stdout = pcap_path == "-"
    if pcap_stdout and params["as_json"]:
        reject("--pcap - and --json both write to standard output: write the capture to a file")
    reporter = make_reporter(env, params["as_json"], params["quiet"], stdout_taken=pcap_stdout,
                             live=want_live(env, params))
    sinks: list[DumpSink] = []
    if params["dump"]:
        def dump(
            data: bytes, remote: tuple, truncated: bool, ts: Optional[int], local: Optional[str]
        ) -> None:
            reporter.datagram(
                {
                    "src": remote[0],
                    "sport": remote[1],
                    "length": len(data),
                    "truncated": truncated,
                    "timestamp_ns": ts,
                    "data": data.hex(),
                }
            )

        sinks.append(dump)
    provider = open_receive_socket(
        params["bind_host"],
        params["port"],
        params["rcvbuf"],
        fd=params.get("fd"),
        address_given=given_on_command_line("bind_host", "port"),
        batch=batch,
    )
    capture: Optional[PcapWriter] = None
    try:
        if pcap_path is not None:
            capture = open_capture(pcap_path, env.stdout_binary)
            sinks.append(capture.sink(provider.local_address, pcap_path))
        dump_sink = sinks[0] if len(sinks) == 1 else _fan_out(*sinks) if sinks else None
        limits = Limits(
            count=params["count"],
            duration=params["duration"],
            timeout=params["timeout"],
            interval=params["interval"],
        )
        runner = build_runner(
            provider, mode, make_app, reporter, limits, lock=lock, dump=dump_sink,
            batch=batch, pool=pool, seq_format=params["seq_format"], host=HostUdp(),
            thresholds=Thresholds(params["max_loss"], params["max_reorder"]),
            health=lambda: address_gone(provider.local_address),
            static_events=static_events, dispatch_level=dispatch_level,
        )
        host, port = provider.local_address[:2]
        info = {
            "mode": mode,
            "address": host,
            "port": port,
            "rcvbuf": provider.rcvbuf,
            "rcvbuf_requested": provider.rcvbuf_requested,
            "reader": provider.reader,
            "detail": detail,
            "seq_format": params["seq_format"],
            **(extra_start or {}),
        }
        if provider.inherited_fd is not None:
            info["fd"] = provider.inherited_fd
            info["detail"] += f", inherited fd {provider.inherited_fd}"
        result = runner.run(info)
    finally:
        try:
            if capture is not None:
                _close_capture(capture, pcap_path)
        finally:
            provider.close()
            close = getattr(reporter, "close", None)
            if close is not None:
                close()  # the live display gives the terminal back, whatever happened
    if result.error:
        raise OsFailure(result.error)  # after the summary, like any error: one line, exit 1
    if result.threshold:
        env.stderr.write(f"wskrecv: threshold exceeded: {result.threshold}\n")
        env.stderr.flush()
    return int(result.status)


def _close_capture(capture: PcapWriter, name: str) -> None:
    """Flush the capture; a write that fails now (disk full) is an OsFailure."""
    try:
        capture.close()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OsFailure(f"cannot write capture {name}: {exc.strerror or exc}") from None


__all__ = ["build_runner", "make_reporter", "run_receive_command"]
