"""Receiving on inherited sockets: `--fd N` and systemd socket activation (LISTEN_FDS).
Socket activation (descriptors 3, 4, ... of the process) and a descriptor number nothing
of the test owns are the installed command's; a descriptor the test hands over is adopted
in this process (tests/harness.py), as it would be in a child."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

import pytest

from tests.conftest import WSKRECV, read_line, skip_no_ipv6, wait_for
from tests.harness import Result, receive, wskrecv
from wskrecv.bench.queue import queued_bytes, socket_drops
from wskrecv.provider.mmsg import SO_RXQ_OVFL

# sh's $$ is the shell's pid, which `exec` hands on to wskrecv: LISTEN_PID names it exactly.
ACTIVATE = 'LISTEN_PID=$$ LISTEN_FDS="$N" exec "$@"'


def bound_udp(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    return s


@contextmanager
def spawn(
    args: Sequence[str],
    pass_fds: Sequence[int] = (),
    activate: Optional[Sequence[int]] = None,
    env: Optional[dict[str, str]] = None,
) -> Iterator[subprocess.Popen]:
    """Run the installed wskrecv with inherited descriptors. With `activate`, those
    descriptors appear as 3, 4, ... in the child and LISTEN_FDS/LISTEN_PID announce them,
    as systemd does."""
    assert WSKRECV
    argv = [WSKRECV, *args]
    preexec = None
    kept = tuple(pass_fds)
    full_env = {**os.environ, **(env or {})}
    if activate is not None:
        fds = list(activate)

        def preexec() -> None:
            # In the child, after fork: move the sockets to 3, 4, ... (dup first, so that
            # moving one cannot overwrite another that already sits on a target number).
            copies = [os.dup(fd) for fd in fds]
            for target, fd in enumerate(copies, start=3):
                os.dup2(fd, target)

        kept = tuple(range(3, 3 + len(fds))) + tuple(fds)
        argv = ["sh", "-c", ACTIVATE, "sh", *argv]
        full_env["N"] = str(len(fds))
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        pass_fds=kept, preexec_fn=preexec, env=full_env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def start_line(proc: subprocess.Popen) -> dict[str, Any]:
    line = read_line(proc.stdout, 20)
    assert line, proc.stderr.read()
    obj = json.loads(line)
    assert obj["type"] == "start"
    return obj


def receive_two(proc: subprocess.Popen, sock: socket.socket) -> tuple[dict, dict]:
    """Check the start line names `sock`'s address, send two datagrams to it, and return
    (start, summary)."""
    start = start_line(proc)
    host, port = sock.getsockname()[:2]
    assert (start["address"], start["port"]) == (host, port)
    with socket.socket(sock.family, socket.SOCK_DGRAM) as s:
        s.sendto(b"one", (host, port))
        s.sendto(b"two", (host, port))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    (summary,) = [json.loads(x) for x in out.splitlines() if '"summary"' in x]
    return start, summary


def handed_over(host: str = "127.0.0.1") -> tuple[int, tuple]:
    """A bound UDP socket's descriptor, given up by the test (the run adopts it and closes
    it at the end), and its address."""
    sock = bound_udp(host)
    address = sock.getsockname()
    return sock.detach(), address


def run_on(fd: int, *args: str, send: list[bytes], address: tuple) -> Result:
    """`wskrecv ARGS --fd FD` in this process, `send` sent to `address` from the start line."""
    def started(_line: str) -> None:
        with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET,
                           socket.SOCK_DGRAM) as s:
            for data in send:
                s.sendto(data, address)

    return wskrecv(*args, "--fd", str(fd), on_start=started)


def test_fd_receives_on_an_inherited_bound_socket() -> None:
    fd, address = handed_over()
    r = run_on(fd, "listen", "-c", "2", "--json", send=[b"one", b"two"], address=address)
    assert r.status == 0, r.stderr
    assert (r.start["address"], r.start["port"]) == address[:2]
    assert r.start["fd"] == fd and r.summary["received"] == 2


@skip_no_ipv6
def test_fd_receives_on_an_inherited_ipv6_socket() -> None:
    fd, address = handed_over("::1")
    r = run_on(fd, "listen", "-c", "2", "--json", send=[b"one", b"two"], address=address)
    assert r.status == 0, r.stderr
    assert (r.start["address"], r.start["port"]) == address[:2] and r.summary["received"] == 2


def test_human_start_line_names_the_inherited_descriptor() -> None:
    fd, address = handed_over()
    r = run_on(fd, "listen", "-c", "1", send=[b"x"], address=address)
    first = r.stderr.splitlines()[0]
    assert f"receiving on 127.0.0.1:{address[1]}," in first
    assert f"inherited fd {fd}" in first
    assert r.status == 0


def test_socket_activation_uses_descriptor_three() -> None:
    with bound_udp() as sock, spawn(["listen", "-c", "2", "--json"], activate=[sock.fileno()]) as proc:
        start, summary = receive_two(proc, sock)
    assert start["fd"] == 3 and summary["received"] == 2


def test_socket_activation_with_two_sockets_takes_the_one_fd_names() -> None:
    with bound_udp() as first, bound_udp() as second:
        fds = [first.fileno(), second.fileno()]
        with spawn(["listen", "--fd", "4", "-c", "2", "--json"], activate=fds) as proc:
            start, summary = receive_two(proc, second)
    assert start["fd"] == 4 and summary["received"] == 2


def test_socket_activation_with_two_sockets_and_no_fd_is_a_usage_error() -> None:
    with bound_udp() as first, bound_udp() as second, spawn(
        ["listen", "-c", "1"], activate=[first.fileno(), second.fileno()]
    ) as proc:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip() == (
        "wskrecv: error: socket activation passed 2 sockets (LISTEN_FDS): choose one with --fd 3..4"
    )


def test_socket_activation_meant_for_another_process_is_ignored() -> None:
    # LISTEN_PID names some other process (pid 1): wskrecv binds as asked.
    env = {"LISTEN_FDS": "1", "LISTEN_PID": "1"}
    with spawn(["listen", "-b", "127.0.0.1", "-p", "0", "-c", "1", "--json"], env=env) as proc:
        start = start_line(proc)
        assert "fd" not in start and start["port"] > 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"x", ("127.0.0.1", start["port"]))
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_socket_activation_with_bind_or_port_is_a_usage_error() -> None:
    with bound_udp() as sock, spawn(["listen", "--port", "0"], activate=[sock.fileno()]) as proc:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--bind/--port do not apply" in err and len(err.strip().splitlines()) == 1


@contextmanager
def descriptor(kind: str) -> Iterator[Optional[int]]:
    """A descriptor of the given kind in this process (None: one that is not open)."""
    if kind == "closed":
        yield None
    elif kind == "pipe":
        r, w = os.pipe()
        try:
            yield r
        finally:
            os.close(r)
            os.close(w)
    else:
        family, type_, bind = {
            "tcp": (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0)),
            "unix": (socket.AF_UNIX, socket.SOCK_DGRAM, None),
            "netlink": (socket.AF_NETLINK, socket.SOCK_RAW, None),
            "unbound": (socket.AF_INET, socket.SOCK_DGRAM, None),
        }[kind]
        with socket.socket(family, type_) as s:
            if bind:
                s.bind(bind)
                s.listen()
            yield s.fileno()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("closed", "descriptor {fd} is not open"),
        ("pipe", "descriptor {fd} is not a socket"),
        ("tcp", "descriptor {fd} is not a UDP socket: TCP (SOCK_STREAM)"),
        ("unix", "descriptor {fd} is not a UDP socket: AF_UNIX"),
        ("netlink", "descriptor {fd} is not a UDP socket: AF_NETLINK"),
        ("unbound", "descriptor {fd} is a UDP socket that is not bound to a port"),
    ],
)
def test_a_descriptor_that_is_not_a_bound_udp_socket_is_a_usage_error(kind: str, message: str) -> None:
    with descriptor(kind) as fd:
        if fd is None:  # a number no descriptor of the process has: the installed command's
            number = 250
            with spawn(["listen", "--fd", str(number), "--json"]) as proc:
                out, err = proc.communicate(timeout=30)
            status = proc.returncode
        else:  # this process's own: refused, and left open (a failed adoption closes nothing)
            number = fd
            r = wskrecv("listen", "--fd", str(number), "--json")
            out, err, status = r.stdout, r.stderr, r.status
            os.fstat(fd)
    assert status == 2 and out == ""
    assert err.strip() == f"wskrecv: error: --fd {number}: " + message.format(fd=number)


def test_socket_activation_of_something_else_names_activation_not_fd() -> None:
    """No --fd was given: the error says where the descriptor came from."""
    with descriptor("unix") as fd:
        assert fd is not None
        with spawn(["listen", "--json"], activate=[fd]) as proc:
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert err.strip() == ("wskrecv: error: socket activation (LISTEN_FDS): "
                           "descriptor 3 is not a UDP socket: AF_UNIX")


def test_fd_with_bind_is_a_usage_error() -> None:
    with bound_udp() as sock:
        r = wskrecv("listen", "--fd", str(sock.fileno()), "--bind", "127.0.0.1")
        err = r.stderr
        os.fstat(sock.fileno())  # still the test's
    assert r.status == 2
    assert err.strip() == (
        "wskrecv: error: --fd receives on the inherited socket's address: drop --bind/--port"
    )



def overflowed(stages: int = 2) -> tuple[socket.socket, int]:
    """A bound socket whose tiny queue overflowed before any wskrecv saw it: (the socket,
    datagrams still queued). The socket asks for SO_RXQ_OVFL itself and the queue is
    filled in `stages`, reading a few between them, so the datagrams left in it carry
    drop counts from before the run in their control data."""
    sock = bound_udp()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # the kernel's minimum
    sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    sent = read = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for stage in range(stages):
            for _ in range(2 if stage else 0):  # room for datagrams with the count so far
                sock.recv(2048)
                read += 1
            for i in range(300):  # loopback queues (or drops) before sendto returns
                tx.sendto(b"%03d" % i * 50, sock.getsockname())
                sent += 1
    return sock, sent - read - socket_drops(sock)


def summary_of(out: str) -> dict[str, Any]:
    (summary,) = [json.loads(x) for x in out.splitlines() if '"summary"' in x]
    return summary


@pytest.mark.parametrize("activated", [False, True])
def test_drops_before_the_run_are_reported_apart_from_the_runs(activated: bool) -> None:
    """The inherited socket dropped datagrams before wskrecv started: kernel_drops counts
    this run's drops only (none here), kernel_drops_before_run the earlier ones."""
    sock, queued = overflowed()
    with sock:
        before = socket_drops(sock)
        assert before > 0 and queued > 0
        fd = sock.fileno()
        args = ["listen", "-c", str(queued + 2), "--json"]
        with spawn(args, activate=[fd]) if activated else spawn(
                [*args, "--fd", str(fd)], pass_fds=[fd]) as proc:
            start = start_line(proc)
            assert start["kernel_drops_before_run"] == before
            assert wait_for(lambda: queued_bytes(sock) == 0, 30)  # read what waited
            for _ in range(2):
                sock.sendto(b"new", sock.getsockname())
            out, err = proc.communicate(timeout=30)
        assert socket_drops(sock) == before  # nothing was dropped during the run
    assert proc.returncode == 0, err
    summary = summary_of(out)
    assert summary["received"] == queued + 2
    assert summary["kernel_drops"] == 0 and summary["kernel_drops_after_last_read"] == 0
    assert summary["kernel_drops_before_run"] == before


