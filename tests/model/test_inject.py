"""Fault injection in the model (wskrecv/wsk/inject.py, outcomes.py), with no network: each
kind's documented outcome where the provider produces it, seeded and repeatable, the
systematic mode's one fault, and the ledger's verdict on what the client did after."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from tests.model.helpers import EventClient, Post, dgram, payloads
from wskrecv.wsk import (
    STATUS_CANCELLED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_PENDING,
    STATUS_SUCCESS,
    BufferPool,
    Verifier,
    WskDatagramSocket,
    io_cancel_irp,
    io_reuse_irp,
    wsk_register,
)
from wskrecv.wsk.inject import (
    DEFAULT_RATE,
    FaultKind,
    FaultPlan,
    Injector,
    parse_kinds,
    parse_status,
)
from wskrecv.wsk.irp import io_allocate_irp
from wskrecv.wsk.outcomes import Outcome
from wskrecv.wsk.status import NTSTATUS


class Clock:
    """The injector's clock, moved by the test."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def injector(clock: Optional[Clock] = None, seed: int = 1, systematic: Optional[int] = None,
             **rates: float) -> Injector:
    plan = FaultPlan(tuple((FaultKind(k.replace("_", "-")), r) for k, r in rates.items()),
                     seed=seed, systematic=systematic, max_delay_ns=1_000_000)
    return Injector(plan, clock or Clock())


def socket_with(faults: Injector, pool: Optional[int] = None, core: Any = None) -> WskDatagramSocket:
    sock = WskDatagramSocket(pool=BufferPool(pool), faults=faults, indications=core)
    sock.bind(("127.0.0.1", 5001))
    return sock


def event_client(faults: Injector, core: Any, returns: Any = STATUS_SUCCESS) -> tuple[
        WskDatagramSocket, EventClient]:
    """A bound socket under `faults` whose lists `core` builds, its callback enabled."""
    sock = socket_with(faults, core=core)
    client = EventClient(sock, returns)
    client.enable()
    return sock, client


class Reposter(Post):
    """A receive whose routine reposts after anything but a cancellation by close."""

    def __init__(self, sock: WskDatagramSocket) -> None:
        super().__init__()
        self.sock = sock
        self.routine = self._again

    def _again(self, dev: Any, irp: Any, ctx: Any) -> Any:
        result = self._done(dev, irp, ctx)
        if not self.sock.closed:
            io_reuse_irp(irp)
            self.submit(self.sock)
        return result


# -- the plan ---------------------------------------------------------------------------


def test_kinds_parse_with_rates_and_default_to_driver_verifiers_six_percent() -> None:
    assert parse_kinds(["cancel=0.1", "alloc", "receive=25%"]) == (
        (FaultKind.ALLOC, DEFAULT_RATE), (FaultKind.RECEIVE, 0.25), (FaultKind.CANCEL, 0.1))
    assert DEFAULT_RATE == 0.06
    assert [k for k, _ in parse_kinds(["all=0.1"])] == list(FaultKind)
    assert parse_kinds(["all=0.1", "delay=0"])[-1] == (FaultKind.DELAY, 0.0)


@pytest.mark.parametrize(("text", "message"), [
    ("oom", "'oom' is not a fault kind"),
    ("cancel=2", "a rate is a chance, from 0 to 1"),
    ("cancel=-0.1", "a rate is a chance"),
    ("cancel=nan", "a rate is a chance"),
    ("cancel=lots", "the rate 'lots' is not a number"),
    ("=0.5", "'=0.5' is not a fault kind"),
])
def test_bad_kinds_and_rates_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_kinds([text])


def test_receive_statuses_are_failures_and_the_others_are_pointed_elsewhere() -> None:
    assert parse_status("port_unreachable") is NTSTATUS.PORT_UNREACHABLE
    assert parse_status("STATUS_NO_MEMORY") is NTSTATUS.NO_MEMORY
    with pytest.raises(ValueError, match="--inject cancel"):
        parse_status("CANCELLED")
    with pytest.raises(ValueError, match="--inject fail-socket"):
        parse_status("FILE_FORCED_CLOSED")
    with pytest.raises(ValueError, match="not a status"):
        parse_status("SUCCESS")


