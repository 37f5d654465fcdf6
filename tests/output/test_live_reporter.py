"""The live reporter without a display process (its in-process fallback), and the runner
handing it frames and judging thresholds, on an in-memory provider."""

from __future__ import annotations

import io
import re

from wskrecv import payload
from wskrecv.builtin import IrpClient
from wskrecv.errors import ExitStatus
from wskrecv.hosting.host import host_builtin
from wskrecv.output.live import LiveReporter
from wskrecv.provider.memory import MemoryProvider
from wskrecv.runner import Limits, Runner
from wskrecv.stats import Recorder
from wskrecv.stats.thresholds import Thresholds
from wskrecv.wsk import WskDatagramSocket

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
INFO = {"mode": "irp", "address": "127.0.0.1", "port": 9, "detail": "test", "rcvbuf": 1}


class Frames(LiveReporter):
    """Counts the frames the runner hands over."""

    frame_interval = 0.001

    def __init__(self, stream: io.StringIO) -> None:
        super().__init__(stream, in_process=True)
        self.frames = 0

    def frame(self, snap) -> None:  # type: ignore[no-untyped-def]
        self.frames += 1
        super().frame(snap)


def run(reporter: LiveReporter, seqs: list[int], duration: float, judge=None):  # type: ignore[no-untyped-def]
    provider = MemoryProvider()
    for s in seqs:
        provider.push(bytes(payload.build(1, s, 0, b"x" * 20)))
    sock = WskDatagramSocket()
    sock.bind(provider.local_address)
    recorder = Recorder("irp")
    app = host_builtin(lambda: IrpClient(4), sock, recorder)
    runner = Runner(provider, sock, app, recorder, reporter, Limits(duration=duration),
                    judge=judge)
    return runner.run(INFO)


def test_frames_reach_the_display_and_the_run_ends_with_a_summary() -> None:
    out = io.StringIO()
    reporter = Frames(out)
    result = run(reporter, [0, 1, 3], duration=0.05)
    assert result.status is ExitStatus.OK and reporter.frames >= 1
    text = ANSI.sub("", out.getvalue())
    assert "done: duration over" in text  # the last frame
    assert "--- wskrecv irp summary (duration over) ---" in text
    assert "loss         lost 1 (25.0%)" in text


def test_a_threshold_fails_the_run_with_exit_4() -> None:
    out = io.StringIO()
    result = run(LiveReporter(out, in_process=True), [0, 5], duration=0.01,
                 judge=Thresholds(max_loss=1).judge(lambda field: "--" + field.replace("_", "-")))
    assert result.status is ExitStatus.THRESHOLD
    assert result.threshold == "loss 66.667% (4 of 6) is above --max-loss 1%"
