"""Filling socket queues for the benchmark, checked against what a drain really reads."""

from __future__ import annotations

import socket

import pytest

from wskrecv import payload
from wskrecv.bench import native
from wskrecv.bench.native import Native
from wskrecv.bench.queue import Sender, fill, plain_socket, probe_truesize, queued_bytes
from wskrecv.bench.run import plan_queue, run_drain
from wskrecv.bench.targets import PythonLoop

pytestmark = pytest.mark.network


def drain_all(sock: socket.socket) -> int:
    """Read everything queued (non-blocking) and count it."""
    sock.setblocking(False)
    n = 0
    try:
        while True:
            sock.recv(65535)
            n += 1
    except BlockingIOError:
        return n


@pytest.fixture(scope="module")
def c_sender() -> Sender:
    built = native.build()
    if not built.available:
        pytest.skip(built.note)
    return Sender(built)


def small_socket(rcvbuf: int) -> socket.socket:
    """A socket whose queue is capped by plain SO_RCVBUF (no SO_RCVBUFFORCE, even as root)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_fill_queues_every_datagram_and_a_drain_reads_exactly_that_many(c_sender: Sender) -> None:
    with plain_socket(8 << 20) as sock:
        truesize = probe_truesize(sock, 64)
        assert truesize > 64 and queued_bytes(sock) == 0
        report = fill(sock, 3000, 64, truesize, c_sender)
        assert (report.sent, report.queued, report.drops, report.lost) == (3000, 3000, 0, 0)
        assert drain_all(sock) == 3000


@pytest.mark.parametrize("which", ["c", "python"])
def test_both_senders_write_wskrecv_headers_with_consecutive_sequences(
    which: str, c_sender: Sender
) -> None:
    sender = c_sender if which == "c" else Sender(Native(None, None, "no compiler (test)"))
    with plain_socket(8 << 20) as sock:
        truesize = probe_truesize(sock, 64)
        fill(sock, 200, 64, truesize, sender)
        sock.setblocking(False)
        headers = [payload.parse_wskrecv(sock.recv(65535)) for _ in range(200)]
    assert all(h is not None and h.valid for h in headers)
    assert [h.sequence for h in headers] == list(range(200))  # type: ignore[union-attr]
    assert all(h.send_ns > 1_600_000_000 * 10**9 for h in headers)  # type: ignore[union-attr]


def test_an_overfull_queue_is_counted_exactly_with_its_drops(c_sender: Sender) -> None:
    with small_socket(64 << 10) as sock:
        truesize = probe_truesize(sock, 64)
        report = fill(sock, 2000, 64, truesize, c_sender)
        assert report.drops > 0 and report.queued < 2000
        assert report.queued + report.drops == report.sent == 2000
        assert drain_all(sock) == report.queued


def test_the_python_sender_fills_when_there_is_no_compiler() -> None:
    sender = Sender(Native(None, None, "none here"))
    assert sender.method == "Python send loop"
    with plain_socket(4 << 20) as sock:
        report = fill(sock, 500, 100, probe_truesize(sock, 100), sender)
        assert (report.queued, report.drops) == (500, 0)
        assert drain_all(sock) == 500


class SmallQueueLoop(PythonLoop):
    """The Python baseline on a socket whose queue cannot be forced large."""

    def open(self, rcvbuf: int) -> socket.socket:
        self.sock = small_socket(min(rcvbuf, 100_000))
        return self.sock


def test_a_count_larger_than_the_queue_is_lowered_to_what_fits_and_said(c_sender: Sender) -> None:
    target = SmallQueueLoop()
    count, truesize, _rcvbuf, notes = plan_queue([target], 100_000, 64)
    assert 10 < count < 100_000
    assert "count lowered from 100000" in notes[0]
    run = run_drain([target], c_sender, 100_000, 64, 1, lambda _line: None)
    (sample,) = run.samples
    assert run.count == count and run.truesize == truesize
    assert sample.rounds[0]["queued"] == count and sample.rounds[0]["fill_lost"] == 0


def test_the_c_helper_is_built_once_and_reused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if native.find_compiler() is None:
        pytest.skip("no C compiler here")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = native.build()
    assert first.available and first.path is not None and first.path.startswith(str(tmp_path))
    assert native.build().path == first.path


def test_a_failing_compiler_means_no_c_baseline_with_a_note(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = native.build("/bin/false")
    assert not built.available
    assert "C compiler /bin/false failed" in built.note and "skipped" in built.note
