"""`listen --iperf3` and `event --iperf3` against the real iperf3 client (Debian's iperf3,
which .ci/run installs when missing): the client prints what wskrecv counted."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
from typing import Any, Callable, Optional

import pytest

from tests.conftest import Wskrecv, popen, read_line, skip_no_ipv6

IPERF3 = shutil.which("iperf3") or ""
pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(not IPERF3, reason="iperf3 is not installed (.ci/run installs it)"),
]
COOKIE = b"wskrecvtestcookie0123456789abcdefghi\0"


def client(port: int, *args: str, host: str = "127.0.0.1") -> tuple[int, Optional[dict], str]:
    """Run the iperf3 client; (exit status, its JSON when --json, stderr)."""
    r = subprocess.run([IPERF3, "-c", host, "-p", str(port), *args], capture_output=True,
                       text=True, timeout=60)
    out = json.loads(r.stdout) if "--json" in args and r.stdout.strip() else None
    return r.returncode, out, r.stdout + r.stderr


def port_free_for_both(bind: str) -> int:
    """A port free right now on TCP and on UDP: --iperf3 listens on TCP on the UDP port's
    number, and an ephemeral UDP port may be some other socket's TCP port."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as tcp, \
                socket.socket(family, socket.SOCK_DGRAM) as udp:
            tcp.bind((bind, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((bind, port))
            except OSError:
                continue
            return port
    raise AssertionError("no port free on both TCP and UDP")


def serve(*args: str, bind: str = "127.0.0.1") -> Wskrecv:
    rx = Wskrecv(*args, "--iperf3", bind=bind, port=port_free_for_both(bind))
    assert rx.start["iperf3_port"] == rx.port
    return rx


def summary_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (summary,) = [o for o in objs if o["type"] == "summary"]
    return summary


def notes(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if o["type"] == "iperf3"]


def check_same_figures(result: dict, summary: dict) -> None:
    """The client's receiver figures are wskrecv's."""
    received = result["end"]["sum_received"]
    assert received["lost_packets"] == summary["lost"]
    # iperf3's "packets" is the highest sequence seen (received + lost)
    assert received["packets"] - received["lost_packets"] == summary["received"]
    if summary["lost"] == 0:
        assert received["packets"] == summary["received"]
    assert received["jitter_ms"] == pytest.approx(summary["jitter_ms"], abs=2e-6)
    server = result["server_output_json"]["end"]["sum"]
    assert server["out_of_order"] == summary["reordered"]
    assert server["received"] == summary["received"]


@pytest.mark.parametrize("mode", [["listen"], ["event"]], ids=["listen", "event"])
def test_the_client_prints_what_wskrecv_counted(mode: list[str]) -> None:
    with serve(*mode, "--one-off") as rx:
        status, result, text = client(rx.port, "-u", "-b", "20M", "-t", "2", "--json",
                                      "--get-server-output")
        code, objs, err = rx.finish()
    assert status == 0 and result is not None, text
    assert code == 0, err
    summary = summary_of(objs)
    assert summary["reason"] == "iperf3 test done (--one-off)"
    assert summary["received"] > 0
    check_same_figures(result, summary)
    cookie = result["start"]["cookie"]
    assert [n["event"] for n in notes(objs)] == ["start", "running", "end"]
    assert {n["test"] for n in notes(objs)} == {cookie}
    running = [o for o in objs if o["type"] == "interval" and o["iperf3"]["state"] == "running"]
    assert running and running[-1]["iperf3"]["test"] == cookie
    assert summary["iperf3"]["tests_done"] == 1


@pytest.mark.parametrize(
    "mode, args, bind",
    [
        (["event"], ["-P", "4"], "127.0.0.1"),
        (["listen", "-n", "64"], ["-l", "1400"], "127.0.0.1"),
        pytest.param(["event"], ["-P", "2", "-l", "1400"], "::1", marks=skip_no_ipv6),
    ],
    ids=["event-P4", "listen-n64-l1400", "event-ipv6"],
)
def test_parallel_streams_lengths_and_ipv6(mode: list[str], args: list[str], bind: str,
                                           receive_core: Any) -> None:
    """On each receive core: the per-stream figures the client and the report get are its."""
    with serve(*mode, "--one-off", bind=bind) as rx:
        status, result, text = client(rx.port, "-u", "-b", "20M", "-t", "1", "--json",
                                      "--get-server-output", *args, host=bind)
        code, objs, err = rx.finish()
    assert status == 0 and result is not None, text
    assert code == 0, err
    summary = summary_of(objs)
    check_same_figures(result, summary)
    # each stream is a source of wskrecv's statistics
    connected = result["server_output_json"]["start"]["connected"]
    n = int(args[args.index("-P") + 1]) if "-P" in args else 1
    assert len(connected) == n == summary["streams_tracked"] == len(summary["streams"])
    assert sorted(s["port"] for s in summary["sources"]) == sorted(c["remote_port"] for c in connected)
    # Each stream's figures, as the client got them, are its row in wskrecv's summary.
    port_of = {c["socket"]: c["local_port"] for c in result["start"]["connected"]}
    rows = {r["port"]: r for r in summary["streams"]}
    for s in result["end"]["streams"]:
        row = rows[port_of[s["udp"]["socket"]]]
        assert (row["lost"], row["expected"]) == (s["udp"]["lost_packets"], s["udp"]["packets"])
    # ... and the test's end note reports them as iperf3 -s does: a line per stream, [SUM].
    (end,) = [o for o in notes(objs) if o["event"] == "end"]
    report = end["report"]
    assert report[1].startswith("[ ID] Interval           Transfer     Bitrate         Jitter")
    assert len(report) == 2 + n + (n > 1) and all(line.endswith("  receiver") for line in report[2:])
    for line, stream in zip(report[2:], end["streams"]):
        assert line.startswith(f"[{stream['id']:3d}]   0.00-")
        assert f"  {stream['lost_packets']}/{stream['packets']} (" in line
    if n > 1:
        assert report[-1].startswith("[SUM]   0.00-")
    if "-l" in args:
        assert summary["sizes"]["min"] == summary["sizes"]["max"] == 1400


def test_forced_loss_is_the_same_on_both_sides() -> None:
    with serve("listen", "--rcvbuf", "4096", "--one-off") as rx:
        status, result, text = client(rx.port, "-u", "-b", "1G", "-l", "1400", "-t", "1",
                                      "--json", "--get-server-output")
        code, objs, err = rx.finish()
    assert status == 0 and result is not None, text
    summary = summary_of(objs)
    assert summary["lost"] > 0
    check_same_figures(result, summary)


def raw_control(port: int, data: bytes) -> bytes:
    """Send `data` on a control connection and close our side; what the server answered
    before it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        try:
            while chunk := s.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
        return got


def wait_line(rx: Wskrecv, seen: list[dict[str, Any]], wanted: Callable[[dict], bool]) -> dict:
    """Read wskrecv's JSON lines (kept in `seen`) up to the next one `wanted`."""
    while True:
        line = read_line(rx.proc.stdout, 30)
        assert line, f"wskrecv exited: {rx.proc.stderr.read()}"
        seen.append(json.loads(line))
        if wanted(seen[-1]):
            return seen[-1]


def wait_note(rx: Wskrecv, event: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """Read wskrecv's JSON lines (kept in `seen`) up to the next iperf3 note `event`."""
    return wait_line(rx, seen, lambda o: o["type"] == "iperf3" and o["event"] == event)


def wait_idle(rx: Wskrecv, seen: list[dict[str, Any]], done: int) -> None:
    """Read up to an interval in which the server is idle with `done` tests done: a client
    that exited has sent its IPERF_DONE, but the server may not have read it yet."""
    wait_line(rx, seen, lambda o: o["type"] == "interval" and o["iperf3"]["state"] == "idle"
              and o["iperf3"]["tests_done"] == done)


def test_refusals_hostile_clients_and_a_vanishing_one_leave_the_server_serving(
    receive_core: Any,
) -> None:
    """Each network-facing test here runs on both receive cores (`receive_core`)."""
    seen: list[dict[str, Any]] = []
    with serve("event", "--interval", "0.2") as rx:
        port = rx.port
        # Not iperf3 at all, a huge length, JSON cut short, JSON nested 4,000 deep (a
        # RecursionError in the parser ended the run): closed, logged, no answer.
        assert raw_control(port, b"GET / HTTP/1.0\r\n\r\n" + b"x" * 40) == b""
        assert raw_control(port, COOKIE + struct.pack("!I", 0x7FFFFFFF)) == b"\x09"
        assert raw_control(port, COOKIE + struct.pack("!I", 100) + b'{"udp": tr') == b"\x09"
        deep = b'{"udp":true,"x":' + b"[" * 4000 + b"]" * 4000 + b"}"
        assert raw_control(port, COOKIE + struct.pack("!I", len(deep)) + deep) == b"\x09"
        wait_line(rx, seen, lambda o: o["type"] == "iperf3" and "nested" in o["message"])
        # Reverse and TCP tests: iperf3's own error path, a clear message on the client.
        status, _, text = client(port, "-u", "-R", "-t", "1")
        assert status == 1 and "not implemented" in text, text
        status, _, text = client(port, "-t", "1")
        assert status == 1 and "protocol does not exist" in text, text
        # A client that vanishes mid-test; a second one meanwhile is told the server is busy.
        with popen([IPERF3, "-c", "127.0.0.1", "-p", str(port), "-u", "-b", "1M", "-t", "30"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as doomed:
            wait_note(rx, "running", seen)
            status, _, text = client(port, "-u", "-t", "1")
            assert status == 1 and "busy" in text, text
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            assert "closed the control connection" in wait_note(rx, "error", seen)["message"]
        # ... and the next test is served.
        status, result, text = client(port, "-u", "-b", "10M", "-t", "1", "--json")
        assert status == 0 and result is not None, text
        wait_idle(rx, seen, done=1)  # it has read the client's IPERF_DONE
        rx.signal(signal.SIGINT)
        code, objs, err = rx.finish()
    assert code == 0, err
    objs = seen + objs
    events = [n["event"] for n in notes(objs)]
    assert events.count("refused") == 2 and events.count("denied") == 1
    assert events[-3:] == ["start", "running", "end"]
    iperf3 = summary_of(objs)["iperf3"]
    assert (iperf3["tests_done"], iperf3["tests_refused"], iperf3["denied"]) == (1, 2, 1)
    assert iperf3["tests_failed"] == 4  # huge length, cut JSON, deep JSON, the vanished client
    assert "Traceback" not in err


def test_a_client_that_stops_sending_is_timed_out_and_told_why(receive_core: Any) -> None:
    """A real client, stopped (SIGSTOP) in the middle of a 1000 s test: its streams bring
    nothing, --rcv-timeout ends the test (the server is free again), and the client, let
    go, prints iperf3's own "idle timeout for receiving data"."""
    seen: list[dict[str, Any]] = []
    with serve("event", "--rcv-timeout", "1", "--interval", "0.2") as rx:
        with popen([IPERF3, "-c", "127.0.0.1", "-p", str(rx.port), "-u", "-b", "1M", "-t",
                    "1000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   text=True) as stopped:
            wait_note(rx, "running", seen)
            stopped.send_signal(signal.SIGSTOP)
            note = wait_note(rx, "error", seen)
            assert "no datagram for 1 s (--rcv-timeout)" in note["message"]
            wait_idle(rx, seen, done=0)
            stopped.send_signal(signal.SIGCONT)
            out, _ = stopped.communicate(timeout=30)
        assert stopped.returncode == 1 and "idle timeout for receiving data" in out, out
        status, result, text = client(rx.port, "-u", "-b", "10M", "-t", "1", "--json")
        assert status == 0 and result is not None, text  # the next one is served
        wait_idle(rx, seen, done=1)
        rx.signal(signal.SIGINT)
        code, objs, err = rx.finish()
    assert code == 0, err
    iperf3 = summary_of(seen + objs)["iperf3"]
    assert (iperf3["tests_done"], iperf3["tests_failed"]) == (1, 1)


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "human"])
def test_a_peers_words_reach_no_output_raw(as_json: bool, receive_core: Any) -> None:
    """A client_version of escape sequences, CR/LF forging a log line, NUL and a bidi
    override: every output shows it escaped (JSON strings too: `jq -r` prints them raw)."""
    evil = "\x1b[2J\x1b]0;owned\x07\r\nwskrecv iperf3: forged\u202eevil\0"
    params = json.dumps({"udp": True, "time": 1, "client_version": evil}).encode()
    port = port_free_for_both("127.0.0.1")
    with Wskrecv("event", "--iperf3", "--one-off", port=port, json_mode=as_json,
                 expect_start=as_json) as rx:
        # The start line comes once the TCP listener is open.
        start = "" if as_json else read_line(rx.proc.stderr, 20)
        assert "iperf3 server on TCP port" in start or rx.start
        # The test starts; the client then closes: it failed, and --one-off ends the run.
        raw_control(port, COOKIE + struct.pack("!I", len(params)) + params)
        code, objs, err = rx.finish()
    assert code == 0, err
    texts = [err] + strings(objs)
    assert any("\\x1b[2J" in t for t in texts), texts  # shown, escaped
    for t in texts:
        assert not any(c in t for c in "\x1b\x07\r\0\u202e"), repr(t)
    assert not any(line.startswith("wskrecv iperf3: forged") for line in err.splitlines())


def test_out_of_descriptors_the_server_says_so_once_and_serves_when_it_can(receive_core: Any) -> None:
    """With the descriptor table full, the accept loop used to log "accept failed: Too
    many open files" on every pass (hundreds of thousands of lines, 70% CPU)."""
    seen: list[dict[str, Any]] = []
    with serve("event", "--interval", "0.1") as rx:
        pid = rx.proc.pid
        highest = max(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        # One descriptor left above the highest in use: the first client takes it.
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (highest + 2, hard))
        with socket.create_connection(("127.0.0.1", rx.port), timeout=20) as first:
            first.sendall(COOKIE)
            assert first.recv(1) == b"\x09"  # accepted: PARAM_EXCHANGE
            with socket.create_connection(("127.0.0.1", rx.port), timeout=20) as second:
                second.sendall(COOKIE)  # waits in the listen backlog
                wait_line(rx, seen, lambda o: o["type"] == "iperf3"
                          and "Too many open files" in o["message"])
                for _ in range(10):  # a second of intervals, the table still full
                    wait_line(rx, seen, lambda o: o["type"] == "interval")
                first.close()  # a descriptor is free again: the second is served
                assert second.recv(1) == b"\x09"
        rx.signal(signal.SIGINT)
        code, objs, err = rx.finish()
    assert code == 0, err
    said = [n["message"] for n in notes(seen + objs) if n["event"] == "error"
            and "test" not in n["message"] and "connection from" not in n["message"]]
    assert said == ["accept failed: Too many open files: control connections wait until "
                    "descriptors are free (said once)",
                    "control connections are accepted again"]


def strings(value: Any) -> list[str]:
    """Every string in decoded JSON."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_iperf3_options_are_checked() -> None:
    from tests.conftest import run_cli

    r = run_cli("listen", "--one-off", "-c", "1")
    assert r.returncode == 2 and "--one-off needs --iperf3" in r.stderr
    r = run_cli("event", "--iperf3", "--seq-format", "sockperf", "-c", "1")
    assert r.returncode == 2 and "--seq-format sockperf" in r.stderr
    r = run_cli("event", "--rcv-timeout", "5", "-c", "1")
    assert r.returncode == 2 and "--rcv-timeout needs --iperf3" in r.stderr


def test_metrics_name_the_test_in_progress_and_count_the_tests() -> None:
    from tests.cli.test_metrics import PROMTOOL, samples, scrape
    from tests.conftest import wait_for

    seen: list[dict[str, Any]] = []
    with serve("event", "--one-off", "--metrics", "127.0.0.1:0", "--interval", "0.2",
               "--metrics-linger", "60") as rx:
        mport = rx.start["metrics_port"]
        with popen([IPERF3, "-c", "127.0.0.1", "-p", str(rx.port), "-u", "-b", "1M", "-t", "2"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as c:
            cookie = wait_note(rx, "running", seen)["test"]

            def running() -> dict:
                return samples(scrape(mport), "wskrecv_iperf3_test_info")

            assert wait_for(lambda: any(dict(k).get("test") == cookie for k in running()), 20)
            assert sum(samples(scrape(mport), "wskrecv_iperf3_streams").values()) == 1
            assert c.wait(60) == 0

        def done() -> float:
            return sum(v for k, v in samples(scrape(mport), "wskrecv_iperf3_tests_total").items()
                       if dict(k)["result"] == "done")

        assert wait_for(lambda: done() == 1, 30)  # the summary's counts, while lingering
        text = scrape(mport)
        rx.signal(signal.SIGINT)
        code, _, err = rx.finish()
    assert code == 0, err
    tests = {dict(k)["result"]: v for k, v in samples(text, "wskrecv_iperf3_tests_total").items()}
    assert tests == {"done": 1, "refused": 0, "failed": 0}
    assert samples(text, "wskrecv_iperf3_test_info") == {}
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr


def test_the_capture_holds_the_test_data_and_not_the_stream_connects(tmp_path: Any) -> None:
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    cap = tmp_path / "iperf3.pcap"
    with serve("event", "--one-off", "--pcap", str(cap)) as rx:
        status, result, text = client(rx.port, "-u", "-b", "10M", "-t", "1", "-P", "2",
                                      "-l", "1000", "--json")
        code, objs, err = rx.finish()
    assert status == 0 and result is not None, text
    assert code == 0, err
    packets = rdpcap(str(cap))
    assert len(packets) == summary_of(objs)["received"] > 0
    assert {len(bytes(p[UDP].payload)) for p in packets} == {1000}  # no 4-byte connects
    assert {p[UDP].dport for p in packets} == {rx.port}


def test_the_start_line_shows_n_k_and_w_and_a_reverse_test_is_told_wskrecv_only_receives() -> None:
    """A real client's -n, -k and -w reach the test's start note (and -w the socket, as
    iperf3 -s applies it); a reverse test is refused once, saying why."""
    seen: list[dict[str, Any]] = []
    with serve("event", "--interval", "0.2") as rx:
        # Each client once the server is idle again.
        status, _, text = client(rx.port, "-u", "-n", "10K", "-w", "256K", "-b", "10M")
        assert status == 0, text
        wait_idle(rx, seen, 1)
        status, _, text = client(rx.port, "-u", "-k", "20", "-l", "100", "-b", "10M")
        assert status == 0, text
        wait_idle(rx, seen, 2)
        status, _, text = client(rx.port, "-u", "-R", "-t", "1")
        assert status == 1 and "not implemented" in text, text
        wait_note(rx, "refused", seen)
        rx.signal(signal.SIGINT)
        code, objs, err = rx.finish()
    assert code == 0, err
    objs = seen + objs
    starts = [n for n in notes(objs) if n["event"] == "start"]
    assert len(starts) == 2
    assert "until 10.00 KiB sent (-n)" in starts[0]["message"]
    assert "-w 256.00 KiB: socket buffer" in starts[0]["message"]
    assert starts[0]["params"]["window"] == 256 * 1024
    assert "until 20 datagrams sent (-k)" in starts[1]["message"]
    assert "-w" not in starts[1]["message"]
    (refused,) = [n for n in notes(objs) if n["event"] == "refused"]
    assert "reverse (-R) test: wskrecv only receives" in refused["message"]
