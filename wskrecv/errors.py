"""Exit statuses and the errors that carry them. Only `cli.main` turns these into exits."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """wskrecv's documented exit codes."""

    OK = 0  # done: count reached, duration over, or stopped by Ctrl-C/SIGTERM
    ERROR = 1  # runtime or OS error: bind failed, address in use, permission, socket broke
    USAGE = 2  # bad command line
    DEADLINE = 3  # --timeout passed before --count datagrams arrived
    THRESHOLD = 4  # a --max-* threshold was exceeded
    CHECK_FAILED = 5  # selftest: a case failed
    CLIENT_FAULT = 6  # run: the client's own code raised (or hung in a callback)
    CLIENT_VIOLATIONS = 7  # run: the client broke WSK API rules or leaked what it held
    INTERRUPTED = 130  # a second Ctrl-C: exit at once


class WskrecvError(Exception):
    """An error that ends the run with a one-line message and an exit status."""

    exit_status = ExitStatus.ERROR


class UsageError(WskrecvError):
    """The command line asks for something impossible."""

    exit_status = ExitStatus.USAGE


class OsFailure(WskrecvError):
    """The OS refused (bind, permission, socket failure)."""

    exit_status = ExitStatus.ERROR


class OutputClosed(WskrecvError):
    """The reader of our output went away (`| head -1`): end quietly, with success."""

    exit_status = ExitStatus.OK
