"""`wskrecv analyze`: captures of real loopback traffic, written in the test by a live
run's --pcap, tcpdump and dumpcap (Wireshark's capture engine, pcapng), counted as the
live run counted them; filters; bad input. The command runs in-process; the live run
and the capturers are real processes."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from tests.capture import builders
from tests.conftest import WSKRECV, Wskrecv, popen, read_line, wait_for
from tests.harness import wskrecv
from wskrecv import payload

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

# The live run's figures a capture holds exactly, timing aside (per-stream rows too)...
COUNTS = ("received", "bytes", "lost", "reordered", "duplicates", "late", "corrupt", "unsequenced",
          "loss_pct", "reorder_pct", "streams", "streams_tracked", "streams_seen", "streams_retired",
          "restarts", "sizes", "sources", "sources_seen")
# ...and those that need the receive times the run counted with (its own --pcap).
TIMING = ("jitter_ms", "latency_ms", "first_time", "last_time", "datagrams_per_s")


def analyze(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run `wskrecv analyze ARGS` in-process: (exit status, JSON objects, stderr)."""
    r = wskrecv("analyze", *args)
    return r.status, r.objs, r.stderr


def summary(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [o for o in objs if o["type"] == "summary"]
    return found


def traffic() -> list[bytes]:
    """Two streams: two datagrams early (reordered), one duplicated, one lost; sizes from
    40 to 1,400 bytes (above the live run's 600-byte buffers: truncated there)."""
    out = []
    for stream in (1, 2):
        seqs = [0, 1, 2, 5, 3, 6, 7, 7, 8, 4, 9] if stream == 1 else [*range(10), 11]
        for seq in seqs:
            body = bytes([seq]) * (4 + 120 * seq)
            out.append(bytes(payload.build(stream, seq, 1_700_000_000_000_000_000 + seq, body)))
    return out


class Capturer:
    """tcpdump or dumpcap on the loopback interface, writing `path`, stopping by itself
    after `count` packets of UDP port `port` (so no packet is left in its buffers)."""

    def __init__(self, argv: list[str], path: Path) -> None:
        self.argv = argv
        self.path = path

    def __enter__(self) -> Capturer:
        self.context = popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0)
        proc = self.proc = self.context.__enter__()
        said = b""  # tcpdump: "listening on lo", dumpcap: "Capturing on 'Loopback: lo'"
        while b"listening on" not in said and b"Capturing on" not in said:
            ready, _, _ = select.select([proc.stderr], [], [], 20)
            chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""
            assert chunk, f"{self.argv[0]} did not start capturing: {said!r}"
            said += chunk
        # dumpcap says so before its filter is on; it writes the file's header after.
        if self.argv[0] == "dumpcap":
            assert wait_for(lambda: self.path.exists() and self.path.stat().st_size > 0, 20)
        return self

    def finish(self) -> None:
        proc = self.proc
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            raise AssertionError(f"{self.argv[0]} did not see every packet: "
                                 f"{proc.communicate()[1]!r}") from None

    def __exit__(self, *exc: object) -> None:
        self.context.__exit__(None, None, None)


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_captures_of_a_live_run_give_its_counts(tmp_path: Path) -> None:
    """The same traffic to a live `listen` run (600-byte buffers), captured by its --pcap,
    by tcpdump on lo (Ethernet) and on any (Linux cooked), and by dumpcap (pcapng)."""
    datagrams = traffic()
    n = str(len(datagrams))
    live = tmp_path / "live.pcap"
    with Wskrecv("listen", "--buffer-size", "600", "--count", n, "--pcap", str(live)) as w:
        port = str(w.port)
        capturers = [
            (tmp_path / "lo.pcap", ["tcpdump", "-i", "lo", "-U", "-c", n, "-w"]),
            (tmp_path / "any.pcap", ["tcpdump", "-i", "any", "-U", "-c", n, "-w"]),
        ]
        if shutil.which("dumpcap"):
            capturers.append((tmp_path / "dumpcap.pcapng", ["dumpcap", "-q", "-i", "lo", "-c", n, "-w"]))
        running = []
        for path, argv in capturers:
            argv = [*argv, str(path), "-f" if argv[0] == "dumpcap" else "", f"udp and port {port}"]
            running.append(Capturer([a for a in argv if a], path).__enter__())
        try:
            w.send(datagrams)
            status, objs, err = w.finish()
            for c in running:
                c.finish()
        finally:
            for c in running:
                c.__exit__(None, None, None)
    assert status == 0, err
    run = summary(objs)
    assert (run["received"], run["lost"], run["reordered"], run["duplicates"], run["truncated"]) == \
        (22, 1, 2, 1, 12)
    status, objs, err = analyze("--json", str(live))
    got = summary(objs)
    assert status == 0, err
    assert {k: got[k] for k in COUNTS + TIMING + ("truncated",)} == \
        {k: run[k] for k in COUNTS + TIMING + ("truncated",)}
    assert got["capture"]["frames"] == 22 and got["app_latency_ms"] is None
    for path, _ in capturers:
        status, objs, err = analyze("--json", "--port", port, str(path))
        got = summary(objs)
        assert status == 0, err
        same = [k for k in COUNTS if k not in ("bytes", "sizes", "sources", "streams")]
        assert {k: got[k] for k in same} == {k: run[k] for k in same}, path.name
        # Every stream's counts (its jitter and latency are of the capturer's times, its
        # bytes whole where the run's buffers cut them)
        untimed = {"jitter_ms": None, "latency_ms": None, "bytes": None}
        assert [{**s, **untimed} for s in got["streams"]] == \
            [{**s, **untimed} for s in run["streams"]], path.name
        # The capturers saw every byte the run's 600-byte buffers cut.
        assert got["truncated"] == 0 and got["bytes"] == sum(map(len, datagrams))
        assert [s["bytes"] for s in got["streams"]] == [
            sum(len(d) for d in datagrams if payload.parse_wskrecv(d).stream == s["stream"])
            for s in got["streams"]], path.name


