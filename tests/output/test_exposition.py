"""The /metrics HTTP server, in-process on loopback: idle connections are bounded in
number and time, a real scrape is served whatever they do, and descriptor exhaustion is
said once, not spun on."""

from __future__ import annotations

import errno
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from tests.conftest import wait_for
from wskrecv.output.metrics import MetricsEndpoint


@contextmanager
def endpoint(**kw: Any) -> Iterator[MetricsEndpoint]:
    ep = MetricsEndpoint("127.0.0.1:0", **kw)
    ep.start()
    try:
        yield ep
    finally:
        ep.close()


def connection_threads() -> int:
    return sum(t.name == "wskrecv-metrics-conn" for t in threading.enumerate())


def scrape(ep: MetricsEndpoint) -> str:
    with urllib.request.urlopen(ep.url, timeout=10) as r:
        return r.read().decode()


def test_idle_connections_are_bounded_and_the_real_scrape_is_served() -> None:
    """435 idle connections used to hold 436 threads; under a memory limit the real
    scrape then got an empty reply."""
    with endpoint(max_connections=4) as ep, ExitStack() as idle:
        for _ in range(40):
            idle.enter_context(socket.create_connection(("127.0.0.1", ep.port), timeout=10))
        assert wait_for(lambda: ep.server.evicted >= 36, 20)
        assert connection_threads() <= 4
        assert "wskrecv_iperf3" not in scrape(ep) and scrape(ep).startswith("# HELP")
        assert connection_threads() <= 4


def test_a_silent_connection_is_closed_after_the_timeout() -> None:
    with endpoint(timeout=0.2) as ep:
        with socket.create_connection(("127.0.0.1", ep.port), timeout=10) as s:
            s.sendall(b"GET /metr")  # and nothing more
            assert s.recv(4096) == b""  # closed by the server, not by our 10 s
        assert wait_for(lambda: connection_threads() == 0, 10)


class Exhausted:
    """The listening socket of a process with no descriptor left: accept() fails."""

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
    ep = MetricsEndpoint("127.0.0.1:0")  # not started: the test turns the accept loop
    try:
        server = ep.server
        listener = Exhausted(server.socket)
        server.socket = listener  # type: ignore[assignment]
        with socket.create_connection(("127.0.0.1", ep.port), timeout=10):
            for rest in (0.05, 0.1, 0.2):
                assert server._rest == rest  # each failed try rests longer, up to 2 s
                server._handle_request_noblock()  # serve_forever's turn: nothing printed
            assert listener.calls == 3
            assert [n["message"] for n in ep.take_notes()] == [
                "accept failed: Too many open files: /metrics connections wait until "
                "descriptors are free (said once)"]
            listener.full = False
            server._handle_request_noblock()
            assert [n["message"] for n in ep.take_notes()] == [
                "/metrics connections are accepted again"]
            assert server._rest == 0.05
    finally:
        ep.close()
