"""Faults and signals through the installed receivers: a signal in the middle of a flood
(IRPs cancelled, held lists released, capture complete), a second Ctrl-C that exits at
once (output blocked, a display process that hangs), and the socket failing underneath
(shut down by a process that shares it): exit 1, one clear line, the summary printed."""

from __future__ import annotations

import array
import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from scapy.utils import rdpcap

from tests.conftest import WSKRECV, Wskrecv, popen, read_line, wait_for
from wskrecv.signals import REPEAT_WINDOW
from wskrecv.workers.pool import PARENT_STOP

pytestmark = pytest.mark.network


@contextmanager
def flood(address: str, port: int) -> Iterator[list[int]]:
    """Datagrams sent from a thread as fast as it can until the block ends; yields [sent]."""
    sent = [0]
    stop = threading.Event()

    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set():
                for _ in range(64):
                    s.sendto(b"f" * 64, (address, port))
                sent[0] += 64

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join()


def until_received(w: Wskrecv, n: int) -> dict:
    while True:
        obj = json.loads(read_line(w.proc.stdout, 20))
        if obj["type"] == "interval" and obj["received"] >= n:
            return obj


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize(("command", "args"), [
    ("listen", ("-n", "16")), ("event", ()), ("event", ("--pend", "--hold", "20")),
])
def test_a_signal_mid_flood_ends_cleanly_with_a_complete_capture(
    command: str, args: tuple[str, ...], signum: int, tmp_path: Path
) -> None:
    cap = tmp_path / "flood.pcap"
    receiver = Wskrecv(command, *args, "--interval", "0.05", "--pcap", str(cap))
    with receiver as w, flood(w.address, w.port):
        until_received(w, 2000)
        w.signal(signum)  # while datagrams still pour in
        status, objs, err = w.finish()
    assert status == 0, err
    assert "Traceback" not in err
    s = objs[-1]
    assert s["type"] == "summary"
    assert s["reason"] == {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
                           signal.SIGHUP: "hung up"}[signum]
    assert len(rdpcap(str(cap))) == s["received"] > 0  # every datagram counted is captured
    assert s["violations"] == 0
    if command == "listen":
        assert s["outstanding"] == 0 and s["cancellations"] == 16
    else:
        assert s["leaked"] == 0 and s["pool_in_use"] == 0
        if "--pend" in args:
            assert s["released"] == s["received"]


