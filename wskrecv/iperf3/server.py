"""An iperf3 UDP server's logic, without I/O: one test at a time, like `iperf3 -s`.

`Iperf3Server` drives a `ServerConnection` (control.py) through a test and answers the
streams' connect datagrams; the figures it sends back come from wskrecv's own statistics
through the `Counting` interface (one stream = one source address and port). The I/O
adapter (service.py) feeds it bytes, datagrams and the time, writes what it returns, and
tells it when the receive side has drained after TEST_END, so the results count every
datagram the client sent that reached the socket.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional, Protocol

from wskrecv.iperf3.control import (
    ClientResults,
    ClientTerminated,
    ConnectionClosed,
    CookieReceived,
    Done,
    ParamsReceived,
    ProtocolError,
    ServerConnection,
    TestEnded,
)
from wskrecv.iperf3.params import TestParams
from wskrecv.iperf3.protocol import CONNECT_REPLIES, CONNECT_SIZE, IENOMSG, stream_id
from wskrecv.iperf3.report import SEPARATOR, stream_lines
from wskrecv.output.format import plural
from wskrecv.shown import shown

HANDSHAKE_TIMEOUT = 10.0  # seconds for the cookie, the parameters, and the stream connects
RESULTS_TIMEOUT = 10.0  # seconds for the client's results and its IPERF_DONE
RUN_GRACE = 10.0  # seconds past -t (+ -O) before a test without TEST_END is abandoned
# Seconds without a datagram before a running test is ended (iperf3's --rcv-timeout,
# whose default is 120000 ms): a client that connects its streams and sends nothing, or
# stops, must not hold the server (every other client is "busy") for as long as its -t.
RCV_TIMEOUT = 120.0
IDLE_CHECKS = 4  # looks at the streams' counts per timeout: it ends within 1/4 of it late
DRAIN_WAIT = 2.0  # at most this long after TEST_END for the socket to drain


class StreamFigures(NamedTuple):
    """What wskrecv counted for one stream (iperf3's names in the comments)."""

    packets: int  # sequences from 1 to the highest seen ("packets")
    lost: int  # of those, never seen ("errors")
    reordered: int  # arrived below the highest already seen ("out of order")
    duplicates: int
    jitter_ns: Optional[float]  # RFC 3550 ("jitter", in seconds on the wire)
    datagrams: int  # datagrams received
    bytes: int


class Counting(Protocol):
    """wskrecv's statistics, as the iperf3 server uses them."""

    def use_seq_format(self, seq_format: str) -> None:
        """Read the next streams' payloads as `seq_format` (iperf3 or iperf3-64)."""

    def expect_stream(self, remote: tuple, first: int) -> None:
        """A stream from `remote` will count from `first`: loss before its first
        datagram counts too."""

    def figures(self, remote: tuple) -> StreamFigures:
        """The stream's counts so far."""
        ...


def format_peer(addr: tuple) -> str:
    host, port = str(addr[0]), int(addr[1])
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class Stream:
    """One UDP stream of the test: iperf3's id and the address it sends from."""

    id: int
    remote: tuple
    omitted: Optional[StreamFigures] = None  # the counts when -O's omit period ended

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "address": format_peer(self.remote).rsplit(":", 1)[0].strip("[]"),
                "port": int(self.remote[1])}


@dataclass
class Test:
    """The test in progress: its cookie (iperf3's test id), client, parameters, streams."""

    __test__ = False  # not a pytest class

    cookie: str
    client: str
    params: Optional[TestParams] = None
    streams: list[Stream] = field(default_factory=list)
    running_since: Optional[float] = None
    ended_at: Optional[float] = None
    omit_at: Optional[float] = None


def _seconds(test: Test) -> float:
    if test.running_since is None:
        return 0.0
    return max(0.0, (test.ended_at or test.running_since) - test.running_since)


