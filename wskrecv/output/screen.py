"""The display process: draws the live dashboard from snapshots the receiver sends it.

Drawing a frame with rich costs milliseconds of CPU. Done in the receiving process it
would hold up the datagrams that arrive meanwhile (application latency spikes of a frame's
length) and take CPU from the receive path. So `wskrecv.output.live` starts this module as
a process of its own (`python -m wskrecv.output.screen`) and writes it length-prefixed
pickled messages on its stdin: ("start", info), ("frame", snapshot), ("interval",
snapshot), ("final", snapshot, reason). The process draws on its stderr (the terminal),
at most FRAME_RATE times a second, and exits when told the run is over or when its stdin
closes (the receiver died): either way it gives the terminal back (cursor shown).
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import time
from collections import deque
from typing import IO, Any, Optional

from rich.console import Console, RenderableType

from wskrecv.output.dashboard import View, render
from wskrecv.signals import wait_ready
from wskrecv.stats.snapshot import Snapshot

FRAME_INTERVAL = 0.25  # at most 4 redraws a second
RATE_WINDOW = 1.0  # seconds of frames the current rate is measured over
HISTORY = 240  # interval rates kept for the sparkline and the chart
LENGTH = struct.Struct("!I")  # each message: its pickled length, then the pickle


def encode(message: tuple[Any, ...]) -> bytes:
    """One message as it travels to the display process."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(body)) + body


HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
ALT_SCREEN_ON, ALT_SCREEN_OFF = "\x1b[?1049h", "\x1b[?1049l"
HOME, ERASE_LINE, ERASE_BELOW = "\x1b[H", "\x1b[2K", "\x1b[J"


class InPlace:
    """Frames drawn over each other on the terminal's alternate screen (as top and less
    draw), the last one printed on the normal screen at the end, where the summary follows.

    Drawn in the normal screen's flow (rich's Live), a frame is rows the terminal owns:
    shrinking the terminal reflows them and pushes the rows above the cursor into the
    scrollback, growing it brings one back above the next frame's header. The alternate
    screen has no scrollback: each frame is drawn from its top-left corner and erases
    what lies below it, so whatever the resizes, nothing stale stays on the screen and no
    old frame lands in the scrollback.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.is_started = False
        self._last = ""  # the last frame as written, for the normal screen at the end

    def start(self) -> None:
        self.is_started = True
        self._write(ALT_SCREEN_ON + HIDE_CURSOR)

    def draw(self, renderable: RenderableType, width: int, height: int) -> None:
        """Draw `renderable` over the last frame, from the screen's top-left corner."""
        with self.console.capture() as captured:
            self.console.print(renderable, width=width, height=height, crop=True)
        lines = captured.get().rstrip("\n").split("\n")
        # Each line erased before it is written: erasing after a line that fills the
        # width would take its last character (the cursor waits on it to wrap).
        self._last = "".join(f"{ERASE_LINE}{line}\n" for line in lines)
        self._write(f"{HOME}{self._last}{ERASE_BELOW}")

    def stop(self) -> None:
        """Back to the normal screen (where the cursor was before), the last frame printed
        there for the record, the cursor shown again."""
        if not self.is_started:
            return
        self.is_started = False
        self._write(f"{ALT_SCREEN_OFF}\r{self._last}{SHOW_CURSOR}")

    def _write(self, text: str) -> None:
        self.console.file.write(text)
        self.console.file.flush()


