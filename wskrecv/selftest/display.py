"""How selftest results are shown: a live rich table on a terminal, plain lines otherwise,
JSON lines for machines. Each display sees cases start and finish, then the verdict."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Optional

from wskrecv.selftest.engine import FAIL, INTERRUPTED, PASS, SKIP, Case, CaseResult


class Verdict:
    """Counts of a finished selftest. `interrupted_by` names the stop signal that ended it
    early ("SIGTERM"); the case it cut short is the result with status INTERRUPTED, and
    `not_run` counts the cases of `planned` that never started."""

    def __init__(self, results: Sequence[CaseResult], duration_s: float,
                 interrupted_by: Optional[str] = None, planned: Optional[int] = None) -> None:
        self.passed = sum(r.status == PASS for r in results)
        self.failed = sum(r.status == FAIL for r in results)
        self.skipped = sum(r.status == SKIP for r in results)
        cut = [r.case.key for r in results if r.status == INTERRUPTED]
        self.interrupted_case: Optional[str] = cut[0] if cut else None
        self.not_run = max(0, (len(results) if planned is None else planned) - len(results))
        self.duration_s = duration_s
        self.interrupted_by = interrupted_by

    @property
    def interrupted(self) -> bool:
        return self.interrupted_by is not None

    @property
    def ok(self) -> bool:
        """No case failed and every case ran (an interrupted run proves nothing)."""
        return self.failed == 0 and not self.interrupted

    def line(self) -> str:
        if self.interrupted:
            during = f" during {self.interrupted_case}" if self.interrupted_case else ""
            word = f"INTERRUPTED by {self.interrupted_by}{during}"
        else:
            word = "PASS" if self.ok else "FAIL"
        not_run = f", {self.not_run} not run" if self.not_run else ""
        return (f"selftest {word}: {self.passed} passed, {self.failed} failed, "
                f"{self.skipped} skipped{not_run} in {self.duration_s:.1f} s")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "passed": self.passed, "failed": self.failed,
                "skipped": self.skipped, "interrupted": self.interrupted,
                "interrupted_by": self.interrupted_by,
                "interrupted_case": self.interrupted_case, "not_run": self.not_run,
                "duration_s": round(self.duration_s, 3)}


def _text(result: CaseResult) -> str:
    return result.detail if result.status != PASS else result.detail or "ok"


class PlainDisplay:
    """One line per finished case, then the verdict: for pipes, logs and CI."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def begin(self, cases: Sequence[Case]) -> None:
        self._write(f"wskrecv selftest: {len(cases)} cases")

    def started(self, case: Case) -> None:
        pass

    def finished(self, result: CaseResult) -> None:
        c = result.case
        took = f" ({result.duration_s:.2f} s)" if result.status != SKIP else ""
        self._write(f"{result.status}  {c.key:<24} {c.title}: {_text(result)}{took}")

    def end(self, verdict: Verdict) -> None:
        self._write(verdict.line())

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class JsonDisplay:
    """A `case` JSON line per finished case and a `verdict` line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def begin(self, cases: Sequence[Case]) -> None:
        pass

    def started(self, case: Case) -> None:
        pass

    def finished(self, result: CaseResult) -> None:
        self._emit({"type": "case", **result.to_dict()})

    def end(self, verdict: Verdict) -> None:
        self._emit({"type": "verdict", **verdict.to_dict()})

    def _emit(self, obj: dict[str, Any]) -> None:
        self.stream.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.stream.flush()


_STYLES = {PASS: "bold green", FAIL: "bold red", SKIP: "yellow", INTERRUPTED: "bold red"}


class LiveDisplay:
    """A rich table redrawn as cases run (stderr, a terminal only)."""

    def __init__(self, stream: IO[str], color: bool = True) -> None:
        from rich.console import Console

        self.console = Console(file=stream, no_color=not color, highlight=False)
        self._lock = threading.Lock()
        self._cases: list[Case] = []
        self._results: dict[str, CaseResult] = {}
        self._running: Optional[tuple[Case, float]] = None
        self._live: Any = None

    def begin(self, cases: Sequence[Case]) -> None:
        from rich.live import Live

        self._cases = list(cases)
        self._live = Live(console=self.console, get_renderable=self._table,
                          refresh_per_second=8, transient=False)
        self._live.start()

    def started(self, case: Case) -> None:
        with self._lock:
            self._running = (case, time.monotonic())

    def finished(self, result: CaseResult) -> None:
        with self._lock:
            self._results[result.case.key] = result
            self._running = None

    def end(self, verdict: Verdict) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
        style = "bold green" if verdict.ok else "bold red"
        self.console.print(verdict.line(), style=style, highlight=False)

    def _table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title="wskrecv selftest", title_justify="left", expand=False)
        table.add_column("case")
        table.add_column("style")
        table.add_column("result")
        table.add_column("figures / reason", overflow="fold")
        table.add_column("time", justify="right")
        with self._lock:
            running = self._running
            results = dict(self._results)
        for case in self._cases:
            result = results.get(case.key)
            if result is not None:
                took = f"{result.duration_s:.2f} s" if result.status != SKIP else ""
                table.add_row(case.name, case.style, Text(result.status, _STYLES[result.status]),
                              _text(result), took)
            elif running is not None and running[0].key == case.key:
                took = f"{time.monotonic() - running[1]:.1f} s"
                table.add_row(case.name, case.style, Text("RUN", "bold cyan"), case.title, took)
            else:
                table.add_row(case.name, case.style, Text("·", "dim"), Text(case.title, "dim"), "")
        return table