class Iperf3Server:
    """Serves iperf3 UDP tests one after another (`one_off`: only the first).

    The adapter calls `connection_made` for an accepted control connection while not
    `busy` (a busy server answers ACCESS_DENIED itself), `control_data` with what it
    read, `connect_datagram` for each datagram while `expecting_streams`, `quiescent`
    once the receive side has drained while `waiting_for_drain`, and `tick` with the time;
    it writes `control_output()` and closes the connection once `closing` is set.
    """

    def __init__(
        self,
        counting: Counting,
        one_off: bool = False,
        json_output: bool = False,
        cpu: Callable[[], tuple[float, float, float]] = lambda: (0.0, 0.0, 0.0),
        version: str = "wskrecv",
        rcv_timeout: float = RCV_TIMEOUT,
        window: Callable[[Optional[int]], str] = lambda size: "",
    ) -> None:
        self.counting = counting
        self.rcv_timeout = rcv_timeout
        # The client's -w: called with its size when a test starts (the adapter sets the
        # receive socket's buffer; returns words for the start line) and with None once
        # the test is over (the run's own buffer back).
        self.window = window
        self._windowed = False
        self.one_off = one_off
        self.json_output = json_output  # server output for --get-server-output: JSON or text
        self.cpu = cpu
        self.version = version
        self.conn: Optional[ServerConnection] = None
        self.peer = ""  # the control connection's client, as text
        self.test: Optional[Test] = None
        self.closing = False
        self.finished = False  # one_off and the test is over: the run may end
        self.deadline: Optional[float] = None
        self._drain_by: Optional[float] = None
        # The idle timeout while a test runs: the streams' datagrams at the last look, since
        # when that count has not moved, and when to look next (None: no test running).
        self._progress = 0
        self._quiet_since = 0.0
        self._idle_check: Optional[float] = None
        self.done = self.refused = self.failed = 0
        self.notes: deque[dict[str, Any]] = deque(maxlen=64)
        self.last = ""

    # -- the control connection ---------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.conn is not None

    def connection_made(self, peer: tuple, now: float) -> None:
        if self.conn is not None:
            raise RuntimeError("a test is in progress")
        self.conn = ServerConnection()
        self.peer = format_peer(peer)
        self.closing = False
        self.deadline = now + HANDSHAKE_TIMEOUT

    def control_data(self, data: bytes, now: float) -> None:
        """What the control socket delivered (b"": the client closed it)."""
        if self.conn is None or self.closing:
            return
        self.conn.receive_data(data)
        self._events(now)

    def control_output(self) -> bytes:
        return self.conn.data_to_send() if self.conn is not None else b""

    def connection_lost(self) -> None:
        """The adapter closed the control connection: ready for the next client."""
        started = self.test is not None
        if self._windowed:
            self._windowed = False
            self.window(None)
        self.conn = None
        self.test = None
        self.closing = False
        self.deadline = None
        self._drain_by = None
        self._idle_check = None
        if self.one_off and started:
            self.finished = True

    # -- the streams --------------------------------------------------------------------

    @property
    def expecting_streams(self) -> bool:
        return self.conn is not None and self.conn.state == "streams"

    def connect_datagram(self, data: bytes, remote: tuple, now: float) -> Optional[bytes]:
        """The reply to a stream's connect datagram, or None when `data` is not one (it is
        then test data, or stray, and counted as any datagram)."""
        if len(data) != CONNECT_SIZE or not self.expecting_streams:
            return None
        reply = CONNECT_REPLIES.get(bytes(data))
        if reply is None:
            return None
        test = self.test
        assert test is not None and test.params is not None and self.conn is not None
        if any(s.remote == remote for s in test.streams):
            return reply  # the client asked again: answer again, one stream still
        stream = Stream(stream_id(len(test.streams)), remote)
        test.streams.append(stream)
        self.counting.expect_stream(remote, 1)
        if len(test.streams) == test.params.parallel:
            self.conn.start_test()
            test.running_since = now
            if test.params.omit:
                test.omit_at = now + test.params.omit
            # -t: its end plus a grace; -n/-k: as long as datagrams keep coming. Either
            # way, no datagram for --rcv-timeout ends it.
            self.deadline = (now + test.params.time + test.params.omit + RUN_GRACE
                             if test.params.time else None)
            self._progress, self._quiet_since = 0, now
            self._idle_check = now + self.rcv_timeout / IDLE_CHECKS
            self._note(now, "running", f"test {test.cookie} running: "
                       f"{plural(len(test.streams), 'stream')} from "
                       + ", ".join(format_peer(s.remote) for s in test.streams),
                       streams=[s.as_dict() for s in test.streams])
        return reply

    # -- time and draining --------------------------------------------------------------

    @property
    def waiting_for_drain(self) -> bool:
        return self._drain_by is not None

    def next_deadline(self) -> Optional[float]:
        times = [t for t in (self.deadline, self._drain_by, self._idle_check,
                             self.test.omit_at if self.test else None) if t is not None]
        return min(times) if times else None

    def tick(self, now: float) -> None:
        test = self.test
        if test is not None and test.omit_at is not None and now >= test.omit_at:
            test.omit_at = None
            for s in test.streams:
                s.omitted = self.counting.figures(s.remote)
        if self._drain_by is not None and now >= self._drain_by:
            self.quiescent(now)  # the socket keeps receiving: answer with what we have
        if self._idle_check is not None and now >= self._idle_check:
            self._look_for_data(now)
        if self.deadline is not None and now >= self.deadline and self.conn is not None:
            self._fail(now, f"timed out in state {self.conn.state}")

    def _look_for_data(self, now: float) -> None:
        """While a test runs: end it, as iperf3's --rcv-timeout does, once its streams
        have brought no datagram for `rcv_timeout` seconds."""
        test, conn = self.test, self.conn
        if test is None or conn is None or conn.state != "running":
            self._idle_check = None
            return
        total = sum(self.counting.figures(s.remote).datagrams for s in test.streams)
        if total != self._progress:
            self._progress, self._quiet_since = total, now
        if now - self._quiet_since < self.rcv_timeout:
            self._idle_check = min(self._quiet_since + self.rcv_timeout,
                                   now + self.rcv_timeout / IDLE_CHECKS)
            return
        self._idle_check = None
        conn.abort(IENOMSG)  # the client prints "idle timeout for receiving data"
        self._fail(now, f"no datagram for {self.rcv_timeout:g} s (--rcv-timeout): "
                   "idle timeout for receiving data")

    def terminate(self) -> bytes:
        """The run is ending: SERVER_TERMINATE for a client in the middle of a test (what
        to write before closing the connection)."""
        if self.conn is None:
            return b""
        if self.test is not None:
            self.failed += 1
            self._note(0.0, "error", f"test {self.test.cookie} from {self.test.client}: "
                       "ended by the end of the run")
        self.conn.terminate()
        self.closing = True
        return self.conn.data_to_send()

    def quiescent(self, now: float) -> None:
        """Everything the socket held has been counted: results may go."""
        if self._drain_by is None or self.conn is None:
            return
        self._drain_by = None
        self.conn.exchange_results()
        self.deadline = now + RESULTS_TIMEOUT
        self._events(now)

    # -- events -------------------------------------------------------------------------

    def _events(self, now: float) -> None:
        conn = self.conn
        while conn is not None and not self.closing:
            event = conn.next_event()
            if event is None:
                return
            if isinstance(event, CookieReceived):
                self.test = Test(event.cookie, self.peer)
            elif isinstance(event, ParamsReceived):
                self._params(event.params, now)
            elif isinstance(event, TestEnded):
                assert self.test is not None
                self.test.ended_at = now
                self.deadline = None
                self._idle_check = None
                self._drain_by = now + DRAIN_WAIT
            elif isinstance(event, ClientResults):
                self._send_results(event.results, now)
            elif isinstance(event, Done):
                self.done += 1
                self.closing = True
            elif isinstance(event, ClientTerminated):
                self._fail(now, f"the client terminated the test (in state {event.state})")
            elif isinstance(event, ConnectionClosed):
                self._fail(now, f"the client closed the control connection in state {event.state}")
            elif isinstance(event, ProtocolError):
                self._fail(now, f"protocol error: {event.message}")

    def _params(self, raw: dict[str, Any], now: float) -> None:
        test, conn = self.test, self.conn
        assert test is not None and conn is not None
        params = TestParams.parse(raw)
        test.params = params
        refusal = params.refusal()
        if refusal is not None:
            conn.refuse(refusal.i_errno, refusal.errno)
            self.refused += 1
            self.closing = True
            self._note(now, "refused", f"test {test.cookie} from {test.client} refused: "
                       f"{refusal.reason} (iperf3 error {refusal.i_errno})", error=refusal.i_errno)
            return
        self.counting.use_seq_format(params.seq_format)
        conn.create_streams()
        self.deadline = now + HANDSHAKE_TIMEOUT
        described = params.describe()
        if params.window:  # -w: as iperf3's server, the receive buffer the client asked for
            self._windowed = True
            described += f", {self.window(params.window)}"
        self._note(now, "start", f"test {test.cookie} from {test.client}: {described}",
                   params={"parallel": params.parallel, "blksize": params.blksize,
                           "bandwidth": params.bandwidth, "time": params.time,
                           "num": params.num, "blockcount": params.blockcount,
                           "window": params.window,
                           "omit": params.omit, "seq_format": params.seq_format,
                           "client_version": params.client_version})

    def _fail(self, now: float, why: str) -> None:
        test = self.test
        if test is not None:
            self.failed += 1
            self._note(now, "error", f"test {test.cookie} from {test.client}: {why}")
        else:
            self._note(now, "error", f"control connection from {self.peer}: {why}")
        self._drain_by = None
        self._idle_check = None
        self.closing = True

    def _note(self, now: float, event: str, message: str, **extra: Any) -> None:
        test = self.test
        message = shown(message, None)  # a peer's words in it are escaped already; be sure
        note = {"event": event, "test": test.cookie if test else None,
                "client": test.client if test else self.peer, "message": message, **extra}
        self.notes.append(note)
        self.last = message

    # -- results ------------------------------------------------------------------------

    def _send_results(self, client: dict[str, Any], now: float) -> None:
        test, conn = self.test, self.conn
        assert test is not None and conn is not None and test.params is not None
        seconds = _seconds(test)
        rows = []
        for s in test.streams:
            f = self.counting.figures(s.remote)
            o = s.omitted
            rows.append((s, f, o))
        total, user, system = self.cpu()
        results: dict[str, Any] = {
            "cpu_util_total": total, "cpu_util_user": user, "cpu_util_system": system,
            "sender_has_retransmits": -1,
            "streams": [
                {"id": s.id, "bytes": f.bytes, "retransmits": -1,
                 "jitter": (f.jitter_ns or 0.0) / 1e9, "errors": f.lost,
                 "omitted_errors": o.lost if o else 0, "packets": f.packets,
                 "omitted_packets": o.packets if o else 0,
                 "start_time": 0, "end_time": seconds}
                for s, f, o in rows
            ],
        }
        report = server_report(test, rows, seconds, self.version)
        if test.params.get_server_output:
            if self.json_output:
                results["server_output_json"] = report
            else:
                results["server_output_text"] = report_text(report)
        conn.send_results(results)
        self.deadline = now + RESULTS_TIMEOUT
        sent = _client_packets(client)
        packets = sum(f.packets for _, f, _ in rows)
        lost = sum(f.lost for _, f, _ in rows)
        received = sum(f.datagrams for _, f, _ in rows)
        tail = f", client sent {sent}" if sent is not None else ""
        streams = [dict(s.as_dict(), **row["udp"]) for s, row in
                   zip(test.streams, report["end"]["streams"])]
        self._note(now, "end", f"test {test.cookie} done: {received} datagrams received, "
                   f"{lost}/{packets} lost in {seconds:.2f} s{tail}",
                   received=received, lost=lost, packets=packets, client_sent=sent,
                   seconds=round(seconds, 6), streams=streams,
                   report=[SEPARATOR, *stream_lines(_counted(report["end"]["streams"]), seconds)])

    # -- snapshots ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The server's state for snapshots (JSON lines, dashboard, summary)."""
        test = self.test
        if self.conn is None:
            state = "idle"
        else:
            state = {"cookie": "handshake", "params": "handshake", "decide": "handshake",
                     "streams": "streams", "running": "running"}.get(self.conn.state, "results")
        return {
            "state": state,
            "test": test.cookie if test else None,
            "client": test.client if test else None,
            "streams": [s.as_dict() for s in test.streams] if test else [],
            "tests_done": self.done,
            "tests_refused": self.refused,
            "tests_failed": self.failed,
            "last": self.last,
        }


