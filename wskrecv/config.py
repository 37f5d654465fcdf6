"""The receive commands' and the benchmark's configuration: every option with its
default, and what a receive configuration says of itself (its start line's detail).

The command line (commands/) reads its defaults from here, and nothing else spells them.
No click, and nothing heavy: `--help` imports this module (tests/cli/test_startup.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

RECEIVE_MODES = ("irp", "event", "client")
# What `wskrecv bench --mode` measures, in report order (wskrecv.bench.targets builds
# one target per name).
BENCH_MODES = ("c", "python", "irp-1", "irp-64", "event", "event-pend")


CHARTS = ("auto", "datagrams", "bits", "loss")  # --chart: what the dashboard charts


@dataclass(frozen=True)
class ReceiveConfig:
    """Every option of the receive commands, with its default. `mode` is "irp" (`listen`)
    or "event" (`event`); the options of the other mode keep their defaults."""

    mode: str = "irp"
    # The socket.
    bind_host: Optional[str] = None  # None: :: dual-stack, or 0.0.0.0 without IPv6
    port: int = 5001
    rcvbuf: Optional[int] = None  # None: the provider's default (64 MiB asked for)
    fd: Optional[int] = None  # receive on this inherited descriptor
    address_given: bool = False  # bind_host or port was named, not defaulted
    join: tuple[str, ...] = ()  # multicast groups to join (provider/multicast.py)
    join_source: tuple[str, ...] = ()  # their senders, for source-specific joins
    iface: Optional[str] = None  # the interface of the joins: a name or an index
    bind_dev: Optional[str] = None  # SO_BINDTODEVICE
    # When the run ends.
    count: Optional[int] = None
    duration: Optional[float] = None
    timeout: Optional[float] = None
    interval: float = 1.0
    # Output.
    as_json: bool = False
    dump: bool = False
    quiet: bool = False
    pcap: Optional[str] = None  # "-": standard output
    live: Optional[bool] = None  # None: when stderr is a terminal someone watches
    csv: bool = False  # interval rows on stdout in iperf2's -y C layout
    timestamps: Optional[str] = None  # strftime format before every human line
    chart: str = "auto"  # the dashboard's chart: auto, datagrams, bits, loss
    # Analysis and judgement.
    seq_format: str = "auto"
    per_stream: bool = False  # every stream's figures in intervals and the summary table
    tos_ttl: bool = False  # count each packet's TOS (DSCP/ECN) and TTL per value
    max_streams: int = 1024  # streams tracked at once (stats/sequence.py MAX_STREAMS)
    max_loss: Optional[float] = None
    max_reorder: Optional[float] = None
    # The iperf3 server (wskrecv/iperf3/): TCP control connections on the same port.
    iperf3: bool = False
    one_off: bool = False  # end the run after the first iperf3 test
    rcv_timeout: float = 120.0  # seconds without a datagram that end a running test (iperf3's)
    # IRP style (`listen`).
    # A driver keeps several receives posted so that a burst finds one ready: with one,
    # every datagram waits for the previous completion routine, the slowest shape (the
    # README's "-n 1 against -n 64" has the measured figure; wskrecv bench -m python -m
    # irp-1 -m irp-64 measures it again). Its 64 buffers of --buffer-size cost 4 MiB. -n 1
    # is the classic WSK sample's shape.
    outstanding: int = 64
    buffer_size: int = 65535
    # Event style (`event`).
    batch: int = 64
    pool: int = 4096
    pend: bool = False
    hold: Optional[float] = None  # milliseconds; None: 0 (only with pend or keep_every)
    reject_every: Optional[int] = None
    keep_every: Optional[int] = None  # partial release inside the callback
    static_callbacks: bool = False  # WSK_SET_STATIC_EVENT_CALLBACKS before WskSocket
    dispatch_level: bool = False  # callbacks as if at DISPATCH_LEVEL
    # Your own client (`run`, mode "client").
    client: Optional[str] = None  # the file
    client_class: Optional[str] = None  # None: the one client class it defines
    grace: float = 2.0  # seconds a client routine may run on once the run should end
    # Fault injection (wskrecv/wsk/inject.py) and replay of a capture (wskrecv/replay/).
    inject: tuple[tuple[str, float], ...] = ()  # (kind, rate), kinds in FaultKind's order
    seed: Optional[int] = None  # None: drawn at random (and said, so the run can be repeated)
    inject_status: Optional[str] = None  # `receive`'s failure; None: INSUFFICIENT_RESOURCES
    inject_delay: Optional[float] = None  # seconds: `delay`'s bound; None: 10 ms
    inject_systematic: Optional[int] = None  # the systematic mode's most runs; None: off
    fail_call: Optional[int] = None  # the systematic mode's run: the one call it fails
    replay: Optional[str] = None  # a capture file ("-": standard input) instead of a socket
    replay_filter: Optional[str] = None  # which of its datagrams; None: to the bound port
    # Scale out (wskrecv/workers/) and the Prometheus endpoint (output/metrics.py).
    workers: Optional[int] = None  # None: one process, no SO_REUSEPORT
    cpu_affinity: bool = False
    metrics: Optional[str] = None  # "[ADDR:]PORT"
    metrics_label: tuple[str, ...] = ()  # "KEY=VALUE" each
    metrics_linger: float = 5.0  # seconds /metrics stays up after the run
    metrics_allow_remote: bool = False
    metrics_connections: int = 16  # served at once; the oldest makes room for a new one
    metrics_timeout: float = 10.0  # seconds of silence before a connection is closed

    @property
    def ip_fields(self) -> bool:
        """Whether the socket asks for each packet's TOS and TTL: --tos-ttl counts them,
        --dump shows them (and counts them too)."""
        return self.tos_ttl or self.dump

    @property
    def keeps_datagrams(self) -> bool:
        """Whether every datagram goes to an output (--dump, --pcap)."""
        return self.dump or self.pcap is not None

    @property
    def injects(self) -> bool:
        """Whether faults are injected (--inject, or the systematic mode)."""
        return bool(self.inject) or self.inject_systematic is not None

    @property
    def threaded(self) -> bool:
        """Whether a worker thread calls into the socket (WskRelease, re-enabling); a
        client may have threads of its own."""
        return self.mode == "client" or self.mode == "event" and (
            self.pend or self.reject_every is not None or bool(self.keep_every)
        )

    def describe(self) -> tuple[str, dict[str, Any]]:
        """The start line's detail and the mode's own start fields."""
        if self.mode == "irp":
            from wskrecv.output.format import plural

            detail = (f"IRP style, {plural(self.outstanding, 'receive')} outstanding, "
                      f"{self.buffer_size}-byte buffers")
            return detail, {"outstanding": self.outstanding, "buffer_size": self.buffer_size}
        if self.mode == "client":
            detail = f"client from {self.client}, lists of up to {self.batch}, pool {self.pool}"
            if self.dispatch_level:
                detail += ", callbacks at DISPATCH_LEVEL"
            return detail, {"file": self.client, "batch": self.batch, "pool": self.pool,
                            "dispatch_level": self.dispatch_level}
        from wskrecv.output.format import ordinal

        hold_ms = self.hold or 0.0
        if self.keep_every:
            which = "datagram" if self.keep_every == 1 else f"{ordinal(self.keep_every)} datagram"
            style = (f"STATUS_PENDING for every {which} (released after "
                     f"{hold_ms:g} ms), the rest WskReleased inside the callback")
        elif self.pend:
            style = f"STATUS_PENDING, released after {hold_ms:g} ms"
        else:
            style = "STATUS_SUCCESS"
        if self.reject_every:
            which = "call" if self.reject_every == 1 else f"{ordinal(self.reject_every)} call"
            style += f", STATUS_DATA_NOT_ACCEPTED every {which}"
        enabled = "static callbacks" if self.static_callbacks else "SO_WSK_EVENT_CALLBACK"
        if self.dispatch_level:
            enabled += ", at DISPATCH_LEVEL"
        detail = (f"event style ({enabled}), callback returns {style}, lists of up to "
                  f"{self.batch}, pool {self.pool}")
        return detail, {
            "batch": self.batch,
            "pool": self.pool,
            "pend": self.pend,
            "hold_ms": hold_ms,
            "reject_every": self.reject_every or 0,
            "keep_every": self.keep_every or 0,
            "static_callbacks": self.static_callbacks,
            "dispatch_level": self.dispatch_level,
        }


@dataclass(frozen=True)
class BenchConfig:
    """What `wskrecv bench` measures, with the defaults of its options."""

    size: int = 64
    count: int = 100_000
    rounds: int = 5
    live: bool = False
    rcvbuf: Optional[int] = None  # live runs only; None: what the receive commands ask for
    modes: tuple[str, ...] = ()  # empty: all of BENCH_MODES


__all__ = ["BENCH_MODES", "RECEIVE_MODES", "BenchConfig", "ReceiveConfig"]
