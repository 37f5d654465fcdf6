"""`--metrics [ADDR:]PORT`: the run's statistics at /metrics for Prometheus.

Exposed with the prometheus_client library from frozen state only: the receive loop (or,
with --workers, the parent) hands the endpoint each worker's latest `stats.merge.Partial`
and a custom collector turns them into metric families when Prometheus scrapes. Nothing
on the receive path touches a metric object. Every series carries `mode` (irp, event),
`worker` (0 for a one-process run; 0..N-1 with --workers, so `sum without (worker)` is the
merged total: each worker counts its own datagrams) and the --metrics-label pairs.

Histograms: datagram sizes use the recorder's power-of-two buckets exactly (le = 2**b - 1
bytes, _sum = bytes received). Latencies come from the recorder's log-linear histogram,
re-bucketed at powers of two nanoseconds (le = 2**k ns, 1.024 us to 17.2 s): each bucket
counts the values below its bound exactly (values are whole nanoseconds; one exactly on a
bound counts in the next bucket). Every histogram is complete: _count is the +Inf
bucket and _sum the exact sum (bytes received; latencies summed in whole nanoseconds by
the counting kernel), so rate(_sum)/rate(_count) is the mean.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional
from wsgiref.simple_server import make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from wskrecv.errors import OsFailure, UsageError
from wskrecv.output.exposition import MAX_CONNECTIONS, TIMEOUT, QuietHandler, server_class
from wskrecv.shown import shown
from wskrecv.stats.latency import bucket_of
from wskrecv.stats.merge import Counts, Partial, capture
from wskrecv.stats.sizes import SIZE_BUCKETS

LATENCY_BOUNDS_NS = tuple(1 << k for k in range(10, 35))  # 1.024 us .. 17.2 s
_LATENCY_EDGES = tuple(bucket_of(b) for b in LATENCY_BOUNDS_NS)  # first bucket >= bound
METRICS_PERIOD = 1.0  # seconds: the longest a one-process run's /metrics lags behind
RESERVED_LABELS = ("mode", "worker", "rule", "le", "quantile")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# (metric name, help, Snapshot attribute, counter?). Counters get _total. Lost sequences
# and late datagrams are gauges: a reordered datagram that fills a gap lowers `lost`, and
# a sender's restart takes back one `late` (stats/sequence.py), and a counter that falls
# would read as a reset to Prometheus.
SNAPSHOT_METRICS = (
    ("wskrecv_datagrams_received", "Datagrams received and counted.", "received", True),
    ("wskrecv_received_bytes", "Payload bytes received (after any truncation).", "bytes", True),
    ("wskrecv_datagrams_truncated", "Datagrams longer than the receive buffer (MSG_TRUNC).",
     "truncated", True),
    ("wskrecv_kernel_drops", "Datagrams the kernel dropped for the socket (queue full) "
     "during this run.", "kernel_drops", True),
    ("wskrecv_kernel_drops_before_run", "Datagrams the kernel dropped for an inherited socket "
     "before this run (not in wskrecv_kernel_drops_total).", "kernel_drops_before_run", False),
    ("wskrecv_sequences_expected", "Sequences from the lowest to the highest seen, per stream "
     "(the denominator of loss).", "expected", True),
    ("wskrecv_sequences_lost", "Sequences not received between the lowest and highest seen "
     "(falls when a late arrival fills a gap).", "lost", False),
    ("wskrecv_datagrams_reordered", "Datagrams that arrived after a higher sequence.",
     "reordered", True),
    ("wskrecv_datagrams_duplicated", "Datagrams whose sequence had been seen before.",
     "duplicates", True),
    ("wskrecv_datagrams_corrupt", "Datagrams whose payload failed its checksum.", "corrupt",
     True),
    ("wskrecv_datagrams_unsequenced", "Datagrams without a recognised sequence header.",
     "unsequenced", True),
    ("wskrecv_datagrams_late", "Datagrams too far behind the highest sequence to classify.",
     "late", False),
    ("wskrecv_datagrams_unread_at_exit", "Datagrams left in the socket queue when the run "
     "ended.", "unread_at_exit", True),
)
# (metric name, help, JSON field of the receive style's statistics, counter?)
MODE_METRICS = (
    ("wskrecv_irps_completed", "Receive IRPs completed.", "completions", True),
    ("wskrecv_irps_cancelled", "Receive IRPs cancelled (IoCancelIrp, socket close).",
     "cancellations", True),
    ("wskrecv_indication_lists_pended", "Event callbacks that returned STATUS_PENDING.",
     "pended", True),
    ("wskrecv_indications_released", "Retained datagram indications given back with WskRelease.",
     "released", True),
    ("wskrecv_indication_lists_rejected", "Event callbacks that returned "
     "STATUS_DATA_NOT_ACCEPTED.", "rejected", True),
    ("wskrecv_indications_leaked", "Retained datagram indications never released before close.",
     "leaked", True),
    ("wskrecv_irps_outstanding", "Receive IRPs posted and not yet completed.", "outstanding",
     False),
    ("wskrecv_pool_buffers_in_use", "Indication buffers held (retained or being indicated).",
     "pool_in_use", False),
)


def parse_address(text: str) -> tuple[str, int]:
    """`--metrics [ADDR:]PORT`: (host, port); ADDR defaults to 127.0.0.1, [v6]:PORT works."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise UsageError(f"--metrics {text}: give an address before the colon, or only a port")
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"--metrics {text}: {port!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise UsageError(f"--metrics {text}: port {number} is out of range 0-65535")
    return host, number


def parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    """`--metrics-label KEY=VALUE`, repeated: Prometheus label names, none reserved."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _LABEL_NAME.match(key) or key.startswith("__"):
            raise UsageError(f"--metrics-label {pair}: expected KEY=VALUE with KEY a label name "
                             "(letters, digits, _; not starting with __)")
        if key in RESERVED_LABELS:
            raise UsageError(f"--metrics-label {pair}: {key!r} is set by wskrecv itself")
        if key in labels:
            raise UsageError(f"--metrics-label {pair}: {key!r} is given twice")
        labels[key] = value
    return labels


def _resolve(host: str, port: int) -> tuple[int, tuple]:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--metrics: cannot resolve {host!r}: {exc}") from None
    return info[0], info[4]


def is_loopback(sockaddr: tuple) -> bool:
    return ipaddress.ip_address(sockaddr[0].split("%")[0]).is_loopback


def _cumulative(counts: Counts, edges: Sequence[int]) -> list[int]:
    """For each edge, how many values lie in buckets below it."""
    out = []
    it = iter(sorted(counts))
    pending = next(it, None)
    running = 0
    for edge in edges:
        while pending is not None and pending[0] < edge:
            running += pending[1]
            pending = next(it, None)
        out.append(running)
    return out


class Collector:
    """Metric families from the latest Partials, built at scrape time."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.user = labels
        self.parts: tuple[Partial, ...] = ()  # replaced whole, never mutated

    def _labels(self, p: Partial) -> list[str]:
        return [p.snap.mode, str(p.worker), *self.user.values()]

    def collect(self) -> Iterator[Any]:
        parts = self.parts
        names = ["mode", "worker", *self.user]
        for name, doc, attr, counter in SNAPSHOT_METRICS:
            kind = CounterMetricFamily if counter else GaugeMetricFamily
            family = kind(name, doc, labels=names)
            for p in parts:
                value = getattr(p.snap, attr, None)
                if value is not None:  # a field this version's snapshots lack: no series
                    family.add_metric(self._labels(p), value)
            if family.samples:
                yield family
        violations = CounterMetricFamily(
            "wskrecv_api_violations", "WSK API rule violations, by rule.", labels=[*names, "rule"])
        for p in parts:
            for rule, n in p.snap.violations_by_rule.items():
                violations.add_metric([*self._labels(p), rule], n)
        yield violations
        for name, doc, key, counter in MODE_METRICS:
            kind = CounterMetricFamily if counter else GaugeMetricFamily
            family = kind(name, doc, labels=names)
            for p in parts:
                mode = p.snap.mode_json()
                if key in mode:
                    family.add_metric(self._labels(p), mode[key])
            if family.samples:
                yield family
        yield from self._iperf3(parts, names)
        yield from self._histograms(parts, names)

    def _iperf3(self, parts: Sequence[Partial], names: list[str]) -> Iterator[Any]:
        """The iperf3 server's tests (--iperf3): counted by outcome; the test in progress
        as an info gauge naming its id (iperf3's cookie) and client, and its streams."""
        served = [p for p in parts if p.snap.iperf3 is not None]
        if not served:
            return
        tests = CounterMetricFamily("wskrecv_iperf3_tests", "iperf3 tests served, by result "
                                    "(done, refused, failed).", labels=[*names, "result"])
        denied = CounterMetricFamily("wskrecv_iperf3_connections_denied", "iperf3 control "
                                     "connections turned away while a test ran.", labels=names)
        streams = GaugeMetricFamily("wskrecv_iperf3_streams", "Streams of the iperf3 test in "
                                    "progress (0: none).", labels=names)
        info = GaugeMetricFamily("wskrecv_iperf3_test_info", "The iperf3 test in progress: its "
                                 "id (cookie), client and state.",
                                 labels=[*names, "test", "client", "state"])
        for p in served:
            i, labels = p.snap.iperf3, self._labels(p)
            for result in ("done", "refused", "failed"):
                tests.add_metric([*labels, result], i.get(f"tests_{result}", 0))
            denied.add_metric(labels, i.get("denied", 0))
            streams.add_metric(labels, len(i.get("streams") or ()))
            if i.get("test"):
                # The cookie and address came from the peer: shown escaped, as everywhere.
                info.add_metric([*labels, shown(i["test"]), shown(i.get("client") or ""),
                                 i["state"]], 1)
        yield from (tests, denied, streams, info)

    def _histograms(self, parts: Sequence[Partial], names: list[str]) -> Iterator[Any]:
        for name, doc, attr in (
            ("wskrecv_one_way_latency_seconds",
             "Kernel receive time minus the sender's time stamp.", "owd"),
            ("wskrecv_app_latency_seconds",
             "Completion (callback) time minus kernel receive time.", "app"),
        ):
            family = HistogramMetricFamily(name, doc, labels=names)
            for p in parts:
                counts = getattr(p, attr)
                below = _cumulative(counts, _LATENCY_EDGES)
                total = sum(c for _, c in counts)
                buckets = [(repr(b / 1e9), n) for b, n in zip(LATENCY_BOUNDS_NS, below)]
                family.add_metric(self._labels(p), [*buckets, ("+Inf", total)],
                                  getattr(p, f"{attr}_sum") / 1e9)
            yield family
        sizes = HistogramMetricFamily(
            "wskrecv_datagram_size_bytes", "Datagram sizes as received.", labels=names)
        for p in parts:
            z = p.snap.sizes
            buckets, running = [], 0
            for b in range(SIZE_BUCKETS):
                running += z.histogram[b]
                buckets.append((str((1 << b) - 1), running))
            sizes.add_metric(self._labels(p), [*buckets, ("+Inf", z.count)], z.total)
        yield sizes


