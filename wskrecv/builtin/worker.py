"""A worker thread for the receivers' deferred work, as IoQueueWorkItem gives a driver.

Work items run one at a time, in the order queued, each no earlier than its due time
(the event receiver's `--hold`). `drain_and_stop` runs everything queued, including items
queued while it drains, without waiting for due times: a clean stop never leaves work
(retained indications) behind. A replay runs them without a thread, on its own clock
(`VirtualWorkQueue`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Optional

from wskrecv.client import WskApiViolation

WorkRoutine = Callable[[], None]


class WorkQueue:
    """One worker thread running queued routines in order."""

    def __init__(
        self,
        name: str = "wsk-worker",
        clock: Callable[[], float] = time.monotonic,
        on_fault: Optional[Callable[[BaseException], None]] = None,
    ) -> None:
        self.clock = clock
        # A routine that raised (anything but an API violation): told to `on_fault` (the
        # runner ends the run with exit 1 and its summary); the queue keeps working, so
        # what later items hold is still released.
        self.on_fault = on_fault
        self.faults = 0
        self.violations = 0  # API violations raised by routines (the verifier counted them)
        self._items: deque[tuple[float, WorkRoutine]] = deque()
        self._cond = threading.Condition()
        self._draining = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def queue(self, routine: WorkRoutine, due: float = 0.0) -> None:
        """Run `routine()` on the worker thread, not before `due` (a `clock()` value)."""
        with self._cond:
            self._items.append((due, routine))
            self._cond.notify()

    def __len__(self) -> int:
        return len(self._items)

    def drain_and_stop(self, timeout: float = 30.0) -> None:
        """Run everything queued now (due times ignored), then end the thread."""
        with self._cond:
            self._draining = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        items = self._items
        cond = self._cond
        while True:
            with cond:
                while True:
                    if items:
                        due, routine = items[0]
                        delay = due - self.clock()
                        if delay <= 0 or self._draining:
                            items.popleft()
                            break
                        cond.wait(delay)  # woken early by a drain request
                    elif self._draining:
                        return
                    else:
                        cond.wait()
            try:
                routine()
            except WskApiViolation:
                self.violations += 1  # counted by the socket's verifier; keep working
            except Exception as exc:
                self.faults += 1
                if self.on_fault is not None:
                    self.on_fault(exc)


class VirtualWorkQueue:
    """WorkQueue's twin for a replay (`--replay`): no thread; the items run when the
    replay's clock (`now_ns`) reaches their due time (`run_due`, called by the replay's
    loop), in the order queued, as the thread runs them. What a driver's work items do
    then happens at a capture time, the same in every replay of the capture. Due times are
    given in seconds, like WorkQueue's, and kept in whole nanoseconds."""

    def __init__(self, now_ns: Callable[[], int],
                 on_fault: Optional[Callable[[BaseException], None]] = None) -> None:
        self.now_ns = now_ns
        self.on_fault = on_fault
        self.faults = 0
        self.violations = 0
        self._items: deque[tuple[int, WorkRoutine]] = deque()

    def start(self) -> None:
        pass

    def queue(self, routine: WorkRoutine, due: float = 0.0) -> None:
        self._items.append((round(due * 1e9), routine))

    def __len__(self) -> int:
        return len(self._items)

    def next_due(self) -> Optional[int]:
        """When the next item may run (ns), or None: nothing queued."""
        return self._items[0][0] if self._items else None

    def run_due(self) -> bool:
        """Run the items whose time came, in order; whether any ran."""
        ran = False
        while self._items and self._items[0][0] <= self.now_ns():
            self._run(self._items.popleft()[1])
            ran = True
        return ran

    def drain_and_stop(self, timeout: float = 30.0) -> None:
        """Run everything queued now (due times ignored), items queued meanwhile too."""
        while self._items:
            self._run(self._items.popleft()[1])

    def _run(self, routine: WorkRoutine) -> None:
        try:
            routine()
        except WskApiViolation:
            self.violations += 1
        except Exception as exc:
            self.faults += 1
            if self.on_fault is not None:
                self.on_fault(exc)