def test_a_truncated_capture_reports_what_was_whole_and_exits_2(tmp_path: Path) -> None:
    frames = [(i * 1_000_000, bytes(IP() / UDP(dport=5000) / payload.build(0, i, 0, b"b")))
              for i in range(5)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(builders.pcap(frames, 101)[:-10])
    status, objs, err = analyze("--json", str(path))
    assert status == 2
    got = summary(objs)
    assert got["received"] == 4 and got["exit_status"] == 2
    assert got["capture"]["problem"] == err.split("error: ", 1)[1].strip()
    assert err.strip().endswith(f"{path}: cut short: the last record has 71 of its 81 bytes "
                                "(10 missing); the whole records before it were read")
    status, objs, err = analyze(str(path))  # the human summary says it too
    assert status == 2 and "received     4 datagrams" in err
    assert "cut          the last 71 bytes of the capture" in err


@pytest.mark.parametrize("content, message", [
    (b"not a capture at all", "is not a pcap or pcapng capture"),
    (b"", "is empty"),
    (builders.pcap([(0, b"x")], 147), "link type 147 is not a link type wskrecv reads"),
])
def test_a_file_that_is_not_a_capture_is_one_line_naming_it(tmp_path: Path, content: bytes,
                                                           message: str) -> None:
    good, bad = tmp_path / "good.pcap", tmp_path / "bad.pcap"
    good.write_bytes(builders.pcap([(0, bytes(IP() / UDP() / b"x"))], 101))
    bad.write_bytes(content)
    status, objs, err = analyze("--json", str(good), str(bad))
    assert (status, objs) == (2, [])  # checked before anything is reported
    assert err.startswith(f"wskrecv: error: {bad}") and message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_filters_intervals_and_several_files_as_one_capture(tmp_path: Path) -> None:
    """--port and --src keep what they name; intervals fall on capture time; two files
    are one capture; --seq-format none counts without sequences."""
    t0 = 1_700_000_000 * 10**9
    frames = []
    for i in range(30):  # 10 datagrams a second for 3 s, from two senders, to two ports
        src = "10.0.0.1" if i % 3 else "10.9.0.1"
        frames.append((t0 + i * 100_000_000, bytes(Ether() / IP(src=src) / UDP(sport=7, dport=5000 + i % 2)
                                                   / payload.build(i % 3 == 0, i, 0, b"z"))))
    one, two = tmp_path / "1.pcap", tmp_path / "2.pcap"
    one.write_bytes(builders.pcap(frames[:17], 1))
    two.write_bytes(builders.pcap(frames[17:], 1))
    status, objs, err = analyze("--json", "--port", "5000", "--src", "10.0.0.0/24", str(one), str(two))
    assert status == 0, err
    got = summary(objs)
    assert got["received"] == len([i for i in range(30) if i % 2 == 0 and i % 3])
    assert got["capture"]["skipped"]["other_port"] == 15 and got["capture"]["skipped"]["other_source"] == 5
    # Intervals from the first datagram kept (0.2 s): [0.2, 1.2) and [1.2, 2.2).
    assert [o["datagrams"] for o in objs if o["type"] == "interval"] == [4, 3]
    assert [o["t"] for o in objs if o["type"] == "interval"] == [1.0, 2.0]
    start = objs[0]
    assert start["type"] == "start" and [f["file"] for f in start["files"]] == [str(one), str(two)]
    status, objs, _ = analyze("--json", "-q", "--seq-format", "none", "--src", "[10.9.0.1]:7", str(one))
    assert summary(objs)["unsequenced"] == summary(objs)["received"] == 6


def test_standard_input_and_a_full_output(tmp_path: Path) -> None:
    cap = builders.pcap([(0, bytes(IP() / UDP() / b"in"))], 101)
    r = subprocess.run([WSKRECV, "analyze", "-q", "--json", "-"], input=cap, capture_output=True,
                       timeout=30)
    assert r.returncode == 0 and json.loads(r.stdout)["received"] == 1
    with open("/dev/full", "w") as full:
        r = subprocess.run([WSKRECV, "analyze", "--json", "-"], input=cap, stdout=full,
                           stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 1 and r.stderr.decode().count("\n") == 1 and b"Traceback" not in r.stderr


def test_scapy_reads_the_same_datagrams_from_a_tcpdump_capture_with_fragments(tmp_path: Path) -> None:
    """Fragmented datagrams sent raw (as `wskrecv send --fragment` sends them) and captured
    by tcpdump: wskrecv's reassembly gives what scapy's own dissection and defragmenter
    give."""
    if os.geteuid() != 0 or shutil.which("tcpdump") is None:
        pytest.skip("needs root (raw sockets) and tcpdump")
    from scapy.layers.inet import defragment

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        path = tmp_path / "frag.pcap"
        n_frags = 3 * 4  # 3 datagrams of 1,400 bytes in 4 fragments of 400
        with Capturer(["tcpdump", "-i", "lo", "-U", "-c", str(n_frags), "-w", str(path),
                       f"udp port {port} or (ip[6:2] & 0x1fff != 0)"], path) as cap:
            r = subprocess.run([WSKRECV, "send", "127.0.0.1", str(port), "-c", "3", "-s", "1400",
                                "--fragment", "400"], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            cap.finish()
        kernel = [s.recv(2000) for _ in range(3)]
    ours = analyze("--json", "-q", str(path))[1]
    theirs = [bytes(p[UDP].payload) for p in defragment(rdpcap(str(path))) if UDP in p]
    got = summary(ours)
    assert got["received"] == 3 and got["capture"]["fragments_reassembled"] == 3
    assert theirs == kernel and got["bytes"] == sum(map(len, kernel))
    assert got["unsequenced"] == got["corrupt"] == 0


def reading_stdin(pid: int) -> bool:
    """Whether process `pid` is blocked in read(0, ...) (/proc/PID/syscall)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().startswith("0 0x0 ")
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_a_pipe_has_nothing_more_reports_what_was_read(signum: int) -> None:
    """`tcpdump -w - | wskrecv analyze -`: the records come as the pipe brings them, and a
    stop signal while it brings nothing ends the analysis with its summary."""
    records = [(int(t * 1e9), bytes(IP() / UDP(dport=5000) / payload.build(0, i, 0, b"s")))
               for i, t in enumerate((0.0, 0.5, 1.5))]
    with popen([WSKRECV, "analyze", "--json", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(builders.pcap(records, 101))
        proc.stdin.flush()  # and left open: the capture goes on, with nothing more yet
        start = json.loads(read_line(proc.stdout, 20))
        interval = json.loads(read_line(proc.stdout, 20))  # the third record, 1.5 s in, ends it
        assert (start["type"], interval["type"], interval["received"]) == ("start", "interval", 2)
        # Then it waits in a read of standard input (syscall 0, descriptor 0) for more.
        assert wait_for(lambda: reading_stdin(proc.pid), 20)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    got = json.loads(out)
    assert got["type"] == "summary" and got["received"] == 3
    assert proc.returncode == 128 + signum and got["exit_status"] == 128 + signum, err
    assert got["reason"] == ("terminated" if signum == signal.SIGTERM else "interrupted")
