"""The worker processes of a `--workers N` run.

The parent binds all N sockets itself (SO_REUSEPORT, or adopts N inherited ones) before
any worker starts, so a bind error is reported once, port 0 is resolved once, and the
kernel's REUSEPORT group is complete before the first datagram is read: a stream keeps
its worker for the whole run. Then it forks one process per socket (not threads: one
receive loop keeps a core busy and the GIL would serialise them). Each worker builds its
own WSK model, application and recorder around its socket, runs the ordinary receive loop
(runner.Runner) and sends its statistics to the parent as `stats.merge.Partial`s over a
pipe: a few times a second, and once more, final, when its loop ends.

A `--count` is shared through a `Budget` in shared memory: a worker claims datagrams
before it reads them, so the workers together read exactly --count.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Optional

from wskrecv.errors import WskrecvError
from wskrecv.runner import Runner
from wskrecv.signals import die_with_parent
from wskrecv.stats.merge import capture
from wskrecv.stats.snapshot import Snapshot

_FORK = multiprocessing.get_context("fork")


class Budget:
    """A --count shared by the workers, in shared memory.

    `claim(n)` takes up to n datagrams of what is left before a read; `settle(got, n)`
    gives back what the read did not use. The count is reached when nothing is left and
    no claim is open: every datagram claimed has been read.
    """

    def __init__(self, count: int) -> None:
        self._cells = _FORK.Array("q", [count, 0])  # [left, claimed and not yet settled]

    def claim(self, n: int) -> int:
        cells = self._cells
        with cells.get_lock():
            k = min(n, cells[0])
            cells[0] -= k
            cells[1] += k
        return k

    def settle(self, got: int, claimed: int) -> None:
        cells = self._cells
        with cells.get_lock():
            cells[0] += claimed - got
            cells[1] -= claimed

    def reached(self) -> bool:
        cells = self._cells
        with cells.get_lock():
            return cells[0] == 0 and cells[1] == 0


class BudgetedProvider:
    """A provider whose reads are claimed from a Budget first (everything else passes
    through to the real provider)."""

    def __init__(self, inner: Any, budget: Budget) -> None:
        self.inner = inner
        self.budget = budget

    def read(self, max_n: int) -> list:
        k = self.budget.claim(max_n)
        if not k:
            return []
        got: list = []
        try:
            got = self.inner.read(k)
        finally:
            self.budget.settle(len(got), k)
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class PipeReporter:
    """A worker's reporter: each interval snapshot goes to the parent as a Partial. The
    summary is the parent's."""

    frame_interval: Optional[float] = None  # no live frames: the parent draws

    def __init__(self, conn: Connection, worker: int) -> None:
        self.conn = conn
        self.worker = worker
        self.recorder: Any = None  # set once the runner is built

    def start(self, info: dict[str, Any]) -> None:
        pass

    def interval(self, snap: Snapshot) -> None:
        self.conn.send(("state", capture(self.recorder, snap, self.worker)))

    def datagram(self, record: dict[str, Any]) -> None:
        pass

    def frame(self, snap: Snapshot) -> None:
        pass

    def note(self, record: dict[str, Any]) -> None:
        pass

    def summary(self, snap: Snapshot, status: Any, reason: str, threshold: Any = None) -> None:
        pass

    def close(self) -> None:
        pass


# Builds a worker's runner: (provider, reporter, worker index) -> the Runner, its start
# info, and what to call when the worker ends (close its capture part), or None.
# Made by wskrecv/session/workers.py (a closure: workers are forked, nothing is pickled).
BuildRunner = Callable[
    [Any, PipeReporter, int],
    tuple[Runner, dict[str, Any], Optional[Callable[[], None]]],
]


