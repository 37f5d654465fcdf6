"""`--workers N`: several SO_REUSEPORT receive processes, one run, one report."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scapy.layers.inet import UDP
from scapy.utils import rdpcap

from tests.conftest import WSKRECV, Wskrecv, free_udp_port, popen, read_line, run_cli
from wskrecv import payload

SOURCES = 16  # sender sockets (source ports), so the kernel's hash spreads them


def send_spread(w: Wskrecv, per_source: int, body: bytes = b"", sequenced: bool = True) -> int:
    """`per_source` datagrams from each of SOURCES sockets; returns how many were sent."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SOURCES)]
    try:
        for seq in range(per_source):
            for i, s in enumerate(socks):
                data = bytes(payload.build(i, seq, time.time_ns(), body)) if sequenced else body
                s.sendto(data, (w.address, w.port))
    finally:
        for s in socks:
            s.close()
    return per_source * SOURCES


def summary_of(objs: list[dict]) -> dict:
    (summary,) = [o for o in objs if o["type"] == "summary"]
    return summary


@pytest.mark.parametrize("command", ["listen", "event"])
def test_count_is_exact_over_workers_and_the_summary_merges_them(command: str) -> None:
    with Wskrecv(command, "--workers", "2", "--count", "800", "--interval", "0.1") as w:
        assert w.start["workers"] == 2 and len(w.start["worker_pids"]) == 2
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SOURCES)]
        try:
            # Every sender's first datagram is counted before the rest are sent: otherwise
            # a worker slow to be scheduled could see none of its senders before the other
            # one reaches --count (a run that stops at 800 needn't have seen all of them).
            for i, sock in enumerate(socks):
                sock.sendto(bytes(payload.build(i, 0, 0, b"")), (w.address, w.port))
            seen = []
            while not seen or seen[-1].get("received", 0) < SOURCES:
                seen.append(json.loads(read_line(w.proc.stdout, 30)))
            for seq in range(1, 60):  # 960 in all: more than --count
                for i, sock in enumerate(socks):
                    sock.sendto(bytes(payload.build(i, seq, 0, b"")), (w.address, w.port))
        finally:
            for sock in socks:
                sock.close()
        sent = 60 * SOURCES
        status, objs, err = w.finish()
    assert status == 0, err
    objs = seen + objs
    s = summary_of(objs)
    assert sent > 800
    assert s["received"] == 800 and s["reason"] == "count reached"
    assert [x["worker"] for x in s["workers"]] == [0, 1]
    assert sum(x["received"] for x in s["workers"]) == 800
    assert all(x["alive"] for x in s["workers"])
    # Each sender's stream stayed on one worker: the merged sequence analysis is exact.
    assert s["duplicates"] == 0 and s["moved_sources"] == 0
    assert s["sources_seen"] == SOURCES
    assert s["sizes"]["min"] == payload.HEADER_LEN
    intervals = [o for o in objs if o["type"] == "interval"]
    assert all(len(o["workers"]) == 2 for o in intervals)


def test_spread_over_workers_loses_nothing() -> None:
    with Wskrecv("listen", "--workers", "2", "--count", "480", "-n", "16") as w:
        send_spread(w, 30)
        status, objs, err = w.finish()
    assert status == 0, err
    s = summary_of(objs)
    assert (s["received"], s["lost"], s["reordered"], s["late"]) == (480, 0, 0, 0)


