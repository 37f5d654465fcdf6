"""Exit statuses, and which one each error and each way a receive run ends carries.

Only `cli.main` ends the process with them (and, for a second Ctrl-C, signals.py).
"""

from __future__ import annotations

from enum import Enum, IntEnum


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
    CLIENT_STALLED = 8  # --inject: the client stopped receiving after an injected fault
    HUNG_UP = 129  # a second SIGHUP (128 + 1); selftest: SIGHUP
    INTERRUPTED = 130  # a second Ctrl-C: exit at once (128 + SIGINT's 2); selftest: Ctrl-C
    TERMINATED = 143  # a second SIGTERM (128 + 15); selftest: SIGTERM

    @classmethod
    def for_signal(cls, signum: int) -> ExitStatus:
        """The status of a process ended by stop signal `signum`: 128 + its number, as a
        shell reports a process the signal killed."""
        return cls(128 + int(signum))


class Ending(Enum):
    """How a receive run ended. `exit_status` is the one table from endings to statuses:
    the summary shows it, and the command exits with it."""

    COMPLETE = "complete"  # count reached, duration over, stopped (signal), socket or output closed
    DEADLINE_MISSED = "deadline missed"  # --timeout passed before --count datagrams arrived
    THRESHOLD_EXCEEDED = "threshold exceeded"  # a --max-* threshold failed the run
    SOCKET_FAILED = "socket failed"  # the OS socket broke underneath the receiver
    CLIENT_FAULT = "client fault"  # run: the client's code raised, or did not return
    CLIENT_VIOLATIONS = "client violations"  # run: the client broke WSK rules or leaked
    CLIENT_STALLED = "client stalled"  # --inject: it stopped receiving after a fault
    CAPTURE_CUT = "capture cut short"  # --replay: the capture ended inside a record
    WORKER_FAILED = "worker failed"  # --workers: a worker died or could not run
    FAILED = "failed"  # a fault: an output could not be written, a thread raised

    @property
    def exit_status(self) -> ExitStatus:
        return _EXIT_STATUS[self]


_EXIT_STATUS = {
    Ending.COMPLETE: ExitStatus.OK,
    Ending.DEADLINE_MISSED: ExitStatus.DEADLINE,
    Ending.THRESHOLD_EXCEEDED: ExitStatus.THRESHOLD,
    Ending.SOCKET_FAILED: ExitStatus.ERROR,
    Ending.CLIENT_FAULT: ExitStatus.CLIENT_FAULT,
    Ending.CLIENT_VIOLATIONS: ExitStatus.CLIENT_VIOLATIONS,
    Ending.CLIENT_STALLED: ExitStatus.CLIENT_STALLED,
    Ending.CAPTURE_CUT: ExitStatus.USAGE,
    Ending.WORKER_FAILED: ExitStatus.ERROR,
    Ending.FAILED: ExitStatus.ERROR,
}


class WskrecvError(Exception):
    """An error that ends the run with a one-line message and an exit status."""

    exit_status = ExitStatus.ERROR


class UsageError(WskrecvError):
    """The command line asks for something impossible."""

    exit_status = ExitStatus.USAGE


class OsFailure(WskrecvError):
    """The OS refused (bind, permission, socket failure)."""

    exit_status = ExitStatus.ERROR


class OutputFailed(WskrecvError):
    """Writing our output failed (disk full, I/O error): one line on stderr, exit 1."""

    exit_status = ExitStatus.ERROR


class Interrupted(WskrecvError):
    """A stop signal came before the run began (waiting for a FIFO's reader): exit
    128 + its number, as a shell reports a process the signal ended."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(f"{message} (stopped by {signal_name(signum)})")
        self.exit_status = ExitStatus.for_signal(signum)


def signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class OutputClosed(WskrecvError):
    """The reader of our output went away (`| head -1`): end quietly, with success."""

    exit_status = ExitStatus.OK


class InheritedSocketError(UsageError):
    """An inherited descriptor (`fd`) is not an open, bound UDP socket. `activated`: it
    came from socket activation (LISTEN_FDS), not from a descriptor the user named."""

    def __init__(self, fd: int, message: str, activated: bool = False) -> None:
        super().__init__(message)
        self.fd = fd
        self.activated = activated


class InheritedAddress(UsageError):
    """An address to bind was asked for, but the socket is inherited and has its own.
    `activated` is how many sockets socket activation passed (0: a descriptor was named)."""

    def __init__(self, activated: int = 0) -> None:
        super().__init__("an inherited socket keeps its own address")
        self.activated = activated


class AmbiguousActivation(UsageError):
    """Socket activation passed several sockets (`fds`) and none was chosen."""

    def __init__(self, fds: list[int]) -> None:
        super().__init__(f"socket activation passed {len(fds)} sockets (LISTEN_FDS)")
        self.fds = fds


class NoBinaryOutput(UsageError):
    """Binary output (a capture) was asked for on a standard output that has no bytes."""

    def __init__(self) -> None:
        super().__init__("standard output cannot take binary data here")
