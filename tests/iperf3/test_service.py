"""The iperf3 server's sockets (service.py) in-process, on loopback: what the end of a run
reads first, and how it takes descriptor exhaustion."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.iperf3.test_server import COOKIE, FakeCounting
from wskrecv.iperf3 import protocol as p
from wskrecv.iperf3.server import Iperf3Server
from wskrecv.iperf3.service import Iperf3Service, open_listener


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def service() -> Iterator[tuple[Iperf3Service, list[dict[str, Any]], Clock]]:
    notes: list[dict[str, Any]] = []
    clock = Clock()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    listener = open_listener(("127.0.0.1", 0))
    svc = Iperf3Service(Iperf3Server(FakeCounting()), udp, listener, notes.append, clock)
    try:
        yield svc, notes, clock
    finally:
        svc.close()
        udp.close()


def serve_once(svc: Iperf3Service, timeout: float = 5.0) -> None:
    """One turn of the receive loop: wait for the service's descriptors, service them."""
    from wskrecv.signals import wait_ready

    read, write = svc.fds()
    ready, wready = wait_ready(read, write, timeout)
    svc.service(set(ready), set(wready), drained=True)


def recv_exactly(s: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        assert chunk, f"closed after {got!r}"
        got += chunk
    return got


def test_a_client_that_said_iperf3_done_as_the_run_ended_completed_its_test() -> None:
    """The race of tests/cli/test_iperf3.py's hostile-clients test: the client sends
    IPERF_DONE and exits, and the run is stopped before the loop read it. The end of the
    run reads it first: the test is done, not failed, and nobody is told SERVER_TERMINATE."""
    with service() as (svc, notes, clock):
        client = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        with client:
            serve_once(svc)  # accepted
            client.sendall(COOKIE + p.frame_json({"udp": True, "time": 1}))
            while svc.server.conn is None or svc.server.conn.state != "streams":
                serve_once(svc)
            svc.take([(b"9876", ("127.0.0.1", 50000))])  # its one stream connects
            assert recv_exactly(client, 4) == b"\x09\x0a\x01\x02"
            client.sendall(b"\x04")  # TEST_END
            serve_once(svc)  # the socket is drained: EXCHANGE_RESULTS
            assert recv_exactly(client, 1) == b"\x0d"
            client.sendall(p.frame_json({"streams": []}))
            serve_once(svc)  # the results go out
            (n,) = p.LENGTH.unpack(recv_exactly(client, 4))
            recv_exactly(client, n + 1)  # the JSON, DISPLAY_RESULTS
            client.sendall(b"\x10")  # IPERF_DONE; the run ends before the loop looks
            client.shutdown(socket.SHUT_WR)
            svc.close()
            assert client.recv(16) == b""  # closed, no SERVER_TERMINATE
    status = svc.server.status()
    assert (status["tests_done"], status["tests_failed"]) == (1, 0)
    assert [n["event"] for n in notes] == ["start", "running", "end"]


class Exhausted:
    """A listener in a process with no descriptor left: readable, and accept() fails."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.calls = 0
        self.full = True

    def accept(self) -> tuple[socket.socket, Any]:
        self.calls += 1
        if self.full:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return self.real.accept()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_out_of_descriptors_the_listener_rests_and_it_is_said_once() -> None:
    """It used to log "accept failed: Too many open files" on every pass of the loop
    (hundreds of thousands of lines, 70% CPU)."""
    with service() as (svc, notes, clock):
        listener = Exhausted(svc.listener)
        svc.listener = listener  # type: ignore[assignment]
        client = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        with client:
            serve_once(svc)  # readable: accept fails
            assert listener.calls == 1 and listener.fileno() not in svc.fds()[0]
            rests = []
            for _ in range(200):  # the loop's turns while the table stays full
                deadline = svc.next_deadline()
                assert deadline is not None and deadline > clock.now
                rests.append(deadline - clock.now)
                clock.now = deadline
                svc.service(set(), set(), drained=True)
            assert listener.calls == 201  # one try per rest, none in between
            assert rests[:4] == pytest.approx([0.05, 0.1, 0.2, 0.4]) and max(rests) == 2.0
            assert [n["message"] for n in notes] == [
                "accept failed: Too many open files: control connections wait until "
                "descriptors are free (said once)"]
            listener.full = False  # a descriptor is free again: the waiting client is served
            clock.now = svc.next_deadline()  # type: ignore[assignment]
            svc.service(set(), set(), drained=True)
            assert svc.control is not None
            assert notes[-1]["message"] == "control connections are accepted again"
            client.sendall(COOKIE)
            serve_once(svc)
            assert client.recv(1) == b"\x09"  # PARAM_EXCHANGE