class MetricsEndpoint:
    """The /metrics HTTP server: bound at once (so a port in use fails before the run),
    served from a daemon thread once `start` is called (after the workers are forked)."""

    def __init__(
        self, address: str, labels: Sequence[str] = (), allow_remote: bool = False,
        max_connections: int = MAX_CONNECTIONS, timeout: float = TIMEOUT,
    ) -> None:
        host, port = parse_address(address)
        family, sockaddr = _resolve(host, port)
        if not allow_remote and not is_loopback(sockaddr):
            raise UsageError(
                f"--metrics {address}: not a loopback address; the metrics reveal the traffic "
                "received (sources, rates, loss): add --metrics-allow-remote to serve them "
                "to the network")
        self.collector = Collector(parse_labels(labels))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.collector)  # type: ignore[arg-type]
        try:
            self.server = make_server(sockaddr[0], sockaddr[1], make_wsgi_app(registry),
                                      server_class(family, max_connections, timeout),
                                      handler_class=QuietHandler)
        except OSError as exc:
            where = f"[{sockaddr[0]}]:{port}" if family == socket.AF_INET6 else f"{sockaddr[0]}:{port}"
            raise OsFailure(f"--metrics: cannot listen on {where}: "
                            f"{exc.strerror or exc}") from None
        self.host = sockaddr[0]
        self.port: int = self.server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def describe(self, info: dict[str, Any]) -> None:
        """Add the endpoint to a run's start information (start line and object)."""
        info["metrics_url"] = self.url
        info["metrics_port"] = self.port
        info["detail"] += f", metrics at {self.url}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="wskrecv-metrics",
                                        daemon=True)
        self._thread.start()

    def take_notes(self) -> list[dict[str, Any]]:
        """What the server said since the last call (out of descriptors, a connection it
        could not serve...), as reporter notes: for the receive loop's thread to report."""
        return [{"type": "metrics", "event": "error", "message": m}
                for m in self.server.take_notes()]

    def update(self, parts: Sequence[Partial]) -> None:
        """The latest Partial of each worker (frozen): what the next scrape shows."""
        self.collector.parts = tuple(sorted(parts, key=lambda p: p.worker))

    def linger(self, seconds: float) -> None:
        """Keep serving for `seconds` after the run, so a last scrape sees the final
        counts; Ctrl-C, SIGTERM or SIGHUP ends the wait early (as each ends a run)."""
        if seconds <= 0 or self._thread is None:
            return
        done = threading.Event()

        def wake(_signum: int, _frame: Any) -> None:
            done.set()

        old: dict[int, Any] = {}
        try:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                old[signum] = signal.signal(signum, wake)
        except ValueError:  # not the main thread
            pass
        try:
            done.wait(seconds)
        finally:
            for signum, handler in old.items():
                signal.signal(signum, handler)

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()


