"""`--metrics`: the Prometheus endpoint of a run (one process or --workers). Runs scraped
while they go on, and ended by a signal, are the installed command; option errors run in
this process (tests/harness.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from typing import Optional

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.test_workers import send_spread
from tests.conftest import Wskrecv, read_line, wait_for
from tests.harness import wskrecv

PROMTOOL = shutil.which("promtool")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def samples(text: str, name: str) -> dict[tuple, float]:
    """{sorted label pairs: value} of metric sample `name`."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def total(port: int, name: str = "wskrecv_datagrams_received_total") -> float:
    return sum(samples(scrape(port), name).values())


@pytest.mark.parametrize("workers", [None, "2"])
def test_metrics_count_the_run_and_pass_promtool(workers: Optional[str]) -> None:
    extra = ["--workers", workers] if workers else []
    with Wskrecv("event", "--metrics", "127.0.0.1:0", "--metrics-label", "site=ams",
                 "--metrics-label", "link=uplink1", "--interval", "0.1", "--metrics-linger", "0",
                 *extra) as w:
        port = w.start["metrics_port"]
        assert w.start["metrics_url"] == f"http://127.0.0.1:{port}/metrics"
        sending = time.time()
        sent = send_spread(w, 10, body=b"y" * 100)
        assert wait_for(lambda: total(port) == sent, 20)
        text = scrape(port)
        scraped = time.time()
        w.signal(signal.SIGTERM)
        status, _, err = w.finish()
    assert status == 0, err
    received = samples(text, "wskrecv_datagrams_received_total")
    expected_workers = {"0", "1"} if workers else {"0"}
    assert {dict(k)["worker"] for k in received} == expected_workers
    assert all(dict(k)["mode"] == "event" and dict(k)["site"] == "ams"
               and dict(k)["link"] == "uplink1" for k in received)
    assert sum(samples(text, "wskrecv_sequences_lost").values()) == 0
    assert sum(samples(text, "wskrecv_datagram_size_bytes_count").values()) == sent
    assert sum(samples(text, "wskrecv_datagram_size_bytes_sum").values()) == sent * 136
    assert sum(v for k, v in samples(text, "wskrecv_datagram_size_bytes_bucket").items()
               if dict(k)["le"] == "255") == sent
    assert sum(v for k, v in samples(text, "wskrecv_one_way_latency_seconds_bucket").items()
               if dict(k)["le"] == "+Inf") == sent
    assert "wskrecv_pool_buffers_in_use" in text
    # Every histogram is complete: _count (the +Inf bucket) and an exact _sum, so the
    # usual mean, _sum / _count, exists for the latencies as for the sizes.
    histograms = [f for f in text_string_to_metric_families(text) if f.type == "histogram"]
    assert {f.name for f in histograms} == {"wskrecv_one_way_latency_seconds",
                                            "wskrecv_app_latency_seconds",
                                            "wskrecv_datagram_size_bytes"}
    for family in histograms:
        for labels in {tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                       for s in family.samples}:
            mine = {s.name[len(family.name):] + (s.labels.get("le", "")): s.value
                    for s in family.samples
                    if tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")) == labels}
            assert mine["_count"] == mine["_bucket+Inf"], (family.name, labels)
            assert "_sum" in mine, (family.name, labels)
    owd_count = sum(samples(text, "wskrecv_one_way_latency_seconds_count").values())
    owd_sum = sum(samples(text, "wskrecv_one_way_latency_seconds_sum").values())
    app_sum = sum(samples(text, "wskrecv_app_latency_seconds_sum").values())
    # send_spread stamps its datagrams with the time they are sent: each one-way latency
    # lies between sending and the scrape, on this host's one clock.
    assert owd_count == sent and 0 <= owd_sum / owd_count <= scraped - sending
    assert app_sum > 0
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_metrics_linger_after_the_run_with_the_final_counts(signum: int) -> None:
    with Wskrecv("listen", "--metrics", "0", "--count", "5", "--metrics-linger", "60") as w:
        port = w.start["metrics_port"]
        w.send([b"a"] * 5)
        summary = ""
        while '"type":"summary"' not in summary:
            summary = read_line(w.proc.stdout, 20)
        assert total(port) == 5  # the run is over; the endpoint still answers
        # the end-of-run figure reaches the last scrape: nothing was left queued
        assert samples(scrape(port), "wskrecv_datagrams_unread_at_exit_total") == {
            (("mode", "irp"), ("worker", "0")): 0.0}
        assert w.proc.poll() is None
        w.signal(signum)  # ends the linger early (SIGHUP used to kill it: exit 129)
        status, _, err = w.finish()
    assert status == 0, err
    assert err == ""


def test_metrics_port_in_use_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = wskrecv("listen", "--bind", "127.0.0.1", "--port", "0", "--duration", "0.1",
                    "--metrics", f"127.0.0.1:{port}")
    assert r.returncode == 1
    assert r.stderr == (f"wskrecv: error: --metrics: cannot listen on 127.0.0.1:{port}: "
                        "Address already in use\n")


def test_metrics_on_a_remote_address_need_permission() -> None:
    r = wskrecv("listen", "--bind", "127.0.0.1", "--port", "0", "--duration", "0.1",
                "--metrics", "0.0.0.0:0")
    assert r.returncode == 2
    assert "not a loopback address; the metrics reveal the traffic" in r.stderr
    assert "--metrics-allow-remote" in r.stderr
    r = wskrecv("listen", "--bind", "127.0.0.1", "--port", "0", "--duration", "0.1",
                "--metrics", "0.0.0.0:0", "--metrics-allow-remote", "--metrics-linger", "0")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "0", "--metrics-label", "mode=x"], "'mode' is set by wskrecv itself"),
        (["--metrics", "0", "--metrics-label", "9x=1"], "expected KEY=VALUE"),
        (["--metrics", "0", "--metrics-label", "a=1", "--metrics-label", "a=2"], "given twice"),
        (["--metrics", "70000"], "port 70000 is out of range"),
        (["--metrics", "[::1]:x"], "'x' is not a port number"),
        (["--metrics-linger", "3"], "--metrics-linger needs --metrics"),
        (["--metrics-label", "a=b"], "--metrics-label needs --metrics"),
        (["--metrics-connections", "4"], "--metrics-connections needs --metrics"),
        (["--metrics-timeout", "3"], "--metrics-timeout needs --metrics"),
        (["--metrics", "0", "--metrics-connections", "0"], "at least 1"),
    ],
)
def test_bad_metrics_options_are_usage_errors(args: list[str], message: str) -> None:
    r = wskrecv("listen", "--bind", "127.0.0.1", "--port", "0", "--duration", "0.1", *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_idle_connections_cost_no_thread_each_and_the_scrape_is_served(receive_core: object) -> None:
    """Idle connections to /metrics, more than it serves at once: the process's threads
    stay bounded (it used to make one per connection, for ever), and the real scrape
    still gets the counts."""
    with Wskrecv("event", "--metrics", "127.0.0.1:0", "--metrics-connections", "8",
                 "--metrics-linger", "0") as w, ExitStack() as idle:
        port = w.start["metrics_port"]
        w.send([b"m"] * 3)
        assert wait_for(lambda: total(port) == 3, 20)
        before = threads(w.proc.pid)
        for _ in range(100):
            idle.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
        assert wait_for(lambda: total(port) == 3, 20)  # served among them
        assert threads(w.proc.pid) <= before + 8
        w.signal(signal.SIGTERM)
        status, _, err = w.finish()
    assert status == 0, err
    assert "Traceback" not in err


def test_metrics_follow_the_run_without_interval_reports() -> None:
    with Wskrecv("listen", "--metrics", "0", "-i", "0", "--metrics-linger", "0") as w:
        port = w.start["metrics_port"]
        w.send([b"i"] * 7)
        assert wait_for(lambda: total(port) == 7, 20)
        w.signal(signal.SIGTERM)
        status, objs, err = w.finish()
    assert status == 0, err
    assert [o["type"] for o in objs] == ["summary"]
