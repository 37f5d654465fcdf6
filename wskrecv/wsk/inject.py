"""Fault injection: Driver Verifier's Low Resources Simulation, for receive code.

Driver Verifier's Low Resources Simulation ("Low Resources Simulation", learn.microsoft.com
windows-hardware/drivers/devtest) fails random instances of a driver's allocations and
requests (IoAllocateIrp among them, since Windows Vista), with a given probability (6% by
default), so that the driver's error paths run; Systematic Low Resources Simulation fails
them in a predictable order, so that what it finds can be reproduced. wskrecv does that
to a WSK client's receive code: each kind of fault is an outcome a WSK provider or the
I/O manager documents, injected where the provider would produce it.

- `alloc`: IoAllocateIrp returns NULL ("IoAllocateIrp": NULL when the IRP cannot be
  allocated; Low Resources Simulation fails it on purpose).
- `receive`: a WskReceiveFrom request completes with a failure status instead of the
  datagram (PFN_WSK_RECEIVE_FROM: "Other status codes: An error occurred. The IRP will be
  completed with failure status"); STATUS_INSUFFICIENT_RESOURCES unless another is asked
  for (`RECEIVE_STATUSES`). The datagram waits for the next request.
- `cancel`: a pending receive IRP is cancelled: IoCancelIrp's path, the IRP completes
  with STATUS_CANCELLED ("IoCancelIrp"; a request may be cancelled by others than its
  sender). The datagram waits for the next request.
- `short-list`: the provider indicates fewer datagrams in one WskReceiveFromEvent call
  than it has queued (the list is as long as the provider chooses:
  PFN_WSK_RECEIVE_FROM_EVENT, WSK_DATAGRAM_INDICATION); the rest follow in later calls.
- `no-buffers`: the provider's indication buffers are taken elsewhere (pool pressure):
  no indication until buffers come back, that is until the client releases some
  (WskRelease) or, when it holds none, after a bounded time.
- `fail-socket`: the socket stops working: pending requests complete with
  STATUS_FILE_FORCED_CLOSED, later ones too, and the callback gets the NULL indication;
  the client must close the socket "as soon as possible" (PFN_WSK_RECEIVE_FROM,
  PFN_WSK_RECEIVE_FROM_EVENT).
- `delay`: completions and callbacks come late: what a delivery hands over waits a
  bounded time (drawn from the seed), and so does the completion of a cancelled IRP
  (IoCancelIrp returns TRUE; the IRP completes when its owner completes it).

Sans-I/O like the rest of the model: the time comes from the `now_ns` function its
creator gives, the randomness from the seed (one random stream per kind, so adding a kind
does not move another's faults), and the effects that come later (delays, buffers coming
back) wait in its timers until whoever drives the socket calls `advance`. What the client
did after each fault is the ledger's (outcomes.py).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from typing import Any, Callable, Optional

from wskrecv.wsk.irp import Irp, io_cancel_irp
from wskrecv.wsk.outcomes import Ledger
from wskrecv.wsk.status import NTSTATUS, STATUS_INSUFFICIENT_RESOURCES
from wskrecv.wsk.verifier import Verifier

# The socket (socket.WskDatagramSocket) and its event dispatcher (events.EventDispatcher)
# import this module: here they are what they are called, untyped, so that the model's
# imports go one way.
WskDatagramSocket = Any
EventDispatcher = Any


class FaultKind(Enum):
    """What can be injected (the value is its name on the command line)."""

    ALLOC = "alloc"
    RECEIVE = "receive"
    CANCEL = "cancel"
    SHORT_LIST = "short-list"
    NO_BUFFERS = "no-buffers"
    FAIL_SOCKET = "fail-socket"
    DELAY = "delay"


# Each kind's documented outcome and its source, as the README and the man page say them.
SOURCES: dict[FaultKind, str] = {
    FaultKind.ALLOC: "IoAllocateIrp returns NULL (IoAllocateIrp; Driver Verifier's Low "
                     "Resources Simulation fails it)",
    FaultKind.RECEIVE: "WskReceiveFrom completes with a failure status (PFN_WSK_RECEIVE_FROM: "
                       "\"the IRP will be completed with failure status\")",
    FaultKind.CANCEL: "a pending receive IRP is cancelled: it completes with STATUS_CANCELLED "
                      "(IoCancelIrp)",
    FaultKind.SHORT_LIST: "fewer datagrams in one WskReceiveFromEvent list than are queued "
                          "(PFN_WSK_RECEIVE_FROM_EVENT)",
    FaultKind.NO_BUFFERS: "no indications until buffers come back: the client releases some, "
                          "or, holding none, after a while (pool pressure)",
    FaultKind.FAIL_SOCKET: "the socket stops working: requests complete with "
                           "STATUS_FILE_FORCED_CLOSED, the callback gets the NULL indication "
                           "(PFN_WSK_RECEIVE_FROM, PFN_WSK_RECEIVE_FROM_EVENT)",
    FaultKind.DELAY: "completions and callbacks come late, a cancelled IRP's completion too "
                     "(bounded, drawn from the seed)",
}

# Driver Verifier's default probability for Low Resources Simulation ("Custom settings
# for Low Resources Simulation": 6%).
DEFAULT_RATE = 0.06
DEFAULT_MAX_DELAY_NS = 10_000_000  # `delay`'s bound: 10 ms
MAX_DELAY_NS = 60_000_000_000  # the most --inject-delay may ask for: a minute
# How long a starved pool waits for buffers when the client holds none: drawn up to this.
NO_BUFFERS_MAX_NS = 10_000_000

# The failures `receive` may complete a request with (ntstatus.h values, status.py): the
# page names none but STATUS_FILE_FORCED_CLOSED (that is `fail-socket`); these are what a
# datagram receive meets: no memory, and the ICMP errors a UDP receive reports.
RECEIVE_STATUSES: tuple[NTSTATUS, ...] = (
    NTSTATUS.INSUFFICIENT_RESOURCES,
    NTSTATUS.NO_MEMORY,
    NTSTATUS.NETWORK_UNREACHABLE,
    NTSTATUS.HOST_UNREACHABLE,
    NTSTATUS.PORT_UNREACHABLE,
)


@dataclass(frozen=True)
class FaultPlan:
    """What to inject: each kind's rate (the chance that one injectable call fails), the
    seed, `receive`'s status, `delay`'s bound and, for the systematic mode, the one
    injectable call to fail (`systematic`: its number, counting every kind's calls in the
    order they come; the rates are then not used)."""

    rates: tuple[tuple[FaultKind, float], ...]
    seed: int
    status: int = STATUS_INSUFFICIENT_RESOURCES
    max_delay_ns: int = DEFAULT_MAX_DELAY_NS
    systematic: Optional[int] = None

    def rate(self, kind: FaultKind) -> Optional[float]:
        """`kind`'s rate, or None when it is not injected."""
        return dict(self.rates).get(kind)

    @property
    def kinds(self) -> tuple[FaultKind, ...]:
        return tuple(kind for kind, _ in self.rates)

    def describe(self) -> str:
        """The start line's words: "injecting cancel 10%, delay 5% (seed 7)"."""
        if self.systematic is not None:
            what = ", ".join(kind.value for kind in self.kinds)
            return (f"failing injectable call {self.systematic} ({what}) (seed {self.seed})")
        parts = [f"{kind.value} {rate * 100:g}%" for kind, rate in self.rates]
        return f"injecting {', '.join(parts)} (seed {self.seed})"

    def as_json(self) -> dict[str, Any]:
        """The JSON start object's `inject` field."""
        out: dict[str, Any] = {"rates": {kind.value: rate for kind, rate in self.rates},
                               "max_delay_ms": self.max_delay_ns / 1e6}
        if FaultKind.RECEIVE in self.kinds:
            out["status"] = NTSTATUS(self.status).name
        if self.systematic is not None:
            out["systematic"] = self.systematic
        return out