class MetricsReporter:
    """Wraps a one-process run's reporter: every interval and the summary also update the
    endpoint with a Partial of the recorder (stats.merge.capture), and so do frames, which
    it asks for at least every METRICS_PERIOD seconds (with -i 0 there are no intervals).
    Everything else goes to the wrapped reporter."""

    def __init__(self, inner: Any, endpoint: MetricsEndpoint,
                 recorder: Callable[[], Any]) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.recorder = recorder  # the recorder, once the runner is built
        self._last = 0.0  # time.monotonic() of the last update

    def _update(self, snap: Any) -> None:
        self._last = time.monotonic()
        self.endpoint.update([capture(self.recorder(), snap)])
        for note in self.endpoint.take_notes():
            self.inner.note(note)

    @property
    def frame_interval(self) -> Optional[float]:
        inner = self.inner.frame_interval
        return METRICS_PERIOD if inner is None else min(inner, METRICS_PERIOD)

    def frame(self, snap: Any) -> None:
        if time.monotonic() - self._last >= METRICS_PERIOD / 2:
            self._update(snap)
        if self.inner.frame_interval is not None:
            self.inner.frame(snap)

    def interval(self, snap: Any) -> None:
        self._update(snap)
        self.inner.interval(snap)

    def summary(self, snap: Any, status: Any, reason: str, **kwargs: Any) -> None:
        self._update(snap)
        self.inner.summary(snap, status, reason, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


__all__ = ["MetricsEndpoint", "MetricsReporter", "parse_address", "parse_labels"]
