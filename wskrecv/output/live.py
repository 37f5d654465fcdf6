"""The live dashboard on stderr, drawn by a display process of its own.

The receive loop only freezes a snapshot a few times a second and writes it, pickled, to
the display process (`wskrecv.output.screen`, started with this process's Python), which
draws it with rich. The write never
blocks: when the display falls behind, frames are dropped, never datagrams delayed. If the
display process cannot be started, the dashboard is drawn in this process instead (each
frame then costs the receive loop a few milliseconds).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from typing import IO, Any, Optional

import wskrecv
from wskrecv.errors import ExitStatus
from wskrecv.output.human import HumanReporter
from wskrecv.output.screen import FRAME_INTERVAL, Screen, encode
from wskrecv.stats.snapshot import Snapshot

MAX_BACKLOG = 1 << 20  # bytes of messages held back while the display is behind
FINAL_WAIT = 5.0  # seconds the run's end waits for the display to draw its last frame
# What the terminal needs back from a display process that died without giving it back
# (killed, crashed, or killed by us after FINAL_WAIT): CAN cancels an escape sequence it
# was cut off in, then attributes reset, the normal screen back (it draws on the alternate
# one), the cursor shown again (it hid it), and a fresh line for what follows.
RESTORE_TERMINAL = "\x18\x1b[0m\x1b[?1049l\x1b[?25h\n"


def _ignore_stop_signals() -> None:
    """In the display process before it runs Python: Ctrl-C (sent to the whole terminal
    process group) and SIGTERM are the receiver's to act on; it then ends the display."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _display_command(color: bool) -> list[str]:
    """Run wskrecv.output.screen from this very wskrecv, whatever the current directory
    holds (`python -m` would look there first)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(wskrecv.__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            f"from wskrecv.output.screen import main; main(color={color!r})")
    return [sys.executable, "-c", code]


def _fate(status: int) -> str:
    """How a process ended, from its Popen return code: "was killed (SIGKILL)"."""
    if status < 0:
        try:
            return f"was killed ({signal.Signals(-status).name})"
        except ValueError:
            return f"was killed (signal {-status})"
    return f"failed (exit {status})"


class LiveReporter:
    """Dashboard on `stream` (a terminal); JSON lines too when `also` is given."""

    frame_interval = FRAME_INTERVAL

    def __init__(
        self, stream: IO[str], also: Any = None, dump: Optional[IO[str]] = None,
        color: bool = True, in_process: bool = False, chart: str = "auto",
        per_stream: bool = False, timestamps: Optional[str] = None,
    ) -> None:
        self.stream = stream
        self.also = also  # a JsonReporter for --json --live, else None
        self.per_stream = per_stream  # the summary lists every stream
        # For --dump lines, and interval lines if the display process dies.
        self.plain = HumanReporter(stream, dump=dump, per_stream=per_stream, timestamps=timestamps)
        self.proc: Optional[subprocess.Popen] = None
        self.spawned = False  # a display process was started (it may have ended since)
        self.fd = -1
        self.backlog = b""
        self.dropped = 0  # frames the display was too slow for
        self.held: list[dict[str, Any]] = []  # notes for after the dashboard
        self.screen: Optional[Screen] = None
        self.color = color  # Environment.color: --color/--no-color, NO_COLOR, TERM
        self.chart = chart  # --chart: the display's alone (not a JSON start field)
        if not in_process:
            self._spawn()
        if self.proc is None:
            self.screen = Screen(stream, color=color)

    def _spawn(self) -> None:
        try:
            self.stream.flush()
            self.proc = subprocess.Popen(
                _display_command(self.color), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=self.stream, close_fds=True, preexec_fn=_ignore_stop_signals,
            )
        except (OSError, ValueError):  # no executable, stderr without a descriptor...
            self.proc = None
            return
        assert self.proc.stdin is not None
        self.fd = self.proc.stdin.fileno()
        os.set_blocking(self.fd, False)
        self.spawned = True

    # -- talking to the display process -----------------------------------------------

    def _send(self, message: tuple[Any, ...], droppable: bool = True) -> None:
        if self.screen is not None:
            self.screen.handle(message)
            self.screen.draw()
            return
        if self.fd < 0:
            return
        if droppable and len(self.backlog) > MAX_BACKLOG:
            self.dropped += 1
            return
        self.backlog += encode(message)
        self._flush()

    def _flush(self) -> None:
        try:
            while self.backlog:
                n = os.write(self.fd, self.backlog)
                self.backlog = self.backlog[n:]
        except BlockingIOError:
            pass  # the rest goes with the next message
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EBADF):
                raise
            self._end_display(during_run=True)  # it died: go on receiving without it

    def _hang_up(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.fd = -1
        self.backlog = b""

    def _finish(self, message: tuple[Any, ...]) -> None:
        """Deliver the last message (waiting a little for a slow display), then wait for
        the display to give the terminal back."""
        if self.proc is None:
            return
        if self.fd >= 0:
            self.backlog += encode(message)
            end = time.monotonic() + FINAL_WAIT
            while self.backlog and self.fd >= 0 and time.monotonic() < end:
                self._flush()
                if self.backlog:
                    time.sleep(0.01)
        self._end_display()

    def _end_display(self, during_run: bool = False) -> None:
        """Hang up on the display process and reap it (killing it if it lingers). One
        that did not end by itself, cleanly, left the terminal as it was mid-frame (the
        cursor hidden): give the terminal back here, and say what became of it."""
        proc = self.proc
        if proc is None:
            return
        self._hang_up()
        self.proc = None
        try:
            status = proc.wait(FINAL_WAIT)
            fate = _fate(status)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
            fate = f"did not end within {FINAL_WAIT:g} s: killed"
        if status != 0:
            then = "; plain interval lines from here on" if during_run else ""
            self.stream.write(f"{RESTORE_TERMINAL}wskrecv: the live view's display process "
                              f"{fate}{then}\n")
            self.stream.flush()

    # -- the reporter interface -----------------------------------------------------

    def start(self, info: dict[str, Any]) -> None:
        if self.also is not None:
            self.also.start(info)
        self._send(("start", {**info, "chart": self.chart}), droppable=False)

    def frame(self, snap: Snapshot) -> None:
        self._send(("frame", snap))

    def interval(self, snap: Snapshot) -> None:
        if self.also is not None:
            self.also.interval(snap)
        if self.lost_display:
            self.plain.interval(snap)
        else:
            self._send(("interval", snap))

    @property
    def lost_display(self) -> bool:
        """The display process died during the run: no dashboard any more."""
        return self.screen is None and self.proc is None and self.spawned

    def note(self, record: dict[str, Any]) -> None:
        """iperf3 notes go to the JSON lines; the dashboard shows the latest itself.
        Others (the metrics endpoint's) are printed after the summary, or at once once the
        dashboard is gone."""
        if self.also is not None:
            self.also.note(record)
        elif record.get("type", "iperf3") != "iperf3":
            if self.lost_display:
                self.plain.note(record)
            else:
                self.held.append(record)

    def datagram(self, record: dict[str, Any]) -> None:
        if self.also is not None:
            self.also.datagram(record)
        else:
            self.plain.datagram(record)

    def summary(
        self, snap: Snapshot, status: ExitStatus, reason: str, threshold: Optional[str] = None
    ) -> None:
        if self.screen is not None:
            self.screen.finish(snap, reason)
        else:
            self._finish(("final", snap, reason))
        self.plain.summary(snap, status, reason)  # wrapped at the terminal's width
        for record in self.held:
            self.plain.note(record)
        self.held.clear()
        if self.also is not None:
            self.also.summary(snap, status, reason, threshold)

    def close(self) -> None:
        """Give the terminal back even when the run failed (idempotent)."""
        if self.screen is not None:
            self.screen.close()
        elif self.proc is not None:
            self._end_display()