def test_human_output_has_a_line_per_worker_and_one_summary() -> None:
    r = run_cli("listen", "--workers", "2", "--bind", "127.0.0.1", "--port", "0",
                "--duration", "0.5", "--interval", "0.2")
    assert r.returncode == 0, r.stderr
    assert "2 workers (SO_REUSEPORT)" in r.stderr
    assert "worker 0 (pid" in r.stderr and "worker 1 (pid" in r.stderr
    assert r.stderr.count("summary (duration over)") == 1
    assert "workers      2: #0 0, #1 0 datagrams" in r.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_every_worker_with_one_summary(signum: int) -> None:
    with Wskrecv("event", "--workers", "2", "--interval", "0.05") as w:
        send_spread(w, 5)
        while '"received":80,' not in read_line(w.proc.stdout, 20):
            pass
        w.signal(signum)
        status, objs, err = w.finish()
    assert status == 0, err
    s = summary_of(objs)
    assert s["received"] == 80
    assert s["reason"] == ("interrupted" if signum == signal.SIGINT else "terminated")
    for pid in w.start["worker_pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_killed_fails_the_run_with_what_the_others_received() -> None:
    with Wskrecv("listen", "--workers", "2", "--interval", "0.05") as w:
        victim = w.start["worker_pids"][1]
        os.kill(victim, signal.SIGKILL)
        status, objs, err = w.finish()
    assert status == 1
    assert f"wskrecv: error: worker 1 (pid {victim}) was killed by SIGKILL" in err
    assert "Traceback" not in err
    s = summary_of(objs)
    assert s["reason"] == "worker failed" and s["exit_status"] == 1
    assert [(x["worker"], x["alive"]) for x in s["workers"]] == [(0, True), (1, False)]


def test_interval_0_turns_the_reports_off_not_the_workers() -> None:
    with Wskrecv("listen", "--workers", "2", "-i", "0", "--count", "64") as w:
        send_spread(w, 4)
        status, objs, err = w.finish()
    assert status == 0, err
    assert [o["type"] for o in objs] == ["summary"]
    assert objs[0]["received"] == 64


def test_timeout_without_traffic_exits_3() -> None:
    r = run_cli("listen", "--workers", "2", "--bind", "127.0.0.1", "--port", "0",
                "--timeout", "0.3", "--count", "5", "--json")
    assert r.returncode == 3, r.stderr
    assert '"reason":"deadline passed"' in r.stdout


def test_max_loss_is_judged_on_the_merged_run() -> None:
    with Wskrecv("listen", "--workers", "2", "--count", "32", "--max-loss", "1") as w:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        for i, s in enumerate(socks):
            for seq in (0, 1, 2, 3, 4, 5, 6, 9):  # 7 and 8 lost: 20% of each stream
                s.sendto(bytes(payload.build(i, seq, 0, b"")), (w.address, w.port))
            s.close()
        status, objs, err = w.finish()
    assert status == 4, err
    s = summary_of(objs)
    assert (s["lost"], s["loss_pct"]) == (8, 20.0)
    assert "threshold exceeded" in err


def test_pcap_from_every_worker_is_one_time_ordered_capture(tmp_path: Path) -> None:
    cap = tmp_path / "w.pcap"
    with Wskrecv("listen", "--workers", "2", "--count", "320", "--pcap", str(cap)) as w:
        send_spread(w, 20)
        status, objs, err = w.finish()
    assert status == 0, err
    packets = rdpcap(str(cap))
    assert len(packets) == summary_of(objs)["received"] == 320
    times = [p.time for p in packets]
    assert times == sorted(times)
    assert {p[UDP].dport for p in packets} == {w.port}
    assert not list(tmp_path.glob("*.part"))  # the workers' parts are gone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "0 workers: give 1 to 1024, or auto"),
        (["--workers", "many"], "'many' is not a number of workers or 'auto'"),
        (["--cpu-affinity"], "--cpu-affinity pins workers: it needs --workers"),
        (["--workers", "2", "--dump"], "--dump prints every datagram"),
        (["--workers", "2", "--fd", "0"], "cannot share the single --fd socket"),
        (["--workers", "2", "--iperf3"], "--iperf3 serves its tests through one receiver"),
    ],
)
def test_bad_worker_options_are_usage_errors(args: list[str], message: str) -> None:
    r = run_cli("listen", "--bind", "127.0.0.1", "--port", "0", *args, "--duration", "0.1")
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_far_more_workers_than_cpus_warns_and_runs() -> None:
    n = len(os.sched_getaffinity(0)) * 3
    r = run_cli("listen", "--workers", str(n), "--bind", "127.0.0.1", "--port", "0",
                "--duration", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    assert f"wskrecv: warning: {n} workers on" in r.stderr
    assert r.stdout.count('"worker":') == n  # the summary lists them all


def test_auto_means_one_worker_per_usable_cpu() -> None:
    r = run_cli("event", "--workers", "auto", "--cpu-affinity", "--bind", "127.0.0.1",
                "--port", "0", "--duration", "0.2", "--json")
    assert r.returncode == 0, r.stderr
    assert f'"workers":{len(os.sched_getaffinity(0))},' in r.stdout


# Runs before wskrecv in the child: the passed sockets become descriptors 3.., and the
# socket-activation variables name the process (exec keeps the pid).
ACTIVATE = """
import os, sys
import fcntl
fds = [fcntl.fcntl(int(x), fcntl.F_DUPFD, 100) for x in sys.argv[1].split(",")]
for i, fd in enumerate(fds):
    os.dup2(fd, 3 + i, inheritable=True)
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(sys.argv[2], sys.argv[2:])
"""


def reuseport_sockets(n: int) -> list[socket.socket]:
    socks: list[socket.socket] = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", socks[0].getsockname()[1] if socks else 0))
        socks.append(s)
    return socks


def activated(socks: list[socket.socket], *args: str) -> subprocess.CompletedProcess:
    fds = [s.fileno() for s in socks]
    return subprocess.run(
        [sys.executable, "-c", ACTIVATE, ",".join(map(str, fds)), WSKRECV, *args],
        pass_fds=fds, capture_output=True, text=True, timeout=60,
    )


def test_socket_activation_passes_one_socket_per_worker() -> None:
    socks = reuseport_sockets(2)
    try:
        port = socks[0].getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as src:
            for _ in range(64):  # queued before wskrecv starts: the kernel spreads them
                src.sendto(b"q", ("127.0.0.1", port))
        r = activated(socks, "listen", "--workers", "2", "--count", "64", "--json")
    finally:
        for s in socks:
            s.close()
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["received"] == 64 and len(summary["workers"]) == 2


def test_socket_activation_must_pass_as_many_sockets_as_workers() -> None:
    socks = reuseport_sockets(2)
    try:
        r = activated(socks, "listen", "--workers", "3", "--duration", "0.1")
    finally:
        for s in socks:
            s.close()
    assert r.returncode == 2
    assert r.stderr == ("wskrecv: error: socket activation passed 2 socket(s) (LISTEN_FDS): "
                        "--workers takes one per worker, so give --workers 2\n")


def test_an_unwritable_capture_fails_before_any_worker_starts(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "w.pcap"
    r = run_cli("listen", "--workers", "2", "--bind", "127.0.0.1", "--port", "0",
                "--duration", "0.2", "--pcap", str(target))
    assert r.returncode == 1
    assert r.stderr == f"wskrecv: error: cannot write capture {target}: No such file or directory\n"


# A wskrecv whose host has no IPv6 and whose receive buffer net.core.rmem_max caps: the
# start says both, with --workers as without (the two paths used to build it apart).
CAPPED_NO_IPV6 = """
import sys
from wskrecv.provider import udp
udp._no_ipv6 = lambda: "test: no IPv6"
udp.SO_RCVBUFFORCE = -1  # refused: the unprivileged SO_RCVBUF path
udp._rmem_max = lambda: 1 << 20
from wskrecv.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one", "workers"])
def test_the_start_has_the_bind_note_and_the_rmem_max_hint_with_or_without_workers(
        workers: list[str]) -> None:
    r = subprocess.run([sys.executable, "-c", CAPPED_NO_IPV6, "listen", "-p", "0", "-t", "0.1",
                        "--json", *workers], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    start = json.loads(r.stdout.splitlines()[0])
    assert start["type"] == "start" and start["address"] == "0.0.0.0"
    assert start["note"] == "no IPv6 here (test: no IPv6): receiving on IPv4 only"
    assert start["rmem_max"] == 1 << 20
    assert "sudo sysctl -w net.core.rmem_max=67108864" in start["rcvbuf_note"]
    assert ("workers" in start) == bool(workers)


def test_a_stopped_worker_is_said_not_to_answer_and_its_queue_is_counted() -> None:
    """A worker stopped by SIGSTOP: the summary said `unread_at_exit 0` while its queue
    held thousands, and the error blamed SIGKILL, which wskrecv had sent itself (after
    overrunning -t by 10 s)."""
    with Wskrecv("event", "--workers", "2", "--duration", "2", "--interval", "0.1") as w:
        stopped = w.start["worker_pids"][1]
        os.kill(stopped, signal.SIGSTOP)
        try:
            sent = send_spread(w, 40)
            status, objs, err = w.finish()
        finally:
            try:
                os.kill(stopped, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert status == 1
    assert (f"wskrecv: error: worker 1 (pid {stopped}) did not answer the stop (it was "
            "stopped, by SIGSTOP or SIGTSTP): wskrecv killed it") in err
    assert "SIGKILL" not in err
    s = summary_of(objs)
    assert s["reason"] == "duration over" and s["exit_status"] == 1  # then it failed
    # What the stopped worker's socket holds is counted unread (the flows its socket got).
    assert s["unread_at_exit"] > 0 and s["unread_complete"] is True
    assert s["received"] + s["unread_at_exit"] == sent


UNSHARE = shutil.which("unshare")


def on_a_small_disk(size: str, where: Path, out: Path, argv: list[str]) -> list[str]:
    """`argv` in a mount namespace of its own, with a tmpfs of `size` on `where` (unshare
    -rm: no privilege needed where user namespaces are allowed); `where`/capture.pcap is
    copied to `out` when it ends (the tmpfs goes with the namespace)."""
    script = ('mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99; dir=$2; out=$3; shift 3; '
              '"$@"; rc=$?; cp "$dir/capture.pcap" "$out" 2>/dev/null; exit $rc')
    return [UNSHARE or "unshare", "-rm", "sh", "-c", script, "sh", size, str(where), str(out),
            *argv]


def small_disks_work(tmp_path: Path) -> bool:
    if UNSHARE is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    r = subprocess.run(on_a_small_disk("64k", probe, tmp_path / "none", ["true"]),
                       capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.mark.parametrize(("size", "status"), [("1300k", 0), ("300k", 1)],
                         ids=["room-for-the-records-once", "room-for-less"])
def test_a_capture_on_a_small_disk_keeps_what_one_process_would(
    size: str, status: int, tmp_path: Path,
) -> None:
    """--workers 2 --pcap on a disk with room for the records once but not for the parts
    and the joined file together lost 1,232 of 3,300 records, and the summary said exit 0
    while the process exited 1; with less room the file had no pcap header."""
    if not small_disks_work(tmp_path):
        pytest.skip("no mount namespaces here (unshare -rm with a tmpfs)")
    disk, out = tmp_path / "disk", tmp_path / "copy.pcap"
    disk.mkdir()
    port = free_udp_port()
    argv = [WSKRECV, "listen", "--workers", "2", "-b", "127.0.0.1", "-p", str(port), "--json",
            "--count", "3300", "--timeout", "30", "--pcap", str(disk / "capture.pcap")]
    with popen(on_a_small_disk(size, disk, out, argv), stdout=subprocess.PIPE,
               stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        assert json.loads(read_line(proc.stdout, 30))["type"] == "start"
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SOURCES)]
        try:
            for n in range(3300):
                s = socks[n % SOURCES]
                s.sendto(bytes(payload.build(n % SOURCES, n // SOURCES, 0, b"c" * 160)),
                         ("127.0.0.1", port))
        finally:
            for s in socks:
                s.close()
        stdout, err = proc.communicate(timeout=60)
    summary = json.loads(stdout.splitlines()[-1])
    assert proc.returncode == status, err
    assert summary["type"] == "summary" and summary["exit_status"] == status  # the same
    records = rdpcap(str(out))  # a valid capture either way: its header, whole records
    if status == 0:
        assert summary["received"] == len(records) == 3300
    else:  # a part that fills the disk ends the run, as a one-process capture does
        assert summary["reason"] == "error" and "cannot write capture" in err
        assert 0 < len(records) <= summary["received"] <= 3300