@dataclass
class Worker:
    """The parent's handle on one worker process."""

    index: int
    process: Any  # multiprocessing.Process
    conn: Connection
    final: Optional[tuple[str, Optional[str]]] = None  # (stop reason, error) once done
    failed: Optional[str] = None  # why it died or could not run
    exited: bool = False
    eof: bool = False  # its pipe is closed
    # The parent's copy of the worker's socket, kept until the worker's final report: a
    # worker that never gives one (stopped, killed) leaves its queue for the parent to
    # count. Reading nothing, it takes no datagram from the worker.
    sock: Any = None
    unanswered: Optional[str] = None  # why the parent killed it: it did not answer the stop

    def let_go_of_socket(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    @property
    def done(self) -> bool:
        return self.final is not None or self.failed is not None

    def signal(self, signum: int) -> None:
        if not self.exited and self.process.pid:
            try:
                os.kill(self.process.pid, signum)
            except ProcessLookupError:
                pass


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How the parent stops a worker: not a stop signal, so that it is never taken for a
# second request of the user's. The user's own signal to the process group (Ctrl-C,
# `timeout`, systemd) reaches the worker too: the parent's SIGTERM was a second request
# to a worker that had the user's SIGINT (or SIGTERM more than REPEAT_WINDOW before,
# on a loaded machine) still in hand, and the worker exited at once, without its final
# report: the run failed (exit 1).
PARENT_STOP = signal.SIGUSR1
_BLOCKED_AT_FORK = (*STOP_SIGNALS, PARENT_STOP)


def _tell(conn: Connection, message: tuple) -> None:
    """Send to the parent; if it is gone (killed), there is nobody left to tell."""
    try:
        conn.send(message)
    except OSError:
        pass


def _worker_main(
    index: int, providers: Sequence[Any], conn: Connection, build: BuildRunner,
    budget: Optional[Budget], cpu: Optional[int], parent: int,
) -> None:
    """The body of worker process `index`."""
    die_with_parent(parent, signal.SIGTERM)  # a worker is never left running alone
    # Until the runner installs its own handlers, a stop (the parent's PARENT_STOP, a
    # terminal's Ctrl-C) is kept and handed to the runner once it exists.
    early: dict[str, Any] = {}

    def stop_early(signum: int, _frame: Any) -> None:
        reason = "interrupted" if signum == signal.SIGINT else "terminated"
        runner = early.get("runner")
        if runner is not None:
            runner.request_stop(reason)
        else:
            early.setdefault("reason", reason)

    def parent_stop(_signum: int, _frame: Any) -> None:
        stop_early(signal.SIGTERM, None)  # the run's own stop: the parent has its reason

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop_early)
    signal.signal(PARENT_STOP, parent_stop)  # for good: the runner's handlers leave it
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _BLOCKED_AT_FORK)  # blocked since the fork
    for j, p in enumerate(providers):
        if j != index:
            p.close()  # this process's copies of the other workers' sockets
    provider = providers[index]
    cleanup: Optional[Callable[[], None]] = None
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if budget is not None:
            provider = BudgetedProvider(provider, budget)
        reporter = PipeReporter(conn, index)
        runner, info, cleanup = build(provider, reporter, index)
        reporter.recorder = runner.recorder
        early["runner"] = runner
        if "reason" in early:
            runner.request_stop(early["reason"])
        if budget is not None:
            sock = runner.sock

            def reached() -> Optional[str]:
                return "count reached" if budget.reached() and sock.in_flight == 0 else None

            runner.stop_when = reached
        result = runner.run(info)
        if cleanup is not None:
            cleanup()
            cleanup = None
        _tell(conn, ("final", capture(runner.recorder, result.snapshot, index),
                     result.reason, result.error))
    except WskrecvError as exc:
        _tell(conn, ("error", str(exc)))
    except Exception as exc:  # reported by the parent as one line: worker N failed
        _tell(conn, ("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if cleanup is not None:
            try:
                cleanup()
            except Exception:
                pass  # the error that got us here is the one reported
        conn.close()
        provider.close()


def usable_cpus() -> list[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def start_workers(
    providers: Sequence[Any], build: BuildRunner, count: Optional[int], affinity: bool,
) -> list[Worker]:
    """Fork one worker per provider (the parent must not have started threads yet); the
    parent keeps its copy of each socket as the Worker's `sock` until that worker's final
    report (the coordinator lets go of it then, or counts what it holds)."""
    budget = Budget(count) if count is not None else None
    cpus = usable_cpus()
    workers: list[Worker] = []
    parent = os.getpid()
    # A stop signal must not kill a worker that has not yet installed its handlers (the
    # default action of SIGTERM and of PARENT_STOP): the children start with them
    # blocked, and a stop sent early waits until the worker can hand it to its runner.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED_AT_FORK)
    try:
        for i in range(len(providers)):
            here, there = _FORK.Pipe(duplex=False)
            cpu = cpus[i % len(cpus)] if affinity else None
            process = _FORK.Process(
                target=_worker_main, name=f"wskrecv-worker-{i}", daemon=False,
                args=(i, providers, there, build, budget, cpu, parent),
            )
            process.start()
            there.close()
            workers.append(Worker(i, process, here, sock=providers[i]))
    except BaseException:
        for w in workers:
            w.signal(signal.SIGKILL)
            w.process.join()
        for p in providers:
            p.close()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return workers


__all__ = ["PARENT_STOP", "Budget", "BudgetedProvider", "PipeReporter", "Worker",
           "start_workers", "usable_cpus"]