def _client_packets(results: dict[str, Any]) -> Optional[int]:
    """The datagrams the client says it sent (its own results), when it says so."""
    streams = results.get("streams")
    if not isinstance(streams, list):
        return None
    total = 0
    for s in streams:
        n = s.get("packets") if isinstance(s, dict) else None
        if not isinstance(n, int) or isinstance(n, bool):
            return None
        total += n
    return total


def server_report(test: Test, rows: list, seconds: float, version: str) -> dict[str, Any]:
    """The server output a client asks for with --get-server-output, in the shape of
    iperf3's own server JSON (start, end.streams[].udp, end.sum), with wskrecv's counts."""
    streams = []
    for s, f, o in rows:
        lost = f.lost - (o.lost if o else 0)  # after -O's omit period, as iperf3 reports
        packets = f.packets - (o.packets if o else 0)
        nbytes = f.bytes - (o.bytes if o else 0)
        streams.append({"udp": {
            "socket": s.id, "start": 0, "end": seconds, "seconds": seconds, "bytes": nbytes,
            "bits_per_second": nbytes * 8 / seconds if seconds else 0.0,
            "jitter_ms": (f.jitter_ns or 0.0) / 1e6, "lost_packets": lost,
            "packets": packets, "lost_percent": 100.0 * lost / packets if packets else 0.0,
            "out_of_order": f.reordered, "duplicates": f.duplicates,
            "received": f.datagrams - (o.datagrams if o else 0), "sender": False,
        }})
    udp = [row["udp"] for row in streams]
    packets = sum(u["packets"] for u in udp)
    lost = sum(u["lost_packets"] for u in udp)
    total_bytes = sum(u["bytes"] for u in udp)
    jitters = [u["jitter_ms"] for u in udp]
    return {
        "start": {"version": version, "cookie": test.cookie,
                  "connected": [{"socket": s.id, "remote_host": s.as_dict()["address"],
                                 "remote_port": s.as_dict()["port"]} for s, _, _ in rows]},
        "intervals": [],
        "end": {"streams": streams, "sum": {
            "start": 0, "end": seconds, "seconds": seconds, "bytes": total_bytes,
            "bits_per_second": total_bytes * 8 / seconds if seconds else 0.0,
            "jitter_ms": sum(jitters) / len(jitters) if jitters else 0.0,
            "lost_packets": lost, "packets": packets,
            "lost_percent": 100.0 * lost / packets if packets else 0.0,
            "out_of_order": sum(u["out_of_order"] for u in udp),
            "received": sum(u["received"] for u in udp), "sender": False}},
    }


def _counted(streams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's stream objects as report.stream_lines reads them."""
    return [{"id": u["socket"], **u} for u in (row["udp"] for row in streams)]


def report_text(report: dict[str, Any]) -> str:
    """The same report as text, in iperf3's receiver layout: a line per stream, [SUM]
    with more than one (a server without --json)."""
    lines = [f"{report['start']['version']}: test {report['start']['cookie']}",
             *stream_lines(_counted(report["end"]["streams"]), report["end"]["sum"]["seconds"])]
    return "\n".join(lines) + "\n"
