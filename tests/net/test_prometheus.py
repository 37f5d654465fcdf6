"""A real Prometheus server scrapes `wskrecv listen --metrics` and counts what was sent."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.conftest import Wskrecv, popen, wait_for

PROMETHEUS = shutil.which("prometheus")
SENT = 250

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the Prometheus server is not installed (Debian package prometheus; .ci/run "
    "installs it when it can)",
)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> Optional[Any]:
    """The JSON (or None when the server does not answer yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body = r.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body


def query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    if not isinstance(answer, dict) or answer.get("status") != "success":
        return []
    return answer["data"]["result"]


def test_prometheus_scrapes_the_datagrams_received(tmp_path: Path) -> None:
    with Wskrecv("listen", "--metrics", "127.0.0.1:0", "--metrics-label", "link=test",
                 "--interval", "0.2", "--metrics-linger", "0") as w:
        target = f"127.0.0.1:{w.start['metrics_port']}"
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: wskrecv\n    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        web = f"127.0.0.1:{free_tcp_port()}"
        base = f"http://{web}"
        log = (tmp_path / "prometheus.log").open("w")
        argv = [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address={web}"]
        with log, popen(argv, stdout=log, stderr=subprocess.STDOUT) as prom:
            try:
                ready = wait_for(lambda: get(f"{base}/-/ready") is not None
                                 or prom.poll() is not None, 60, step=0.2)
                assert ready and prom.poll() is None, (tmp_path / "prometheus.log").read_text()
                # Scraped before anything is sent: the series exists at 0.
                assert wait_for(lambda: query(base, "wskrecv_datagrams_received_total"), 60, 0.2)
                w.send([b"p" * 32] * SENT)

                def counted() -> bool:
                    result = query(base, "wskrecv_datagrams_received_total")
                    return len(result) == 1 and float(result[0]["value"][1]) == SENT

                assert wait_for(counted, 60, step=0.2), query(base, "wskrecv_datagrams_received_total")
                (series,) = query(base, "wskrecv_datagrams_received_total")
                labels = series["metric"]
                assert (labels["job"], labels["mode"], labels["worker"], labels["link"]) == (
                    "wskrecv", "irp", "0", "test")
                # The usual mean of a histogram: its _sum's rate over its _count's.
                mean = ("rate(wskrecv_app_latency_seconds_sum[1m])"
                        " / rate(wskrecv_app_latency_seconds_count[1m])")

                def measured() -> bool:
                    result = query(base, mean)
                    return len(result) == 1 and 0 < float(result[0]["value"][1]) < 10

                assert wait_for(measured, 60, step=0.2), query(base, mean)
                (count,) = query(base, "wskrecv_app_latency_seconds_count")
                assert float(count["value"][1]) == SENT
            finally:
                prom.send_signal(signal.SIGTERM)
                try:
                    prom.wait(30)
                except subprocess.TimeoutExpired:
                    prom.kill()
        w.signal(signal.SIGTERM)
        status, objs, err = w.finish()
    assert status == 0, err
    assert objs[-1]["received"] == SENT