def test_drops_during_the_run_are_counted_and_those_before_it_apart() -> None:
    """event --pend with a pool of 4 stops reading: datagrams sent now overflow the queue
    during the run. kernel_drops is exactly what the socket's counter gained meanwhile."""
    sock, _ = overflowed()
    with sock:
        before = socket_drops(sock)
        fd = sock.fileno()
        with spawn(["event", "--pend", "--hold", "60000", "--pool", "4", "--fd", str(fd),
                    "--json", "-i", "0.05"], pass_fds=[fd]) as proc:
            start_line(proc)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                for i in range(200):
                    tx.sendto(b"%03d" % i * 50, sock.getsockname())
            during = socket_drops(sock) - before
            assert during > 0
            assert proc.stdout is not None
            assert wait_for(lambda: any(json.loads(line).get("kernel_drops") == during
                                        for line in [read_line(proc.stdout, 20)]), 30)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert socket_drops(sock) == before + during
    assert proc.returncode == 0, err
    summary = summary_of(out)
    assert summary["kernel_drops"] == during and summary["kernel_drops_before_run"] == before


def test_a_socket_of_its_own_has_no_drops_before_the_run() -> None:
    r = receive("listen", "-c", "1", send=[b"x"])
    assert "kernel_drops_before_run" not in r.start
    assert r.summary["kernel_drops_before_run"] is None
