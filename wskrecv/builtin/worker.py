"""A worker thread for the receivers' deferred work, as IoQueueWorkItem gives a driver.

Work items run one at a time, in the order queued, each no earlier than its due time
(the event receiver's `--hold`). `drain_and_stop` runs everything queued, including items
queued while it drains, without waiting for due times: a clean stop never leaves work
(retained indications) behind.

The hand-off is a C queue (queue.SimpleQueue): the receive thread queues a list's work
item with one call and wakes the worker only when it waits, and the worker waits with
the GIL released. A threading.Condition (Python code on both sides, a lock made for every
wait) cost more than releasing the list itself.

A replay runs the work items without a thread, on its own clock (`VirtualWorkQueue`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from typing import Callable, Optional

from wskrecv.client import WskApiViolation

WorkRoutine = Callable[[], None]
_STOP = None  # queued by drain_and_stop: run what is left, then end


class _Routines:
    """What both queues do with a routine: run it, counting what it raised."""

    def __init__(self, on_fault: Optional[Callable[[BaseException], None]]) -> None:
        # A routine that raised (anything but an API violation): told to `on_fault` (the
        # runner ends the run with exit 1 and its summary); the queue keeps working, so
        # what later items hold is still released.
        self.on_fault = on_fault
        self.faults = 0
        self.violations = 0  # API violations raised by routines (the verifier counted them)

    def _call(self, routine: WorkRoutine) -> None:
        try:
            routine()
        except WskApiViolation:
            self.violations += 1  # counted by the socket's verifier; keep working
        except Exception as exc:
            self.faults += 1
            if self.on_fault is not None:
                self.on_fault(exc)


class WorkQueue(_Routines):
    """One worker thread running queued routines in order."""

    def __init__(
        self,
        name: str = "wsk-worker",
        clock: Callable[[], float] = time.monotonic,
        on_fault: Optional[Callable[[BaseException], None]] = None,
    ) -> None:
        super().__init__(on_fault)
        self.clock = clock
        self._items: queue.SimpleQueue[Optional[tuple[float, WorkRoutine]]] = queue.SimpleQueue()
        self._draining = threading.Event()  # also ends a wait for an item's due time
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def queue(self, routine: WorkRoutine, due: float = 0.0) -> None:
        """Run `routine()` on the worker thread, not before `due` (a `clock()` value)."""
        self._items.put((due, routine))

    def __len__(self) -> int:
        return self._items.qsize()

    def drain_and_stop(self, timeout: float = 30.0) -> None:
        """Run everything queued now (due times ignored), then end the thread."""
        self._draining.set()
        self._items.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        items = self._items
        draining = self._draining
        while True:
            item = items.get()
            if item is _STOP:  # everything queued before it has run: now what came after
                while (item := self._next_left()) is not _STOP:
                    self._call(item[1])
                return
            due, routine = item
            while not draining.is_set():
                delay = due - self.clock()
                if delay <= 0:
                    break
                draining.wait(delay)  # woken early by a drain request
            self._call(routine)

    def _next_left(self) -> Optional[tuple[float, WorkRoutine]]:
        """The next item queued, or _STOP when there is none (another stop is skipped)."""
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return _STOP
            if item is not _STOP:
                return item


class VirtualWorkQueue(_Routines):
    """WorkQueue's twin for a replay (`--replay`): no thread; the items run when the
    replay's clock (`now_ns`) reaches their due time (`run_due`, called by the replay's
    loop), in the order queued, as the thread runs them. What a driver's work items do
    then happens at a capture time, the same in every replay of the capture. Due times are
    given in seconds, like WorkQueue's, and kept in whole nanoseconds."""

    def __init__(self, now_ns: Callable[[], int],
                 on_fault: Optional[Callable[[BaseException], None]] = None) -> None:
        super().__init__(on_fault)
        self.now_ns = now_ns
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
            self._call(self._items.popleft()[1])
            ran = True
        return ran

    def drain_and_stop(self, timeout: float = 30.0) -> None:
        """Run everything queued now (due times ignored), items queued meanwhile too."""
        while self._items:
            self._call(self._items.popleft()[1])