class Screen:
    """The dashboard on a terminal: keeps recent frames for the current rates and the
    interval rates for the chart, and redraws from the latest snapshot."""

    def __init__(
        self, stream: IO[str], console: Optional[Console] = None, color: bool = True
    ) -> None:
        self.console = console or Console(
            file=stream, force_terminal=True, highlight=False, no_color=not color
        )
        self.live = InPlace(self.console)
        self.info: dict[str, Any] = {}
        self.frames: deque[tuple[float, int, int]] = deque()
        # Each interval's datagrams/s, bits/s and loss (%), for the sparkline and the chart.
        self.history: deque[float] = deque(maxlen=HISTORY)
        self.bits_history: deque[float] = deque(maxlen=HISTORY)
        self.loss_history: deque[float] = deque(maxlen=HISTORY)
        self.last: Optional[Snapshot] = None
        self.final: Optional[str] = None

    def start(self, info: dict[str, Any]) -> None:
        self.info = info
        self.live.start()

    def frame(self, snap: Snapshot) -> None:
        """Take a newer snapshot (drawn by the next `draw`)."""
        self.last = snap
        frames = self.frames
        frames.append((snap.elapsed_s, snap.received, snap.bytes))
        while len(frames) > 2 and snap.elapsed_s - frames[1][0] >= RATE_WINDOW:
            frames.popleft()

    def interval(self, snap: Snapshot) -> None:
        self.history.append(snap.interval_datagrams_per_s)
        self.bits_history.append(snap.interval_bits_per_s)
        self.loss_history.append(snap.interval_loss_pct)
        self.frame(snap)

    def rates(self) -> tuple[float, float]:
        """Datagrams/s and bits/s over the last RATE_WINDOW of frames."""
        if self.last is None or not self.frames:
            return 0.0, 0.0
        t0, n0, b0 = self.frames[0]
        dt = self.last.elapsed_s - t0
        if dt <= 0:
            return 0.0, 0.0
        return (self.last.received - n0) / dt, (self.last.bytes - b0) * 8 / dt

    def draw(self) -> None:
        if self.last is None or not self.live.is_started:
            return
        dg, bits = self.rates()
        view = View(self.last, self.info, dg, bits, tuple(self.history), self.final,
                    tuple(self.bits_history), tuple(self.loss_history))
        width, height = self.console.size
        self.live.draw(render(view, width, height), width, height)

    def finish(self, snap: Snapshot, reason: str) -> None:
        """Draw the last frame, marked done, and give the terminal back."""
        self.frame(snap)
        self.final = reason
        self.draw()
        self.close()

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()

    def handle(self, message: tuple[Any, ...]) -> bool:
        """Apply one message; False once the run is over."""
        kind = message[0]
        if kind == "start":
            self.start(message[1])
        elif kind == "frame":
            self.frame(message[1])
        elif kind == "interval":
            self.interval(message[1])
        elif kind == "final":
            self.finish(message[1], message[2])
            return False
        return True


def serve(fd: int, screen: Screen) -> None:
    """Read messages from `fd` until the final one or end of file; redraw at most every
    FRAME_INTERVAL, always from the newest snapshot (older ones are only counted in)."""
    buf = b""
    next_draw = 0.0
    dirty = False
    try:
        while True:
            timeout = max(0.0, next_draw - time.monotonic()) if dirty else None
            ready, _ = wait_ready([fd], (), timeout)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return  # the receiver is gone
                buf += chunk
                while len(buf) >= LENGTH.size:
                    (n,) = LENGTH.unpack_from(buf)
                    if len(buf) < LENGTH.size + n:
                        break
                    message = pickle.loads(buf[LENGTH.size : LENGTH.size + n])
                    buf = buf[LENGTH.size + n :]
                    if not screen.handle(message):
                        return
                    dirty = True
            if dirty and time.monotonic() >= next_draw:
                screen.draw()
                dirty = False
                next_draw = time.monotonic() + FRAME_INTERVAL
    finally:
        screen.close()


def main(color: bool = True) -> None:
    """The display process. It starts with SIGINT and SIGTERM ignored (see live.py):
    stopping is the receiver's to do, and it then sends "final". `color`: whether the
    receiver's Environment allows colour (no_color keeps bold and reverse, drops hues)."""
    try:
        serve(sys.stdin.fileno(), Screen(sys.stderr, color=color))
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
