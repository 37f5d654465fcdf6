"""sockperf against wskrecv: `sockperf throughput` is counted as sockperf traffic; the
modes that wait for replies (ping-pong, under-load) are told, once, that wskrecv only
receives (issue 28)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess

import pytest

from tests.conftest import WSKRECV, popen, wait_for

SOCKPERF = shutil.which("sockperf")
pytestmark = [
    pytest.mark.network,
    pytest.mark.usefixtures("receive_core"),  # both counting kernels count the requests
    pytest.mark.skipif(SOCKPERF is None, reason="sockperf is not installed (Debian package "
                       "sockperf; .ci/run installs it when it can)"),
]


def test_under_load_is_told_once_that_wskrecv_only_receives() -> None:
    assert SOCKPERF is not None
    with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", "0", "--seq-format", "sockperf",
                "-i", "0.2", "--no-live"], stderr=subprocess.PIPE, text=True) as rx:
        assert rx.stderr is not None
        start = rx.stderr.readline()
        port = int(re.search(r"receiving on 127\.0\.0\.1:(\d+)", start).group(1))  # type: ignore[union-attr]
        peer = subprocess.run([SOCKPERF, "under-load", "-i", "127.0.0.1", "-p", str(port),
                               "-t", "1", "--mps", "2000"], capture_output=True, text=True,
                              timeout=60)
        assert "No messages were received from the server" in peer.stdout + peer.stderr
        rx.send_signal(signal.SIGINT)
        assert wait_for(lambda: rx.poll() is not None, 30)
        err = rx.stderr.read()
    assert rx.returncode == 0, err
    notes = re.findall(r"^wskrecv: note: (\d+) datagrams? asked for a reply .*wskrecv only "
                       r"receives", err, re.M)
    assert len(notes) == 1, err
    (summary,) = re.findall(r"^replies +(\d+) datagrams? asked for a reply", err, re.M)
    sequenced = int(re.search(r"^sequence +sockperf: (\d+) sequenced", err, re.M).group(1))  # type: ignore[union-attr]
    # under-load asks for a reply now and then, not in every message
    assert 0 < int(notes[0]) <= int(summary) < sequenced
