"""The assembly of one receive loop on one open socket: the WSK model (registered, its
socket bound), the hosted client (a built-in one, or `wskrecv run`'s), the recorder and
the runner. Both of a session's strategies run it (one process, each worker), and
`wskrecv bench` times exactly it, full statistics included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable, Optional

from wskrecv.config import ReceiveConfig

if TYPE_CHECKING:
    from wskrecv.core import Core
    from wskrecv.runner import Provider, Receiver, Reporter, Runner, Sidecar
    from wskrecv.runner.replay import VirtualClock
    from wskrecv.stats.hostudp import HostUdp
    from wskrecv.stats.recorder import DumpSink, Recorder
    from wskrecv.wsk import WskDatagramSocket, WskRegistration
    from wskrecv.wsk.inject import Injector

# Builds the application on the model's socket, recording into the recorder.
AppFactory = Callable[["WskDatagramSocket", "Recorder"], "Receiver"]


def make_app(config: ReceiveConfig, sock: WskDatagramSocket, recorder: Recorder,
             registration: Optional[WskRegistration] = None,
             clock: Optional[VirtualClock] = None) -> Receiver:
    """The built-in client `config.mode` names (listen's or event's), hosted on `sock` as
    `wskrecv run` hosts a user's client, counted into `recorder`; `registration` is the
    WskRegister `sock` came from (it counts the client's IRPs); `clock`, a replay's: the
    event client's work items run on it, without a thread."""
    import time

    from wskrecv.builtin import EventClient, IrpClient
    from wskrecv.hosting.host import host_builtin

    def make_client() -> IrpClient | EventClient:
        if config.mode == "irp":
            return IrpClient(config.outstanding, config.buffer_size)
        return EventClient(pend=config.pend, hold=(config.hold or 0.0) / 1000.0,
                           reject_every=config.reject_every or 0,
                           keep_every=config.keep_every or 0, static=config.static_callbacks,
                           clock=clock.seconds if clock is not None else time.monotonic,
                           virtual=clock.now_ns if clock is not None else None)

    return host_builtin(make_client, sock, recorder, registration)


def build_runner(
    provider: Provider,
    config: ReceiveConfig,
    reporter: Reporter,
    *,
    sinks: Sequence[DumpSink] = (),
    host: Optional[HostUdp] = None,
    health: Optional[Callable[[], Optional[str]]] = None,
    core: Optional[Core] = None,
    sidecar: Optional[Callable[[Recorder, WskDatagramSocket], Sidecar]] = None,
    app: Optional[AppFactory] = None,
    option_name: Callable[[str], str] = str,
    registration: Optional[WskRegistration] = None,
    faults: Optional[Injector] = None,
    clock: Optional[VirtualClock] = None,
) -> Runner:
    """The WSK model, the application, the recorder and the runner on top of an open
    provider: what a receive command runs, and what `wskrecv bench` times. `sinks` get
    every datagram, from the runner's thread (--dump, --pcap: `config.keeps_datagrams`);
    `host` reports the host's UDP counters (None: not reported); `health` says, once per
    interval, why the socket can no longer receive; `sidecar` builds what the loop
    carries beside the socket (the iperf3 server); `app` builds the application
    (default: the one `config.mode` names); `core` counts (None: this process's,
    wskrecv.core.current()); `option_name` is how the caller calls a ReceiveConfig field
    (a failed threshold's reason names it); `registration` is the client's WskRegister
    (None: a new one, for a built-in client, with `faults` injected into it: a `run`
    client's registration has them already); `clock`, a replay's (--replay): the loop,
    the statistics and the built-in client's work items run on it."""
    import threading

    from wskrecv import core as cores
    from wskrecv.hosting.lock import SocketLock
    from wskrecv.provider.broadcast import broadcast_addresses
    from wskrecv.runner import Limits, Runner
    from wskrecv.stats import Recorder
    from wskrecv.stats.thresholds import Thresholds
    from wskrecv.wsk import (
        WSK_SET_STATIC_EVENT_CALLBACKS,
        BufferPool,
        Verifier,
        WskEventCallbackControl,
        wsk_register,
    )

    # WskRelease and re-enabling come from the worker thread, which records too: the
    # socket and the recorder each need their own lock.
    threaded = config.threaded
    # Only the event style indicates datagrams out of the pool.
    pool = BufferPool(config.pool if config.mode in ("event", "client") else None)
    # The socket comes the way a driver gets one: WskRegister, WskCaptureProviderNPI and,
    # for static callbacks, WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS) first.
    # A client's own registration when it has one (`wskrecv run`: registered before its
    # constructor ran, so its IRPs are counted from there).
    if registration is None:
        registration = wsk_register(Verifier(), faults)
    npi = registration.capture_provider_npi()
    if config.static_callbacks:
        npi.control_client(WSK_SET_STATIC_EVENT_CALLBACKS, WskEventCallbackControl())
    core = core or cores.current()
    # The same indication objects and states, built natively or not.
    sock = npi.socket(lock=SocketLock() if threaded else None, pool=pool,
                      dispatch_level=config.dispatch_level, indications=core)
    sock.broadcast_addresses = broadcast_addresses()  # MSG_BCAST needs the host's
    sock.bind(provider.local_address)
    counter = core.counter
    recorder = Recorder(config.mode, seq_format=config.seq_format, host=host,
                        max_streams=config.max_streams,
                        keep_datagrams=config.keeps_datagrams,
                        lock=threading.Lock() if threaded else None, counter=counter,
                        **({"clock_ns": clock.now_ns} if clock is not None else {}))
    if app is not None:
        application = app(sock, recorder)
    else:
        from wskrecv.hosting.native import native_completer

        application = make_app(config, sock, recorder, registration, clock)
        # listen's client on the native core: its steady requests complete natively
        # (not under fault injection: the Python code, the specification, sees each call).
        if faults is None:
            sock.completer = native_completer(core.completer, sock, application)
    thresholds = Thresholds(config.max_loss, config.max_reorder)
    limits = Limits(count=config.count, duration=config.duration, timeout=config.timeout,
                    interval=config.interval)
    loop: dict = dict(
        batch=config.batch, judge=thresholds.judge(option_name) if thresholds else None,
        health=health, sinks=sinks,
        sidecar=sidecar(recorder, sock) if sidecar is not None else None,
        # Only the IRP style's receive buffers (--buffer-size) truncate.
        truncates_above=config.buffer_size if config.mode == "irp" else None,
        per_stream=config.per_stream)
    if clock is None:
        return Runner(provider, sock, application, recorder, reporter, limits, **loop)
    from wskrecv.runner.replay import ReplayRunner

    # A built-in client's work items run on the replay's clock (a `run` client's own
    # threads do not).
    work = getattr(getattr(application, "client", None), "work", None)
    return ReplayRunner(provider, sock, application, recorder, reporter, limits, clock=clock,
                        work=work if hasattr(work, "run_due") else None, grace=config.grace,
                        **loop)


__all__ = ["AppFactory", "build_runner", "make_app"]
