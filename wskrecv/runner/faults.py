"""How faults travel inside the receive loop: the exceptions its steps raise to end a run
(the socket failed; an output or a thread failed), the one line each fault becomes, and
the hang-up test for a socket shut down underneath the receiver."""

from __future__ import annotations

import select
import traceback

from wskrecv.errors import WskrecvError
from wskrecv.wsk.verifier import WskrecvBug


class SocketFailed(Exception):
    """The OS socket can no longer receive (raised by a step of the loop; ends the run)."""


class Fault(Exception):
    """Something other than the socket failed: an output (capture, stdout) could not be
    written, or a thread of the application raised. Ends the run: exit 1, summary."""


def fault_message(exc: BaseException, where: str) -> str:
    """One line for an exception: WskrecvError's own text, else what and where; for an
    exception in wskrecv's own code (a WskrecvBug, or any the receiver did not claim) the
    line says it is a wskrecv bug, followed by its traceback."""
    if isinstance(exc, WskrecvError):
        return str(exc)
    return internal_error(exc, where)


def internal_error(exc: BaseException, where: str = "main thread") -> str:
    """The error for an exception inside wskrecv's own code: whose fault it is, the
    original exception, and the traceback to report it with."""
    cause = exc.__cause__ if isinstance(exc, WskrecvBug) and exc.__cause__ is not None else exc
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    return (f"internal error on the {where}: {type(cause).__name__}: {cause} "
            f"(a wskrecv bug: please report it, with this traceback)\n{trace}")


# What a sink or reporter raises when its output fails: a WskrecvError (OsFailure for a
# capture, OutputFailed for stdout). A BrokenPipeError (the reader left) is not one: it
# ends the run quietly (cli.py).
OUTPUT_FAULTS = (WskrecvError,)

_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


def hung_up(fd: int) -> bool:
    """Whether the socket reports a hang-up or an error (poll, no waiting)."""
    p = select.poll()
    p.register(fd, select.POLLIN | getattr(select, "POLLRDHUP", 0))
    return any(events & _HANGUP for _, events in p.poll(0))