def parse_kinds(texts: Sequence[str]) -> tuple[tuple[FaultKind, float], ...]:
    """`--inject KIND[=RATE]` values (RATE 0..1, or a percentage: 10%; `all` is every
    kind) as (kind, rate) pairs in FaultKind's order; a kind given twice takes the last
    rate. ValueError with the message a user sees."""
    rates: dict[FaultKind, float] = {}
    names = ", ".join(k.value for k in FaultKind)
    for text in texts:
        name, eq, value = text.strip().partition("=")
        name = name.strip().lower()
        if name == "all":
            kinds = list(FaultKind)
        else:
            try:
                kinds = [FaultKind(name)]
            except ValueError:
                raise ValueError(f"{name or text!r} is not a fault kind (kinds: {names}, "
                                 "or all)") from None
        rate = _rate(value, text) if eq else DEFAULT_RATE
        for kind in kinds:
            rates[kind] = rate
    return tuple((kind, rates[kind]) for kind in FaultKind if kind in rates)


def _rate(value: str, text: str) -> float:
    value = value.strip()
    try:
        rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ValueError(f"{text!r}: the rate {value!r} is not a number (0 to 1, or 0% to "
                         "100%)") from None
    if not 0.0 <= rate <= 1.0:  # NaN fails this too
        raise ValueError(f"{text!r}: a rate is a chance, from 0 to 1 (or 0% to 100%)")
    return rate