# -- each kind, where the provider produces it -------------------------------------------


def test_alloc_makes_io_allocate_irp_return_null_for_the_registered_client() -> None:
    faults = injector(alloc=1.0)
    registration = wsk_register(Verifier(), faults=faults)
    assert io_allocate_irp(registration.irps) is None
    assert registration.irps.outstanding() == []  # nothing allocated, nothing to free
    assert faults.ledger.injected["alloc"] == 1
    registration.deregister(check=False)


def test_receive_completes_the_request_with_the_failure_and_the_datagram_waits() -> None:
    faults = injector(receive=1.0)
    sock = socket_with(faults)
    post = Post()
    post.submit(sock)
    sock.deliver([dgram(b"kept")])
    assert post.completions == [(STATUS_INSUFFICIENT_RESOURCES, 0)]
    assert sock.statistics().backlog == 1 and sock.counts.failures == 1
    second = Post()
    assert second.submit(sock) == STATUS_SUCCESS  # the next request takes it
    assert second.data == b"kept"


def test_a_client_that_reposts_after_a_failure_gets_every_datagram_even_at_rate_one() -> None:
    """Only the requests a delivery would complete can fail: a repost takes the datagram."""
    faults = injector(receive=1.0)
    sock = socket_with(faults)
    post = Reposter(sock)
    post.submit(sock)
    for d in payloads(3):
        sock.deliver([d])
    statuses = [s for s, _ in post.completions]
    assert statuses == [STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS] * 3


def test_receive_takes_the_status_asked_for() -> None:
    plan = FaultPlan(((FaultKind.RECEIVE, 1.0),), seed=1, status=NTSTATUS.PORT_UNREACHABLE)
    sock = socket_with(Injector(plan, Clock()))
    post = Post()
    post.submit(sock)
    sock.deliver([dgram()])
    assert post.completions == [(NTSTATUS.PORT_UNREACHABLE, 0)]


def test_cancel_completes_a_pending_request_as_io_cancel_irp_does() -> None:
    faults = injector(cancel=1.0)
    sock = socket_with(faults)
    post = Post()
    post.submit(sock)
    sock.deliver([dgram()])
    assert post.completions == [(STATUS_CANCELLED, 0)]
    assert post.irp.cancel is True and sock.counts.cancellations == 1
    assert sock.statistics().backlog == 1


def test_short_list_indicates_fewer_datagrams_per_call_and_then_the_rest(core: Any) -> None:
    faults = injector(short_list=1.0)
    sock, client = event_client(faults, core)
    sock.deliver(payloads(10))
    lengths = [len(c) for c in client.calls if c is not None]
    assert sum(lengths) == 10 and len(lengths) > 1 and lengths[0] < 10
    assert [d for c in client.calls if c for d in c] == [str(i).encode() for i in range(10)]


def test_no_buffers_waits_for_a_held_buffer_to_come_back(core: Any) -> None:
    faults = injector(systematic=2, no_buffers=1.0)  # the second indication finds none
    sock, client = event_client(faults, core, STATUS_PENDING)  # retains every list
    sock.deliver(payloads(1))
    sock.deliver(payloads(2, start=1))
    assert client.calls == [[b"0"]] and sock.demand() == 0 and sock.pool.starved
    assert faults.receiving(sock) is False  # only the client can end it
    faults.observe()
    assert sock.release(client.heads[0]) == STATUS_SUCCESS  # a buffer comes back
    assert client.calls == [[b"0"], [b"1", b"2"]] and not sock.pool.starved
    faults.observe()
    assert faults.ledger.stalled_since is None


