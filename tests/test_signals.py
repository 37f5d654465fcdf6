"""wskrecv.signals: a stop request delivered again while its handler runs.

Python runs a signal's handler between two bytecodes of the main thread, and that
includes the bytecodes of another signal's handler. A process group's repeat (`timeout`,
systemd, a --workers parent) that landed while the first delivery's handler held the
request lock waited for that lock for ever: the process never stopped (in CI a worker
never answered and its parent killed it, exit 1). Each check runs in a process of its
own: the handlers need a main thread, and the old fault hangs.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# The first delivery's handler asks the clock for the time inside its lock: the clock
# sends the second delivery there, and runs bytecodes for its handler to interrupt.
SCRIPT = """
import os, signal, sys, time
import wskrecv.signals as S
if {bare!r}:  # no wake-up descriptor, so no watcher: the handler itself decides
    def refused(*args, **kwargs):
        raise ValueError("no wake-up fd here")
    signal.set_wakeup_fd = refused
real, calls = time.monotonic, []
def clock():
    time.monotonic = real
    os.kill(os.getpid(), {second})
    for _ in range(1000):
        pass
    return real()
stops = S.StopSignals(calls.append)
with stops.installed():
    time.monotonic = clock
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100000):
        pass
    time.monotonic = real
for _ in range({linger}):  # work after the block, as a summary is: the exit comes in it
    time.sleep(0.01)
print(calls, stops.received, flush=True)
"""


def run(second: str, bare: bool, linger: int = 0) -> subprocess.CompletedProcess[str]:
    code = SCRIPT.format(bare=bare, second=f"signal.{second}", linger=linger)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)


# With the C watcher the handler notes the request under the lock; with no watcher it
# counts it there (the Python watcher thread counts off the handler: no nesting).
@pytest.mark.parametrize("bare", [False, True], ids=["c-watcher", "no-watcher"])
def test_a_repeat_that_lands_in_the_first_ones_handler_is_the_same_request(bare: bool) -> None:
    try:
        done = run("SIGTERM", bare)
    except subprocess.TimeoutExpired:
        pytest.fail("the repeat waited for ever on the lock its own thread held")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['terminated'] 1\n"


# With the C watcher the handler notes the request under the lock; with no watcher it
# counts it there (the Python watcher thread counts off the handler: no nesting).
@pytest.mark.parametrize("bare", [False, True], ids=["c-watcher", "no-watcher"])
def test_another_request_that_lands_in_the_first_ones_handler_exits_at_once(bare: bool) -> None:
    """The C watcher is a thread: on a loaded machine the main thread may run on for a
    while before it is scheduled, so the script works on after its block (up to 20 s)
    and the exit must come in that work."""
    try:
        done = run("SIGINT", bare, linger=2000)
    except subprocess.TimeoutExpired:
        pytest.fail("the second request waited for ever on the lock its own thread held")
    assert done.returncode == 130 and done.stdout == ""


# The request is taken by the run's handlers; its repeat lands later, where those handlers
# are gone: after their block, while the command writes its summary (send, analyze and
# selftest have no block around theirs), or at exit, in Python's finalization (an atexit
# hook registered before wskrecv.signals runs after its own). The window is made long, so
# that a slow exit on a loaded machine is still within it.
REPEAT = """
import atexit, os, signal
signal.signal(signal.{repeat}, signal.SIG_DFL)  # as a shell leaves it (nohup ignores SIGHUP)
if {at_exit!r}:
    atexit.register(lambda: os.kill(os.getpid(), signal.{repeat}))
import wskrecv.signals as S
S.REPEAT_WINDOW = 600.0
calls = []
stops = S.StopSignals(calls.append)
with stops.installed():
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100000):
        pass
if not {at_exit!r}:
    os.kill(os.getpid(), signal.{repeat})
print(calls, flush=True)
"""


def repeat_later(repeat: str, at_exit: bool) -> subprocess.CompletedProcess[str]:
    code = REPEAT.format(repeat=repeat, at_exit=at_exit)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize(("repeat", "status"), [("SIGTERM", 0), ("SIGHUP", -1)])
def test_a_repeat_that_lands_as_the_process_exits_does_not_kill_it(repeat: str,
                                                                   status: int) -> None:
    """A run that ends at once exits while the group's second delivery is on its way:
    Python's finalization had put the default action back, and the repeat killed the
    process (exit status -15, the summary written). Within the window its signal is
    ignored at exit; another signal still does what it would."""
    done = repeat_later(repeat, at_exit=True)
    assert (done.returncode, done.stdout) == (status, "['terminated']\n"), done.stderr


@pytest.mark.parametrize(("repeat", "status", "out"),
                         [("SIGTERM", 0, "['terminated']\n"), ("SIGHUP", -1, "")])
def test_a_repeat_that_lands_after_the_handlers_block_does_not_kill_it(repeat: str, status: int,
                                                                       out: str) -> None:
    """The handlers' block ended and put the default action back: the group's second
    SIGTERM killed a command between its run and its summary. Within the window, the
    handler the block leaves ignores that repeat; another signal does what it did."""
    done = repeat_later(repeat, at_exit=False)
    assert (done.returncode, done.stdout) == (status, out), done.stderr
