"""A fault on the application's worker thread reaches the runner: the run ends with the
FAILED ending (exit 1) and its summary, and nothing retained is leaked."""

from __future__ import annotations

import io
import json
from typing import Any

from wskrecv.config import ReceiveConfig
from wskrecv.errors import Ending, ExitStatus
from wskrecv.output import JsonReporter
from wskrecv.provider.memory import MemoryProvider
from wskrecv.session.assembly import build_runner

INFO = {"mode": "event", "address": "127.0.0.1", "port": 9, "detail": "test", "rcvbuf": 1}


def test_an_exception_in_a_work_item_ends_the_run_with_its_summary_and_no_leak() -> None:
    provider = MemoryProvider()
    for i in range(200):
        provider.push(b"%d" % i)
    out = io.StringIO()
    config = ReceiveConfig(mode="event", pend=True, hold=0.0, batch=16, duration=30)
    runner = build_runner(provider, config, JsonReporter(out))
    app: Any = runner.app.client  # listen's and event's clients are hosted like run's
    process = app._process
    calls = [0]

    def failing_process(indication: Any) -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("boom")
        process(indication)

    app._process = failing_process
    result = runner.run(INFO)
    assert result.ending is Ending.FAILED and result.status is ExitStatus.ERROR
    # The built-in client's fault is wskrecv's: said so, with the traceback to report.
    assert result.error.startswith("internal error on the worker thread: RuntimeError: boom "
                                   "(a wskrecv bug: please report it, with this traceback)\n")
    assert "Traceback (most recent call last):" in result.error
    summary = json.loads(out.getvalue().splitlines()[-1])
    assert summary["type"] == "summary" and summary["exit_status"] == 1
    assert summary["reason"] == "error"
    assert summary["leaked"] == 0 and summary["pool_in_use"] == 0  # the failed list too
    assert summary["received"] >= 32  # what the other work items processed is counted