def test_no_buffers_with_none_held_ends_after_a_bounded_time(core: Any) -> None:
    clock = Clock()
    faults = injector(clock, systematic=1, no_buffers=1.0)
    sock, client = event_client(faults, core)
    sock.deliver(payloads(1))
    due = faults.next_due()
    assert client.calls == [] and due is not None and due <= 10_000_000
    assert faults.receiving(sock) is True  # the provider's buffers come back by themselves
    clock.ns = due
    faults.advance()
    assert client.calls == [[b"0"]]


def test_fail_socket_completes_requests_with_forced_closed_and_indicates_null(core: Any) -> None:
    faults = injector(fail_socket=1.0)
    sock, client = event_client(faults, core)
    post = Post()
    post.submit(sock)
    sock.deliver([dgram()])
    assert post.completions == [(STATUS_FILE_FORCED_CLOSED, 0)]
    assert client.calls == [None]  # the NULL indication: the socket no longer works
    assert sock.broken and sock.demand() == 0
    with pytest.raises(Exception, match="CallAfterSocketFailure"):  # it heard: close it
        Post().submit(sock)
    sock.close()
    assert sock.closed and sock.counts.discarded == 1


def test_delay_holds_what_a_delivery_hands_over_until_its_time() -> None:
    clock = Clock()
    faults = injector(clock, delay=1.0)
    sock = socket_with(faults)
    post = Post()
    post.submit(sock)
    sock.deliver([dgram(b"late")])
    assert post.completions == [] and sock.held
    due = faults.next_due()
    assert due is not None and 0 < due <= 1_000_000
    clock.ns = due - 1
    faults.advance()
    assert post.completions == []
    clock.ns = due
    faults.advance()
    assert post.completions == [(STATUS_SUCCESS, 4)] and not sock.held


def test_delay_makes_a_cancelled_irp_complete_late() -> None:
    clock = Clock()
    faults = injector(clock, delay=1.0)
    sock = socket_with(faults)
    post = Post()
    post.submit(sock)
    assert io_cancel_irp(post.irp) is True
    assert post.completions == [] and post.irp.state.value == "pending"
    clock.ns = faults.next_due()  # type: ignore[assignment]
    faults.advance()
    assert post.completions == [(STATUS_CANCELLED, 0)]


def test_closing_completes_a_late_cancellation_at_once() -> None:
    faults = injector(delay=1.0)
    sock = socket_with(faults)
    post = Post()
    post.submit(sock)
    io_cancel_irp(post.irp)
    sock.close()
    assert post.completions == [(STATUS_CANCELLED, 0)]
    faults.advance()  # the timer finds nothing left to do
    assert post.completions == [(STATUS_CANCELLED, 0)]


# -- seeded, repeatable, systematic ------------------------------------------------------


def _decisions(faults: Injector, kind: FaultKind, n: int) -> list[bool]:
    return [faults.roll(kind) for _ in range(n)]


def test_the_same_seed_makes_the_same_decisions_and_kinds_do_not_disturb_each_other() -> None:
    a = _decisions(injector(seed=7, cancel=0.3), FaultKind.CANCEL, 200)
    b = _decisions(injector(seed=7, cancel=0.3), FaultKind.CANCEL, 200)
    assert a == b and 30 < sum(a) < 90
    both = injector(seed=7, cancel=0.3, alloc=0.5)
    mixed = []
    for _ in range(200):
        both.roll(FaultKind.ALLOC)
        mixed.append(both.roll(FaultKind.CANCEL))
    assert mixed == a
    assert _decisions(injector(seed=8, cancel=0.3), FaultKind.CANCEL, 200) != a


def test_the_systematic_mode_fails_only_the_nth_injectable_call() -> None:
    faults = injector(systematic=3, cancel=0.0, alloc=0.0)
    got = [faults.roll(FaultKind.ALLOC), faults.roll(FaultKind.CANCEL),
           faults.roll(FaultKind.ALLOC), faults.roll(FaultKind.CANCEL)]
    assert got == [False, False, True, False] and faults.calls == 4
    assert not faults.roll(FaultKind.DELAY) and faults.calls == 4  # not injected: not counted


