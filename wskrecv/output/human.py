"""Plain-text output for people and logs: interval lines and a summary on stderr."""

from __future__ import annotations

import sys
from typing import IO, Any, Optional

from wskrecv.errors import ExitStatus
from wskrecv.output.format import nbytes, si
from wskrecv.stats.snapshot import Snapshot


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HumanReporter:
    """One line per interval, a block at the end. No control codes: safe for pipes."""

    def __init__(
        self, stream: Optional[IO[str]] = None, quiet: bool = False, dump: Optional[IO[str]] = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.dump_stream = dump if dump is not None else sys.stdout

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def start(self, info: dict[str, Any]) -> None:
        if self.quiet:
            return
        where = format_address(info["address"], info["port"])
        asked = info.get("rcvbuf_requested")
        granted = f"rcvbuf {nbytes(info['rcvbuf'])}"
        if asked:
            granted += f" (asked {nbytes(asked)})"
        self._line(f"wskrecv {info['mode']}: receiving on {where}, {granted}, {info['detail']}")

    def interval(self, snap: Snapshot) -> None:
        if self.quiet:
            return
        extra = ""
        if snap.truncated:
            extra += f"  truncated {snap.truncated}"
        if snap.kernel_drops:
            extra += f"  kernel drops {snap.kernel_drops}"
        if snap.violations:
            extra += f"  VIOLATIONS {snap.violations}"
        self._line(
            f"[{snap.elapsed_s:7.1f}s] {si(snap.interval_datagrams_per_s, 'dg/s'):>12}"
            f"  {si(snap.interval_bits_per_s, 'bit/s'):>13}"
            f"  total {snap.received} dg, {nbytes(snap.bytes)}{extra}"
        )

    def datagram(self, record: dict[str, Any]) -> None:
        flag = " TRUNC" if record["truncated"] else ""
        self.dump_stream.write(
            f"{format_address(record['src'], record['sport'])} {record['length']} bytes{flag}"
            f" {record['data']}\n"
        )

    def summary(self, snap: Snapshot, status: ExitStatus, reason: str) -> None:
        d = snap.summary_dict()
        lines = [
            f"--- wskrecv {snap.mode} summary ({reason}) ---",
            f"received     {snap.received} datagrams, {nbytes(snap.bytes)} in {snap.elapsed_s:.3f} s",
            f"rate         {si(snap.datagrams_per_s, 'dg/s')}, {si(snap.bits_per_s, 'bit/s')}",
            f"truncated    {snap.truncated}",
            f"kernel drops {snap.kernel_drops}",
        ]
        mode_keys = [k for k in snap.mode_stats if k in d]
        if mode_keys:
            lines.append("  ".join(f"{k} {d[k]}" for k in mode_keys))
        violations = f"violations   {snap.violations}"
        if snap.violations:
            violations += " (" + ", ".join(f"{k} {v}" for k, v in snap.violations_by_rule.items()) + ")"
        lines.append(violations)
        if status is ExitStatus.DEADLINE:
            lines.append("deadline passed before the expected datagrams arrived (exit 3)")
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