@pytest.mark.parametrize(("signum", "status"),
                         [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_second_signal_exits_at_once_with_output_blocked(signum: int, status: int) -> None:
    """stdout is a pipe nobody reads: --dump lines fill it; the first Ctrl-C (SIGTERM)
    ends the run, which then gives the reader 5 s for what is left; the second ends it at
    once (exit 128 + the signal's number)."""
    assert WSKRECV
    with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", "0", "--json", "--dump"],
               stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(2000):  # ~200 KiB of --dump lines: more than a pipe holds
                s.sendto(b"x" * 40, ("127.0.0.1", port))
        # The pipe fills up (64 KiB): from then on the receiver blocks writing to it.
        assert wait_for(lambda: _queued(proc.stdout) > 60_000, 20)
        proc.send_signal(signum)
        assert wait_for(lambda: not _pending(proc.pid, signum), 20)  # taken, not coalesced
        assert proc.poll() is None  # still waiting for the reader
        time.sleep(REPEAT_WINDOW + 1)  # a second request, not the first one delivered twice
        proc.send_signal(signum)
        assert proc.wait(20) == status


def _sigint_pending(pid: int) -> bool:
    return _pending(pid, signal.SIGINT)


def _pending(pid: int, signum: int) -> bool:
    """Whether a signal sent to `pid` waits for delivery (a second one would merge)."""
    bit = 1 << (signum - 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & bit:
            return True
    return False


def _queued(stream: Any) -> int:
    """Bytes waiting in a pipe, unread."""
    buf = array.array("i", [0])
    fcntl.ioctl(stream.fileno(), termios.FIONREAD, buf)
    return buf[0]


def test_a_second_ctrl_c_exits_at_once_while_the_display_hangs() -> None:
    """The display process stopped (SIGSTOP): at the end the receiver waits for it to
    draw its last frame. The second Ctrl-C does not wait: exit 130, the display left to
    end by itself once it runs again (its input is closed)."""
    assert WSKRECV
    display = 0
    with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", "0", "--json", "--live"],
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
               start_new_session=True) as proc:
        try:
            assert proc.stdout is not None
            json.loads(read_line(proc.stdout, 20))
            assert wait_for(lambda: _children(proc.pid), 20)
            display = _children(proc.pid)[0]
            os.kill(display, signal.SIGSTOP)
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group
            assert wait_for(lambda: not _sigint_pending(proc.pid), 20)  # taken, not coalesced
            assert proc.poll() is None  # waiting for the display's last frame
            time.sleep(REPEAT_WINDOW + 1)  # a second Ctrl-C, not the first one delivered twice
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(20) == 130
            assert Path(f"/proc/{display}").exists()  # not waited for, not killed
        finally:
            if display:
                os.kill(display, signal.SIGCONT)
    assert wait_for(lambda: not _alive(display), 20)  # input closed: it ends by itself


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(("command", "args"), [
    ("listen", ("-n", "8")), ("event", ()), ("event", ("--pend", "--hold", "600000")),
])
def test_a_socket_shut_down_underneath_ends_with_exit_one_and_a_summary(
    command: str, args: tuple[str, ...]
) -> None:
    """The socket is inherited (--fd) and the parent, which shares it, shuts it down:
    IRPs complete with a failure status, the callback gets its NULL indication and closes,
    held lists come back; one error line, exit 1, the summary (exit_status 1) still out."""
    assert WSKRECV
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared:
        shared.bind(("127.0.0.1", 0))
        proc = subprocess.Popen(
            [WSKRECV, command, *args, "--fd", str(shared.fileno()), "--json", "-i", "0.05"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            pass_fds=[shared.fileno()])
        try:
            assert proc.stdout is not None
            json.loads(read_line(proc.stdout, 20))
            for i in range(10):
                shared.sendto(b"%d" % i, shared.getsockname())
            while json.loads(read_line(proc.stdout, 20)).get("received", 0) + (
                    10 if "--pend" in args else 0) < 10:
                pass
            with pytest.raises(OSError):  # ENOTCONN, but the shutdown takes effect
                shared.shutdown(socket.SHUT_RDWR)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 1, err
    assert err.splitlines() == [
        "wskrecv: error: receive failed: the socket was shut down underneath the receiver"]
    s = json.loads(out.splitlines()[-1])
    assert s["type"] == "summary" and s["exit_status"] == 1 and s["reason"] == "socket failed"
    assert s["received"] == 10 and s["violations"] == 0
    if command == "listen":
        # the 8 posted receives completed with a failure status
        assert s["failures"] == 8 and s["outstanding"] == 0 and s["cancellations"] == 0
        assert s["last_failure"].startswith("STATUS_FILE_FORCED_CLOSED")
    else:
        assert s["null_indications"] >= 1 and s["leaked"] == 0 and s["pool_in_use"] == 0


# -- the reader of our output is gone ---------------------------------------------------

@pytest.mark.parametrize("args", [
    ["listen", "-b", "127.0.0.1", "-p", "0", "--json", "-t", "5"],
    ["event", "-b", "127.0.0.1", "-p", "0", "--pcap", "-", "-t", "5"],
    ["listen", "-b", "127.0.0.1", "-p", "0", "-t", "0.2"],  # writes nothing to stdout
    ["send", "127.0.0.1", "9", "-c", "3", "--json"],
    ["selftest", "--only", "ipv4", "--json"],
    ["--version"],
])
def test_a_closed_stdout_ends_quietly(args: list[str]) -> None:
    """`wskrecv ... >&-`: stdout was never open. The first write ends the run as a closed
    pipe does: exit 0, no traceback (commands that write nothing there just run)."""
    assert WSKRECV
    r = subprocess.run([WSKRECV, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, timeout=60, env={**os.environ, "CI": "true"},
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception" not in r.stderr


@pytest.mark.parametrize("args", [
    ["selftest", "--json"],
    ["listen", "-b", "127.0.0.1", "-p", "0", "--json", "--live", "-i", "0.05"],
])
def test_head_dash_1_on_selftest_and_the_dashboard_exits_quietly(args: list[str]) -> None:
    """`wskrecv selftest --json | head -1`; `wskrecv listen --json --live | head -1` (the
    dashboard's display process is ended too)."""
    assert WSKRECV
    with popen([WSKRECV, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True, env={**os.environ, "CI": "true"}) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        json.loads(read_line(proc.stdout, 30))
        children = _children(proc.pid)
        proc.stdout.close()  # what head does after its line
        assert proc.wait(60) == 0
        err = proc.stderr.read()
    assert "Traceback" not in err and "Exception ignored" not in err
    assert all(wait_for(lambda c=c: not _alive(c), 20) for c in children)


@contextmanager
def namespace_with_address(address: str) -> Iterator[str]:
    """A network namespace of our own whose loopback also carries `address` (nothing
    leaves it: it has no other interface)."""
    ip = shutil.which("ip")
    if os.geteuid() != 0 or ip is None:
        pytest.skip("a network namespace of our own needs root and iproute2's ip")
    name = f"wskrecv-test-{os.getpid()}"
    if subprocess.run([ip, "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        subprocess.run([ip, "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run([ip, "-n", name, "addr", "add", f"{address}/32", "dev", "lo"], check=True)
        yield name
    finally:
        subprocess.run([ip, "netns", "del", name], capture_output=True)


@pytest.mark.root
@pytest.mark.parametrize(("command", "args"), [("listen", ("-n", "4")), ("event", ())])
def test_the_bound_address_removed_ends_with_exit_one_and_a_summary(
    command: str, args: tuple[str, ...]
) -> None:
    """The OS tells a UDP socket nothing when its address goes; wskrecv notices within an
    interval: the socket fails in the model, one error line, exit 1, summary printed."""
    address = "10.200.0.1"
    with namespace_with_address(address) as ns:
        assert WSKRECV
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, WSKRECV, command, *args, "-b", address, "-p", "0",
             "--json", "-i", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            json.loads(read_line(proc.stdout, 20))
            subprocess.run(["ip", "-n", ns, "addr", "del", f"{address}/32", "dev", "lo"],
                           check=True)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 1, err
    assert err.splitlines() == [
        f"wskrecv: error: receive failed: the local address {address} was removed from this host"]
    s = json.loads(out.splitlines()[-1])
    assert s["type"] == "summary" and s["exit_status"] == 1 and s["reason"] == "socket failed"
    if command == "listen":
        assert s["failures"] == 4 and s["outstanding"] == 0
    else:
        assert s["null_indications"] >= 1 and s["leaked"] == 0


def test_a_socket_descriptor_above_1024_receives() -> None:
    """select() cannot wait on a descriptor of 1024 or more; the loop polls."""
    assert WSKRECV
    high = 1500
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] <= high:
        pytest.skip(f"cannot open descriptor {high} here (RLIMIT_NOFILE)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared:
        shared.bind(("127.0.0.1", 0))
        os.dup2(shared.fileno(), high)
        try:
            with popen([WSKRECV, "listen", "--fd", str(high), "-c", "3", "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       pass_fds=[high]) as proc:
                assert proc.stdout is not None
                assert json.loads(read_line(proc.stdout, 20))["fd"] == high
                for i in range(3):
                    shared.sendto(b"%d" % i, shared.getsockname())
                out, err = proc.communicate(timeout=30)
        finally:
            os.close(high)
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["received"] == 3


@pytest.mark.parametrize(("sent", "status", "reason"),
                         [(100, 0, "count reached"), (60, 3, "deadline passed")])
def test_the_deadline_judges_what_arrived_whatever_is_still_held(
    sent: int, status: int, reason: str
) -> None:
    """--pend holds every list far past the deadline: the datagrams count as the callback
    pends them, so 100 of 100 end the run at once (exit 0; the held lists are processed
    when it stops); 60 of 100 is still exit 3 at the deadline."""
    with Wskrecv("event", "--pend", "--hold", "600000", "-c", "100", "--timeout", "3") as w:
        w.send([b"d"] * sent)
        code, objs, err = w.finish()
    s = objs[-1]
    assert (code, s["exit_status"], s["received"]) == (status, status, sent), err
    assert s["reason"] == reason and s["leaked"] == 0 and s["released"] == sent


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_a_stop_signal_to_the_process_group_delivered_twice_is_one_request(
    workers: list[str],
) -> None:
    """`timeout` signals the command and then its group; systemd's control-group kill
    signals every process, and a --workers parent passes the stop on: each process gets
    SIGTERM twice at once. A worker took the second as "exit now" and its counts were
    lost (exit 1); a single process sometimes exited 143 without its summary."""
    assert WSKRECV
    with popen([WSKRECV, "event", "-b", "127.0.0.1", "-p", "0", "--json", "-i", "0.05",
                *workers], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
               start_new_session=True) as proc:
        assert proc.stdout is not None
        start = json.loads(read_line(proc.stdout, 20))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(40):
                s.bind(("127.0.0.1", 0)) if i == 0 else None
                s.sendto(b"d" * 40, ("127.0.0.1", start["port"]))
        while '"received":40,' not in read_line(proc.stdout, 20):
            pass
        os.killpg(proc.pid, signal.SIGTERM)
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["type"] == "summary" and summary["reason"] == "terminated"
    assert summary["received"] == 40 and summary["exit_status"] == 0


def test_the_parents_stop_is_never_a_second_request_to_a_worker() -> None:
    """Ctrl-C reaches every worker as well as the parent, which then stops each worker
    itself. It did so with SIGTERM: to a worker that still had the user's SIGINT in hand
    (or SIGTERM, REPEAT_WINDOW before, on a loaded machine) that was a second request, and
    the worker exited at once without its final report (exit 1). The worker's signals are
    held here (SIGSTOP) until the parent's stop waits beside the user's Ctrl-C."""
    assert WSKRECV
    with popen([WSKRECV, "event", "-b", "127.0.0.1", "-p", "0", "--json", "-i", "0.05",
                "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
               start_new_session=True) as proc:
        assert proc.stdout is not None
        start = json.loads(read_line(proc.stdout, 20))
        worker = start["worker_pids"][0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(40):
                s.sendto(b"d" * 40, ("127.0.0.1", start["port"]))
        while '"received":40,' not in read_line(proc.stdout, 20):
            pass  # the workers are in their runs: their own stop signal handlers are in place
        os.kill(worker, signal.SIGSTOP)
        try:
            assert wait_for(lambda: _stopped(worker), 20)  # from now on its signals wait
            os.kill(worker, signal.SIGINT)  # the user's Ctrl-C, as it reached the worker
            os.kill(proc.pid, signal.SIGINT)  # and as it reached the parent
            assert wait_for(lambda: _pending(worker, PARENT_STOP) or
                            _pending(worker, signal.SIGTERM), 20)
        finally:
            os.kill(worker, signal.SIGCONT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["reason"] == "interrupted" and summary["exit_status"] == 0
    assert summary["received"] == 40


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")