def parse_status(text: str) -> NTSTATUS:
    """`--inject-status`: one of RECEIVE_STATUSES, by name (with or without STATUS_)."""
    name = text.strip().upper().removeprefix("STATUS_")
    for status in RECEIVE_STATUSES:
        if status.name == name:
            return status
    known = ", ".join(s.name for s in RECEIVE_STATUSES)
    hint = {"CANCELLED": " (a cancellation is --inject cancel)",
            "FILE_FORCED_CLOSED": " (a socket that stops working is --inject fail-socket)"}
    raise ValueError(f"{text!r} is not a status `receive` injects{hint.get(name, '')}: "
                     f"one of {known}")


class Injector:
    """One run's injected faults (see the module docstring): decided by the plan and its
    seed, effects that come later waiting in timers, and the ledger of what the client did
    after each. Its creator gives the clock (`now_ns`); the socket it is given to
    (`attach`, by WskSocket) and IoAllocateIrp ask it at each injectable call."""

    def __init__(self, plan: FaultPlan, now_ns: Callable[[], int] = lambda: 0,
                 verifier: Optional[Verifier] = None) -> None:
        self.plan = plan
        self.now_ns = now_ns
        self._rates = dict(plan.rates)
        self._random = {kind: random.Random(f"{plan.seed}:{kind.value}") for kind in self._rates}
        self.calls = 0  # injectable calls so far (the systematic mode counts these)
        self.ledger = Ledger()
        self.verifier: Optional[Verifier] = None  # its locator says where the client is
        if verifier is not None:
            self.watch(verifier)
        self.sockets: list[WskDatagramSocket] = []
        self._timers: list[tuple[int, int, Callable[[], None]]] = []  # (due, order, action)
        self._order = 0
        self._starved_by_timer = False  # a starved pool waits for a timer, not the client
        self.failed_at: Optional[int] = None  # when `fail-socket` failed the socket
        # How long the client may go without receiving (or leave a failed socket open)
        # before that counts as a stall and ends the run: a live run's --grace (a thread
        # of the client's may be about to act); 0 where nothing else can happen (replay).
        self.stall_grace_ns = 0

    def wants(self, kind: FaultKind) -> bool:
        """Whether `kind` is injected at all (its calls are counted)."""
        return kind in self._rates

    def watch(self, verifier: Verifier) -> None:
        """The client's verifier (its registration's): where the client is (its locator),
        and the rule breaks the ledger charges to faults."""
        self.verifier = verifier
        verifier.observer = self.ledger.violation

    def attach(self, sock: WskDatagramSocket) -> None:
        """`sock` was created under this injector (WskSocket)."""
        self.sockets.append(sock)
        if self.verifier is None:
            self.watch(sock.verifier)

    # -- deciding ---------------------------------------------------------------------

    def roll(self, kind: FaultKind) -> bool:
        """One injectable call of `kind`: whether it fails (counted either way)."""
        rate = self._rates.get(kind)
        if rate is None:
            return False
        self.calls += 1
        if self.plan.systematic is not None:
            return self.calls == self.plan.systematic
        return rate > 0 and self._random[kind].random() < rate

    def _draw(self, kind: FaultKind, low: int, high: int) -> int:
        """A number from `low` to `high`, from `kind`'s own stream."""
        return self._random[kind].randint(low, high)

    def _where(self, culprit: Any = None) -> Optional[str]:
        """The client's file:line: where `culprit` (a routine) is defined, else the
        innermost client frame on the stack (the call)."""
        verifier = self.verifier
        locate = verifier.locate if verifier is not None else None
        return locate(culprit) if locate is not None else None

    def _injected(self, kind: FaultKind, detail: str, culprit: Any = None,
                  irp: Optional[Irp] = None) -> None:
        self.ledger.injected_fault(kind.value, self.now_ns(), self.calls, self._where(culprit),
                                   detail, irp)

    # -- timers -----------------------------------------------------------------------

    def later(self, due_ns: int, action: Callable[[], None]) -> None:
        """Run `action` once the clock reaches `due_ns` (`advance`)."""
        self._order += 1
        heapq.heappush(self._timers, (due_ns, self._order, action))

    def next_due(self) -> Optional[int]:
        """When the next timer falls (the clock's ns), or None."""
        return self._timers[0][0] if self._timers else None

    def advance(self) -> None:
        """Run every timer that fell due, oldest first (with its socket's lock held)."""
        timers = self._timers
        now = self.now_ns()
        while timers and timers[0][0] <= now:
            _, _, action = heapq.heappop(timers)
            action()

    def _delay(self) -> int:
        return self._draw(FaultKind.DELAY, 1, max(1, self.plan.max_delay_ns))

    # -- the socket's injectable calls ------------------------------------------------

    def fail_alloc(self) -> bool:
        """IoAllocateIrp: whether this allocation returns NULL."""
        if not self.roll(FaultKind.ALLOC):
            return False
        self._injected(FaultKind.ALLOC, "IoAllocateIrp returned NULL")
        return True

    def deliver(self, sock: WskDatagramSocket, datagrams: list) -> None:
        """A delivery (one batch read from the OS), with the socket's lock held: the
        socket may stop working (`fail-socket`), hold what it hands over (`delay`), and
        the requests this batch would complete may fail or be cancelled first (`receive`,
        `cancel`). Then the batch goes in as always."""
        if sock.broken or sock.closed:
            sock.deliver_now(datagrams)
            return
        if self.wants(FaultKind.FAIL_SOCKET) and self.roll(FaultKind.FAIL_SOCKET):
            culprit = sock.events.callback or _first_routine(sock)
            self._injected(FaultKind.FAIL_SOCKET, "the socket stopped working", culprit)
            self.failed_at = self.now_ns()
            sock.fail()
            sock.deliver_now(datagrams)  # into a socket that no longer works: discarded
            return
        if self.wants(FaultKind.DELAY) and not sock.held and self.roll(FaultKind.DELAY):
            wait = self._delay()
            sock.hold()
            self._injected(FaultKind.DELAY, f"handed over {wait / 1e6:.3f} ms late",
                           sock.events.callback or _first_routine(sock))
            self.later(self.now_ns() + wait, sock.resume)
        if sock.outstanding and (self.wants(FaultKind.RECEIVE) or self.wants(FaultKind.CANCEL)):
            self._fail_requests(sock, len(datagrams))
        sock.deliver_now(datagrams)

    def _fail_requests(self, sock: WskDatagramSocket, n: int) -> None:
        """The requests `n` datagrams would complete, oldest first: each may complete with
        `receive`'s status, or be cancelled, instead."""
        status = self.plan.status
        for irp in list(islice(sock.requests, n)):
            if not sock.is_waiting(irp):
                continue  # a routine that ran meanwhile changed it
            routine = irp.completion_routine
            if self.roll(FaultKind.RECEIVE):
                self._injected(FaultKind.RECEIVE, f"completed with {NTSTATUS(status)}",
                               routine, irp)
                sock.fail_request(irp, status)
            elif self.roll(FaultKind.CANCEL):
                self._injected(FaultKind.CANCEL, "cancelled (STATUS_CANCELLED)", routine, irp)
                io_cancel_irp(irp)

    def defer_cancel(self, sock: WskDatagramSocket, irp: Irp) -> bool:
        """A pending request is being cancelled: whether its completion comes late
        (`delay`); then the socket completes it when the timer falls."""
        if not (self.wants(FaultKind.DELAY) and self.roll(FaultKind.DELAY)):
            return False
        wait = self._delay()
        self._injected(FaultKind.DELAY, f"cancellation completed {wait / 1e6:.3f} ms late",
                       irp.completion_routine, irp)
        self.later(self.now_ns() + wait, lambda: sock.complete_cancel(irp))
        return True

    def list_length(self, events: EventDispatcher, sock: WskDatagramSocket, n: int) -> int:
        """How many of the `n` datagrams the provider could indicate now it does
        indicate: none when its buffers run out (`no-buffers`), fewer (`short-list`). The
        first indication once buffers came back is no injectable call of `no-buffers`:
        what waited goes out (so that even at rate 1 the datagrams keep coming)."""
        pool = events.pool
        refilled, pool.refilled = pool.refilled, False
        if not refilled and self.wants(FaultKind.NO_BUFFERS) and self.roll(FaultKind.NO_BUFFERS):
            pool.starve()
            if pool.in_use:
                detail = f"no buffers until the client gives back some of its {pool.in_use}"
                self._starved_by_timer = False
            else:  # the client holds none: the provider's own come back in a while
                wait = self._draw(FaultKind.NO_BUFFERS, 1, NO_BUFFERS_MAX_NS)
                detail = f"no buffers for {wait / 1e6:.3f} ms"
                self._starved_by_timer = True
                self.later(self.now_ns() + wait, sock.feed)
            self._injected(FaultKind.NO_BUFFERS, detail, events.callback)
            return 0
        if n > 1 and self.wants(FaultKind.SHORT_LIST) and self.roll(FaultKind.SHORT_LIST):
            shorter = self._draw(FaultKind.SHORT_LIST, 1, n - 1)
            self._injected(FaultKind.SHORT_LIST, f"{shorter} of {n} datagrams indicated",
                           events.callback)
            return shorter
        return n

    def called(self, name: str) -> None:
        """The client called `name` on its socket: the last call a stall reports."""
        self.ledger.called(name, self.now_ns(), self._where())

    # -- what the client can do now ---------------------------------------------------

    def receiving(self, sock: WskDatagramSocket) -> Optional[bool]:
        """Whether `sock` can still take datagrams: a receive posted, or the callback
        enabled with buffers to indicate into (or coming back on their own). None when
        the question does not arise: the socket failed or is closed."""
        if sock.broken or sock.closed:
            return None
        if sock.outstanding or sock.held:
            return True
        events = sock.events
        if not events.accepting:
            return False
        pool = events.pool
        # Starved while the client holds buffers: only the client can end it.
        return not (pool.starved and pool.in_use and not self._starved_by_timer)

    def observe(self) -> None:
        """Note whether the client can still receive, now (the ledger's stall watch)."""
        for sock in self.sockets:
            able = self.receiving(sock)
            if able is not None:
                self.ledger.observe(able, self.now_ns(), _why_not(sock))

    def stop_reason(self, busy: bool = False) -> Optional[str]:
        """Why the run should end now, or None: the socket stopped working and the client
        had `stall_grace_ns` to close it, or the client stopped receiving after a fault
        `stall_grace_ns` ago and nothing is left to change that: no timer of ours, and
        nothing of the client's due (`busy`: its work items, in a replay)."""
        if busy:
            return None
        now = self.now_ns()
        grace = self.stall_grace_ns
        if self.failed_at is not None and any(s.broken for s in self.sockets):
            if now - self.failed_at >= grace:
                return "socket stopped working (injected fault)"
            return None
        since = self.ledger.stalled_since
        if since is not None and now - since >= grace and not self._timers:
            return "stalled after an injected fault"
        return None

    def stall_deadline(self) -> Optional[int]:
        """When `stop_reason` may next have something to say (the clock's ns), or None."""
        since = self.failed_at if self.failed_at is not None else self.ledger.stalled_since
        return None if since is None else since + self.stall_grace_ns

    def summary(self) -> dict[str, Any]:
        """The JSON summary's `faults` object (once the ledger has finished)."""
        return {"seed": self.plan.seed, **self.ledger.summary(self.calls)}

    def judge_stall(self) -> None:
        """Before the client is stopped: a stall that lasted `stall_grace_ns` (or ended
        the run) is charged to the fault before it."""
        self.observe()
        self.ledger.judge_stall(self.now_ns(), self.stall_grace_ns)


def _first_routine(sock: WskDatagramSocket) -> Any:
    """The completion routine of the oldest pending request, if any (where an IRP
    client meets a fault that is not one request's)."""
    for irp in sock.requests:
        return irp.completion_routine
    return None


def _why_not(sock: WskDatagramSocket) -> str:
    """Why `sock` cannot take datagrams now, in a few words."""
    events = sock.events
    if events.accepting and events.pool.starved:
        return (f"no receive posted, and indications wait for buffers the client holds "
                f"({events.pool.in_use})")
    return "no receive posted and no callback enabled"


__all__ = [
    "DEFAULT_MAX_DELAY_NS",
    "DEFAULT_RATE",
    "RECEIVE_STATUSES",
    "SOURCES",
    "FaultKind",
    "FaultPlan",
    "Injector",
    "parse_kinds",
    "parse_status",
]
