"""What `wskrecv analyze` prints: a receive command's interval lines, JSON objects and
summary, with a start line and a `capture` block about the files instead of a socket."""

from __future__ import annotations

from typing import Any, Callable, Optional

from wskrecv.environment import Environment
from wskrecv.errors import ExitStatus
from wskrecv.output import HumanReporter, JsonReporter
from wskrecv.output.format import plural
from wskrecv.stats.snapshot import Snapshot

CaptureInfo = Callable[[], dict[str, Any]]

# Summary lines of a live run that say nothing about a capture.
_LIVE_ONLY = ("kernel drops ", "violations ", "host UDP ")


def start_line(info: dict[str, Any]) -> str:
    """What is analysed: the files, their formats and link types, the filters."""
    files = []
    for f in info["files"]:
        what = ", ".join(([f["format"]] if f["format"] else []) + f["linktypes"])
        files.append(f"{f['file']} ({what})" if what else f["file"])
    line = f"wskrecv analyze: reading {', '.join(files)}"
    if info.get("port"):
        line += f", UDP port {info['port']}"
    if info.get("src"):
        line += f", from {' or '.join(info['src'])}"
    return line + f", {info['core']} core"


def capture_lines(capture: dict[str, Any]) -> list[str]:
    """The summary's lines about the files: frames read, what was skipped and why, what
    the capturing host dropped, how much was cut."""
    skipped = {k: v for k, v in capture["skipped"].items() if v}
    words = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in skipped.items())
    lines = [f"capture      {plural(capture['frames'], 'frame')}, "
             f"{plural(capture['datagrams'], 'UDP datagram')}"
             + (f" ({capture['fragments_reassembled']} reassembled from fragments)"
                if capture["fragments_reassembled"] else "")
             + (f"; skipped: {words}" if words else "")]
    if capture["interface_drops"]:
        drops = sum(capture["interface_drops"].values())
        lines.append(f"if drops     {drops} (the capturing host's interfaces, from the pcapng "
                     "statistics)")
    if capture["problem"]:
        lines.append(f"cut          the last {plural(capture['cut_bytes'], 'byte')} of the capture "
                     "not analysed: see the error below")
    return lines


class AnalyzeHumanReporter(HumanReporter):
    """Interval lines and the summary on stderr, as a receive command's."""

    def __init__(self, env: Environment, quiet: bool, per_stream: bool, capture: CaptureInfo) -> None:
        super().__init__(env.stderr, quiet=quiet, dump=env.stdout, per_stream=per_stream)
        self.capture = capture

    def start(self, info: dict[str, Any]) -> None:
        if not self.quiet:
            self._line(start_line(info))

    def summary(self, snap: Snapshot, status: ExitStatus, reason: str,
                threshold: Optional[str] = None) -> None:
        from wskrecv.output.human import summary_lines

        lines = [line for line in summary_lines(snap, status, reason, self.per_stream)
                 if not line.startswith(_LIVE_ONLY)]
        self._write(lines + capture_lines(self.capture()))


class AnalyzeJsonReporter(JsonReporter):
    """`start`, `interval` and `summary` objects; the summary carries `capture`."""

    def __init__(self, env: Environment, quiet: bool, per_stream: bool, capture: CaptureInfo) -> None:
        super().__init__(env.stdout, quiet=quiet, per_stream=per_stream)
        self.capture = capture

    def summary(self, snap: Snapshot, status: ExitStatus, reason: str,
                threshold: Optional[str] = None) -> None:
        self.emit({"type": "summary", **snap.summary_dict(), "reason": reason,
                   "threshold": threshold, "exit_status": int(status), "capture": self.capture()})


def make_reporter(env: Environment, as_json: bool, quiet: bool, per_stream: bool,
                  capture: CaptureInfo) -> Any:
    """JSON lines on stdout, or plain lines on stderr."""
    if as_json:
        return AnalyzeJsonReporter(env, quiet, per_stream, capture)
    return AnalyzeHumanReporter(env, quiet, per_stream, capture)


__all__ = ["AnalyzeHumanReporter", "AnalyzeJsonReporter", "capture_lines", "make_reporter", "start_line"]
