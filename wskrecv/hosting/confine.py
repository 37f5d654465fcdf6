"""What a `wskrecv run` client may do to the process it shares with wskrecv, bounded for
the run (`confined`): the interpreter's recursion, standard output, and fork().

- sys.setrecursionlimit(n) sets at most MAX_RECURSION. Python 3.11's frames live on the
  heap: a client that raised the limit to 10**8 and recursed grew to 3 GB, and the
  traceback of its fault took as much again to write; deeper than this, C code that
  recurses (a __repr__, a comparison) could run out of the thread's C stack.
- The client's print() goes to standard error: standard output carries wskrecv's JSON
  lines (--json) or its capture (--pcap -), which a stray line would corrupt. The start
  information says so (`client_stdout`). Whatever the client does to sys.stdout (None, a
  file) is undone at the end.
- A process the client forks (os.fork() in a hook) is the client's: when it returns into
  wskrecv's own code, it ends there (exit 0), instead of running wskrecv's receive loop
  and printing a second summary. A child that runs the client's code and exits itself
  (multiprocessing) is not affected.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Optional

MAX_RECURSION = 10_000
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # wskrecv/
# The run's client code (ClientCode.owns), while a run is confined; None otherwise.
_owns: list[Optional[Callable[[str], bool]]] = [None]
_registered = [False]


def _in_wskrecv(frame: Optional[FrameType]) -> bool:
    return frame is not None and frame.f_code.co_filename.startswith(_PACKAGE + os.sep)


def _back_in_wskrecv(frame: FrameType, event: str, _arg: Any) -> None:
    """The forked child's profile function: a client frame returning into wskrecv ends
    the child."""
    owns = _owns[0]
    if event == "return" and owns is not None and owns(frame.f_code.co_filename) \
            and _in_wskrecv(frame.f_back):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(0)


def _after_fork_in_child() -> None:
    if _owns[0] is not None:
        sys.setprofile(_back_in_wskrecv)


@contextmanager
def confined(owns: Callable[[str], bool], stdout: Any) -> Iterator[None]:
    """For a run of the client whose code `owns` tells (a filename -> bool): the bounds
    above; `stdout` is where the client's print() goes (standard error)."""
    real_limit, before = sys.setrecursionlimit, sys.getrecursionlimit()

    def capped(n: int) -> None:
        real_limit(min(n, MAX_RECURSION))

    saved_stdout = sys.stdout
    sys.setrecursionlimit = capped
    sys.stdout = stdout
    _owns[0] = owns
    if not _registered[0]:
        os.register_at_fork(after_in_child=_after_fork_in_child)  # once a process
        _registered[0] = True
    try:
        yield
    finally:
        _owns[0] = None
        sys.stdout = saved_stdout
        sys.setrecursionlimit = real_limit
        real_limit(before)


__all__ = ["MAX_RECURSION", "confined"]