# -- what the client did after a fault ---------------------------------------------------


def test_a_client_that_reposts_recovers() -> None:
    faults = injector(cancel=1.0)
    sock = socket_with(faults)
    post = Reposter(sock)
    post.submit(sock)
    sock.deliver([dgram()])
    faults.judge_stall()
    faults.ledger.finish()
    assert faults.ledger.worst is Outcome.RECOVERED
    assert faults.ledger.summary(faults.calls)["outcomes"]["recovered"] == 1


def test_a_client_that_gives_up_after_a_cancellation_stalls_with_its_last_call() -> None:
    clock = Clock()
    faults = injector(clock, cancel=1.0)
    sock = socket_with(faults)
    post = Post()  # completes once, never reposts
    clock.ns = 5_000_000
    post.submit(sock)
    clock.ns = 7_000_000
    sock.deliver([dgram()])
    faults.judge_stall()
    faults.ledger.finish()
    summary = faults.ledger.summary(faults.calls)
    assert summary["verdict"] == "stalled"
    stall = summary["stall"]
    assert stall["since_s"] == 0.007 and stall["last_call"]["name"] == "WskReceiveFrom"
    assert stall["last_call"]["time_s"] == 0.005
    assert summary["notable"][0]["kind"] == "cancel"


def test_a_rule_broken_after_a_fault_is_charged_to_it() -> None:
    faults = injector(receive=1.0)
    sock = socket_with(faults)
    post = Post()
    post.submit(sock)
    sock.deliver([dgram()])
    with pytest.raises(Exception, match="IrpNotReused"):
        post.submit(sock)  # resubmitted without IoReuseIrp
    faults.ledger.finish()
    summary = faults.ledger.summary(faults.calls)
    assert summary["verdict"] == "violated"
    assert summary["notable"][0]["why"].startswith("IrpNotReused at ")


def test_a_leaked_irp_is_charged_to_the_fault_on_it() -> None:
    faults = injector(cancel=1.0)
    registration = wsk_register(Verifier(), faults=faults)
    sock = registration.capture_provider_npi().socket()
    sock.bind(("127.0.0.1", 5001))
    post = Post()
    post.irp = io_allocate_irp(registration.irps)  # type: ignore[assignment]
    post.submit(sock)
    sock.deliver([dgram()])
    faults.ledger.irps_left(registration.irps.outstanding())
    registration.deregister(check=False)
    faults.ledger.finish()
    summary = faults.ledger.summary(faults.calls)
    assert summary["verdict"] == "leaked"
    assert summary["notable"][0]["why"].startswith("IrpLeaked: the IRP allocated at")


def test_a_crash_and_an_unclosed_failed_socket_are_the_last_faults_outcomes() -> None:
    faults = injector(fail_socket=1.0)
    sock = socket_with(faults)
    sock.deliver([dgram()])
    faults.ledger.socket_left_open()
    faults.ledger.finish()
    assert faults.ledger.summary(faults.calls)["verdict"] == "leaked"
    crashing = injector(cancel=1.0)
    sock = socket_with(crashing)
    Post().submit(sock)
    sock.deliver([dgram()])
    crashing.ledger.crashed("ZeroDivisionError in completion routine at client.py:9")
    crashing.ledger.finish()
    assert crashing.ledger.summary(crashing.calls)["verdict"] == "crashed"


def test_the_ledger_stays_small_over_many_faults() -> None:
    faults = injector(receive=1.0)
    sock = socket_with(faults)
    post = Reposter(sock)
    post.submit(sock)
    for d in payloads(5000):
        sock.deliver([d])
    ledger = faults.ledger
    assert ledger.injected["receive"] == 5000
    assert len(ledger._by_irp) == 1 and not ledger.notable
    ledger.finish()
    assert ledger.summary(faults.calls)["by_kind"]["receive"]["recovered"] == 5000
