"""Hostile client files for `wskrecv run` (issue 27, items 11 and 12): what is read is
bounded, every hook is time-limited (the constructor too), a client's recursion, print()
and fork() cannot take the process or its output over, and the second stop signal exits
from any state. In this process (tests/harness.py) but for what needs a process of its
own: a fork, a signal, a main thread stuck in C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_run import write_client
from tests.conftest import WSKRECV, popen, read_line
from tests.harness import receive, wskrecv
from wskrecv.signals import REPEAT_WINDOW


@pytest.mark.parametrize("kind", ["device", "FIFO"])
def test_a_client_file_that_is_no_regular_file_is_refused_unread(kind: str, tmp_path: Path) -> None:
    """/dev/zero was read before the type check (5 GB in 6 s); a FIFO blocked for ever."""
    path = "/dev/zero" if kind == "device" else str(tmp_path / "client.py")
    if kind == "FIFO":
        os.mkfifo(path)
    r = wskrecv("run", path, "-b", "127.0.0.1", "-p", "0", "-t", "5")
    assert r.status == 2
    assert r.stderr == f"wskrecv: error: {path} is a {kind}, not a Python file\n"


def test_a_constructor_that_loops_gets_the_run_then_its_grace(tmp_path: Path) -> None:
    """It ignored -t (the constructor ran before anything was limited)."""
    path = write_client(tmp_path, """
        class Looper:
            def __init__(self):
                while True:
                    pass

            def start(self, socket):
                pass

            def stop(self):
                pass
    """)
    r = wskrecv("run", str(path), "-b", "127.0.0.1", "-p", "0", "-t", "0.5", "--grace", "0.5")
    assert r.status == 6
    assert r.stderr == ("wskrecv: error: client fault in Looper(): did not return within "
                        "0.5 s (duration over)\n")


NO_CLIENT = {
    "new": """
        class Client:
            def __new__(cls):
                return 42

            def start(self, socket):
                pass

            def stop(self):
                pass
    """,
    "metaclass": """
        class Meta(type):
            def __call__(cls):
                raise RuntimeError("the metaclass says no")

        class Client(metaclass=Meta):
            def start(self, socket):
                pass

            def stop(self):
                pass
    """,
}


@pytest.mark.parametrize("how", sorted(NO_CLIENT))
def test_a_constructor_that_returns_no_client_is_a_client_fault(how: str, tmp_path: Path) -> None:
    """__new__ returning 42 gave an internal traceback (exit 1)."""
    path = write_client(tmp_path, NO_CLIENT[how])
    r = wskrecv("run", str(path), "-b", "127.0.0.1", "-p", "0", "-t", "1")
    assert r.status == 6, r.stderr
    assert r.stderr.startswith("wskrecv: error: client fault in Client(): ")
    assert ("it returned int 42, not a Client" if how == "new"
            else "RuntimeError: the metaclass says no") in r.stderr
    assert "wskrecv/" not in r.stderr  # no frame of wskrecv's own: not its bug


def test_a_client_that_raises_the_recursion_limit_is_held_to_a_bound(tmp_path: Path) -> None:
    """It raised the limit to 10**8 and recursed: 3 GB, unchecked."""
    path = write_client(tmp_path, """
        import sys

        def down(n):
            return down(n + 1) + 1

        class Deep:
            def __init__(self):
                sys.setrecursionlimit(10**8)

            def start(self, socket):
                down(0)

            def stop(self):
                pass
    """)
    before = sys.getrecursionlimit()
    r = wskrecv("run", str(path), "-b", "127.0.0.1", "-p", "0", "-t", "5")
    assert r.status == 6
    assert "RecursionError: maximum recursion depth exceeded" in r.stderr
    assert sys.getrecursionlimit() == before and sys.setrecursionlimit.__module__ == "sys"


def test_print_goes_to_stderr_not_into_the_json_lines(tmp_path: Path) -> None:
    path = write_client(tmp_path, """
        import sys

        class Printer:
            def start(self, socket):
                print("hello from start")
                sys.stdout = None  # and the internal traceback it gave

            def stop(self):
                print("bye")
    """)
    before = sys.stdout
    r = receive("run", str(path), "-t", "0.3")
    assert r.status == 0, r.stderr
    assert [o["type"] for o in r.objs] == ["start", "summary"]  # JSON lines, and only them
    assert r.start["client_stdout"] == "stderr"
    assert "hello from start" in r.stderr and "Traceback" not in r.stderr
    assert sys.stdout is before


def test_a_fork_in_a_hook_gives_one_summary(tmp_path: Path) -> None:
    """The child returned into wskrecv, ran its loop and printed a second summary."""
    path = write_client(tmp_path, """
        import os

        class Forker:
            def start(self, socket):
                pid = os.fork()
                if pid == 0:
                    return  # the child falls back into wskrecv: it ends there
                os.waitpid(pid, 0)

            def stop(self):
                pass
    """)
    done = subprocess.run([WSKRECV, "run", str(path), "-b", "127.0.0.1", "-p", "0", "--json",
                           "-t", "0.5"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    types = [json.loads(line)["type"] for line in done.stdout.splitlines()]
    assert types.count("summary") == 1 and types.count("start") == 1


def _c_watcher() -> bool:
    try:
        from wskrecv import _sigexit  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _c_watcher(), reason="wskrecv._sigexit was not built (no C compiler)")
def test_the_second_signal_exits_while_a_hook_is_stuck_in_c_code(tmp_path: Path) -> None:
    """`sum(range(10**12))`: Python runs no signal handler until it returns, so the
    second SIGINT did nothing; the C handler's wake-up byte reaches a thread that exits."""
    path = write_client(tmp_path, """
        class Stuck:
            def start(self, socket):
                sum(range(10**12))

            def stop(self):
                pass
    """)
    with popen([WSKRECV, "run", str(path), "-b", "127.0.0.1", "-p", "0", "--json"],
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        assert json.loads(read_line(proc.stdout, 20))["type"] == "start"
        proc.send_signal(signal.SIGINT)
        time.sleep(REPEAT_WINDOW + 1)  # a second Ctrl-C, not the first one delivered twice
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
