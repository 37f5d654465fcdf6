"""The live dashboard in a real terminal emulator (tmux) at the sizes people use, and
through resizes (issue 28): the header whole, the panels that matter kept first on small
terminals with what is left out named, the Sizes panel saying how many ranges it hides,
a loss chart beside the rate once something is lost, and no stale row or old frame left
on the screen or in the scrollback after shrinking and growing the terminal."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import WSKRECV, wait_for
from wskrecv import payload

TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian package tmux; "
                       ".ci/run installs it when it can)"),
]
SIZES = (40, 100, 200, 400, 800, 1600, 3200)  # 7 power-of-two size ranges
SENT = 280  # sequences 0..279, every 10th never sent: 252 received, 27 lost (279 is past
# the highest sequence seen, 278: not known to be lost)


class Tmux:
    """A tmux server of the test's own (its own socket), one window running a command."""

    def __init__(self, tmp: Path) -> None:
        assert TMUX is not None
        self.base = [TMUX, "-S", str(tmp / "tmux.sock"), "-f", "/dev/null"]

    def __call__(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], check=True, capture_output=True, text=True,
                              timeout=30).stdout

    def screen(self) -> list[str]:
        """The screen's rows, down to the last that is not blank."""
        rows = self("capture-pane", "-p", "-t", "t").splitlines()
        while rows and not rows[-1].strip():
            rows.pop()
        return rows

    def everything(self) -> list[str]:
        """The scrollback and the screen."""
        return self("capture-pane", "-p", "-S", "-", "-t", "t").splitlines()

    def resize(self, width: int, height: int) -> list[str]:
        """Resize the window and wait for a frame drawn at the new size: its header, the
        first line, ends at the last column (the elapsed time), then the screen."""
        self("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

        def drawn() -> bool:
            shown = self.screen()
            return bool(shown) and len(shown[0]) == width and shown[0].endswith(" s")

        assert wait_for(drawn, 30, step=0.05), "\n".join(self.screen())
        return self.screen()


@contextmanager
def receiver(tmp: Path) -> Iterator[tuple[Tmux, int]]:
    """`wskrecv event --live` in a 130x45 tmux window; the start object (--json) goes to
    a file, whence the port."""
    tmux = Tmux(tmp)
    out = tmp / "out.jsonl"
    err = tmp / "exit"
    # The shell survives the Ctrl-C (a trap, which its child does not inherit) to write
    # wskrecv's exit status.
    command = (f"trap : INT; {shlex.quote(WSKRECV)} event -b 127.0.0.1 -p 0 -i 0.2 --live --json "
               f"> {shlex.quote(str(out))}; echo $? > {shlex.quote(str(err))}; sleep 600")
    # The size is the window's: COLUMNS and LINES (pytest-xdist's workers export 80x24)
    # would pin the dashboard's width whatever the resizes.
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "TMUX", "COLUMNS", "LINES")}
    subprocess.run([*tmux.base, "new-session", "-d", "-s", "t", "-x", "130", "-y", "45",
                    "sh", "-c", command], check=True, env=env, timeout=30)
    try:
        assert wait_for(lambda: out.exists() and out.read_text().endswith("\n"), 30)
        start = json.loads(out.read_text().splitlines()[0])
        yield tmux, start["port"]
    finally:
        tmux("kill-server")


def send(port: int) -> None:
    """SENT sequences of one stream, every 10th missing, in SIZES turn by turn."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for seq in range(SENT):
            if seq % 10 != 9:
                size = SIZES[seq % len(SIZES)]
                body = bytes(size - payload.HEADER_LEN)
                data = payload.build(1, seq, time.time_ns(), body)
                s.sendto(bytes(data), ("127.0.0.1", port))


def panel_titles(lines: list[str]) -> list[str]:
    return re.findall(r"╭─ ([^─]+?) ─", "\n".join(lines))


def test_the_dashboard_at_each_size_and_through_resizes(tmp_path: Path) -> None:
    with receiver(tmp_path) as (tmux, port):
        send(port)

        def counted() -> bool:
            return any("252" in line for line in tmux.screen() if "received" in line)

        assert wait_for(counted, 30, step=0.05), "\n".join(tmux.screen())

        # 130x45: the whole header (it collapsed to " event  0.8 s" between 115 and 149
        # columns), every panel, and the loss chart beside the rate chart.
        shown = tmux.resize(130, 45)
        head = shown[0]
        assert "wskrecv" in head and " event " in head and f"127.0.0.1:{port}" in head
        assert "seq auto" in head
        titles = panel_titles(shown)
        for title in ("Traffic", "Sequence", "Latency", "Sizes (bytes)", "Top sources",
                      "Drops", "Event style", "Datagrams/s per interval, newest right",
                      "Loss (%) per interval, newest right"):
            assert title in titles, (title, titles)

        # 80x24: every panel; the Sizes panel shows a few of its 7 ranges and says how
        # many more there are.
        shown = tmux.resize(80, 24)
        assert {"Traffic", "Sequence", "Latency", "Drops", "Sizes (bytes)", "Top sources",
                "Event style"} <= set(panel_titles(shown))
        ranges = [line for line in shown if re.search(r"│\s+\d+-\d+ █", line)]
        more = re.search(r"\+(\d+) more", "\n".join(shown))
        assert more and len(ranges) + int(more.group(1)) == len(SIZES), "\n".join(shown)

        # 70x20: loss and drops stay, sizes and sources go first, and the last line says so.
        shown = tmux.resize(70, 20)
        titles = panel_titles(shown)
        assert {"Traffic", "Sequence", "Drops", "Latency"} <= set(titles)
        assert "Top sources" not in titles and "Sizes (bytes)" not in titles
        assert re.search(r"not shown.*Sizes \(bytes\), Top sources", shown[-1]), shown[-1]
        assert re.search(r"lost\s+27 ", "\n".join(shown))

        # 60x15: still the loss, the drops, the latency and the jitter.
        shown = tmux.resize(60, 15)
        text = "\n".join(shown)
        assert {"Sequence", "Drops", "Latency"} <= set(panel_titles(shown)), text
        assert "lost" in text and "kernel (socket)" in text and "jitter" in text
        assert "not shown" in shown[-1] and all(len(line) <= 60 for line in shown)

        # Back to 130x45: the header is the first row, nothing of an older frame above it
        # or anywhere on the screen.
        shown = tmux.resize(130, 45)
        assert shown[0].startswith(" wskrecv ") and panel_titles(shown).count("Traffic") == 1

        # Ctrl-C: the summary, exit 0; the scrollback holds one frame (the last, printed
        # for the record), not the frames of every size the terminal had.
        tmux("send-keys", "-t", "t", "C-c")
        assert wait_for(lambda: (tmp_path / "exit").exists(), 30)
        assert (tmp_path / "exit").read_text().strip() == "0"
        everything = tmux.everything()
        assert panel_titles(everything).count("Traffic") == 1, "\n".join(everything)
        summary = next(i for i, line in enumerate(everything)
                       if line.startswith("--- wskrecv event summary (interrupted"))
        assert any(line.startswith("received     252 datagrams") for line in everything[summary:])
