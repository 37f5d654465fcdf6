"""`wskrecv plot`: runs' JSON lines (written in the test by real runs: `analyze` of a
capture with two streams, a live `--workers 2` run) drawn as PNG, SVG, PDF and HTML files
whose kind and size are checked; without matplotlib, one line and exit 2; bad input."""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP

from tests.capture import builders
from tests.conftest import Wskrecv, read_line
from tests.harness import wskrecv
from wskrecv import payload

pytest.importorskip("matplotlib", reason="wskrecv[plot] is not installed (pip install '.[plot]')")

WIDTH, PANEL = 1200, 280  # the default width; each panel's height


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`analyze --json --per-stream` of 3 s of two streams, one losing every 10th."""
    where = tmp_path_factory.mktemp("runs")
    frames = []
    for i in range(300):
        stream, seq = i % 2, i // 2
        if stream and seq % 10 == 5:
            continue
        body = payload.build(stream, seq, 1_700_000_000 * 10**9 + i * 10**7, b"p" * 20)
        frames.append((1_700_000_000 * 10**9 + i * 10**7 + 30_000, bytes(IP() / UDP(dport=9) / bytes(body))))
    cap = where / "two.pcap"
    cap.write_bytes(builders.pcap(frames, 101))
    run = wskrecv("analyze", "--json", "--per-stream", "-i", "0.25", str(cap))
    assert run.status == 0, run.stderr
    path = where / "analyze.jsonl"
    path.write_bytes(run.out)
    return path


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A live `event --workers 2` run's JSON lines, traffic from 8 senders."""
    path = tmp_path_factory.mktemp("runs") / "workers.jsonl"
    with Wskrecv("event", "--workers", "2", "--interval", "0.1", "--count", "800") as w:
        lines = []
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        try:
            for seq in range(100):
                for i, s in enumerate(socks):
                    s.sendto(bytes(payload.build(i, seq, time.time_ns(), b"")), (w.address, w.port))
                if seq == 0:  # an interval with every sender seen, before the rest
                    while '"received":8' not in (line := read_line(w.proc.stdout, 30)):
                        lines.append(line)
                    lines.append(line)
        finally:
            for s in socks:
                s.close()
        status, objs, err = w.finish()
    assert status == 0, err
    path.write_text(json.dumps(w.start) + "\n" + "".join(lines)
                    + "".join(json.dumps(o) + "\n" for o in objs))
    return path


def test_png_of_runs_overlaid_with_stream_and_worker_panels(analysed: Path, workers: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "runs.png"
    r = wskrecv("plot", str(analysed), str(workers), "--label", "capture", "-o", str(out))
    assert r.status == 0, r.stderr
    # Five panels, per-stream loss (the capture's streams) and per-worker rate (the live run).
    assert png_size(out.read_bytes()) == (WIDTH, 7 * PANEL)
    r = wskrecv("plot", str(analysed), "-o", str(out), "--width", "800")
    assert r.status == 0 and png_size(out.read_bytes()) == (800, 6 * PANEL)


@pytest.mark.parametrize("ext", ["svg", "pdf", "html"])
def test_svg_pdf_and_html_are_files_of_their_kind(analysed: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"run.{ext}"
    r = wskrecv("plot", str(analysed), "-o", str(out), "--title", "two streams")
    assert r.status == 0, r.stderr
    data = out.read_bytes()
    points = f"{WIDTH * 72 / 100:g}", f"{6 * PANEL * 72 / 100:g}"  # 100 px per inch, 72 pt
    if ext == "pdf":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert re.search(rb"/MediaBox \[ ?0 0 %s %s ?\]" % (points[0].encode(), points[1].encode()), data)
        return
    text = data.decode()
    svg = re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', text)
    assert svg and svg.groups() == points
    assert "two streams" in text
    if ext == "html":
        assert text.startswith("<!DOCTYPE html>") and "<title>two streams</title>" in text


def test_without_matplotlib_one_line_says_how_to_install(analysed: Path, tmp_path: Path,
                                                         monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    r = wskrecv("plot", str(analysed), "-o", str(tmp_path / "x.png"))
    assert (r.status, r.stderr) == (2, "wskrecv: error: plotting needs matplotlib: "
                                    "pip install 'wskrecv[plot]'\n")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("content, message", [
    (b'{\n  "start": {"version": "iperf 3.12"}\n}\n', "line 1 is not JSON"),  # iperf3 --json
    (b'{"type": "connected", "when": 1}\n', 'no known "type"'),
    (b"", "is empty"),
    (b'{"type":"summary","received":3}\n', "nothing to plot: no interval objects"),
])
def test_a_file_that_is_not_a_run_is_one_line_naming_it(tmp_path: Path, content: bytes,
                                                         message: str) -> None:
    path = tmp_path / "other.json"
    path.write_bytes(content)
    r = wskrecv("plot", str(path), "-o", str(tmp_path / "x.png"))
    assert r.status == 2 and message in r.stderr and str(path) in r.stderr
    assert len(r.stderr.splitlines()) == 1 and not (tmp_path / "x.png").exists()


def test_outputs_that_cannot_be_written(analysed: Path, tmp_path: Path) -> None:
    r = wskrecv("plot", str(analysed), "-o", str(tmp_path / "no" / "such" / "dir.png"))
    assert r.status == 2
    assert r.stderr == f"wskrecv: error: cannot write {tmp_path}/no/such/dir.png: No such file or directory\n"
    r = wskrecv("plot", str(analysed), "-o", str(tmp_path / "x.gif"))
    assert r.status == 2 and "say the format by its extension: .png, .svg, .pdf or .html" in r.stderr
    r = wskrecv("plot", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "x.png"))
    assert r.status == 2 and "missing.jsonl: No such file or directory" in r.stderr


def test_hostile_values_are_gaps_and_long_lines_refused(tmp_path: Path) -> None:
    lines = [{"type": "interval", "t": 1, "datagrams_per_s": "lots", "latency_ms": [1],
              "streams": "x", "workers": [{"worker": 0, "datagrams_per_s": float("1e308") * 10}]},
             {"type": "interval", "t": 2, "datagrams_per_s": 5, "interval_expected": 1,
              "interval_loss_pct": 0}]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in lines) + "\n")
    out = tmp_path / "odd.png"
    assert wskrecv("plot", str(path), "-o", str(out)).status == 0
    assert png_size(out.read_bytes()) == (WIDTH, 6 * PANEL)  # the worker panel, its point a gap
    path.write_bytes(b'{"type": "interval", "t": 1, "x": "' + b"y" * (1 << 20) + b'"}\n')
    r = wskrecv("plot", str(path), "-o", str(out))
    assert r.status == 2 and "line 1 is longer than 1048576 bytes" in r.stderr
