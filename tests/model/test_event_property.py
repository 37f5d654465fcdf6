"""Property: whatever the order of batches, pends, partial releases, rejects, requests and
closes, no datagram is lost or counted twice:
received = completed + consumed + released + leaked + discarded + still held or kept."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.model.helpers import EventClient, Post, chain, dgram
from wskrecv.wsk import (
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    BufferPool,
    Irp,
    WskDatagramIndication,
    WskDatagramSocket,
)
from wskrecv.wsk.indication import PURE, IndicationCore

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

RETURNS = [STATUS_SUCCESS, STATUS_PENDING, STATUS_DATA_NOT_ACCEPTED]


class CountingPost(Post):
    """A receive request that reports its completion."""

    def __init__(self, on_complete: Callable[[Post], None]) -> None:
        super().__init__()
        self.on_complete = on_complete

    def _done(self, dev: Any, irp: Irp, ctx: Any) -> Any:
        result = super()._done(dev, irp, ctx)
        self.on_complete(self)
        return result


class EventSocketMachine(RuleBasedStateMachine):
    indications: IndicationCore = PURE  # the core under test (the test sets it)

    def __init__(self) -> None:
        super().__init__()
        self.sock: Optional[WskDatagramSocket] = None
        self.next_id = 0
        self.returns = STATUS_SUCCESS
        self.consumed: set[int] = set()
        self.released: set[int] = set()
        self.completed: set[int] = set()
        self.held: list[WskDatagramIndication] = []  # heads of the lists the app holds
        self.posts: list[Post] = []
        self.closed = False

    def _callback(self, ind: WskDatagramIndication) -> int:
        ids = [int(i.data) for i in chain(ind)]
        if self.returns == STATUS_SUCCESS:
            self._count(self.consumed, ids)
        elif self.returns == STATUS_PENDING:
            self.held.append(ind)
        return self.returns

    def _count(self, where: set[int], ids: list[int]) -> None:
        for i in ids:
            assert i not in self.consumed and i not in self.released and i not in self.completed
            where.add(i)

    def _on_complete(self, post: Post) -> None:
        self.posts.remove(post)
        status, _info = post.completions[-1]
        if status == STATUS_SUCCESS:
            self._count(self.completed, [int(post.data)])

    @rule(pool=st.integers(1, 12))
    @precondition(lambda self: self.sock is None)
    def open_socket(self, pool: int) -> None:
        self.sock = WskDatagramSocket(pool=BufferPool(pool), indications=self.indications)
        self.sock.bind(("127.0.0.1", 9))
        self.client = EventClient(self.sock, self._callback)
        self.client.enable()

    @rule(n=st.integers(1, 20))
    @precondition(lambda self: self.sock is not None and not self.closed)
    def batch(self, n: int) -> None:
        n = min(n, self.sock.demand())
        if n:
            ids = range(self.next_id, self.next_id + n)
            self.next_id += n
            self.sock.deliver([dgram(str(i).encode()) for i in ids])

    @rule(status=st.sampled_from(RETURNS))
    def choose_return(self, status: int) -> None:
        self.returns = status

    @rule(which=st.integers(0, 1 << 16), cut=st.integers(0, 1 << 16), tail_first=st.booleans())
    @precondition(lambda self: self.held and not self.closed)
    def release_part(self, which: int, cut: int, tail_first: bool) -> None:
        head = self.held.pop(which % len(self.held))
        inds = chain(head)
        k = cut % len(inds)
        if k == 0:
            parts = [inds]
        else:
            inds[k - 1].next = None
            parts = [inds[k:], inds[:k]] if tail_first else [inds[:k], inds[k:]]
            self.held.append(parts[1][0])  # the other part stays held for now
            parts = parts[:1]
        for part in parts:
            ids = [int(i.data) for i in part]
            self.sock.release(part[0])
            self._count(self.released, ids)

    @rule()
    @precondition(lambda self: self.sock is not None and not self.closed)
    def enable(self) -> None:
        self.client.enable()

    @rule()
    @precondition(lambda self: self.sock is not None and not self.closed)
    def disable(self) -> None:
        self.client.disable()

    @rule()
    @precondition(lambda self: self.sock is not None and not self.closed and len(self.posts) < 3)
    def post_request(self) -> None:
        post = CountingPost(self._on_complete)
        self.posts.append(post)
        post.submit(self.sock)

    @rule()
    @precondition(lambda self: self.sock is not None and not self.closed)
    def close(self) -> None:
        still_held = sum(len(chain(h)) for h in self.held)
        self.sock.close()
        self.closed = True
        assert self.sock.counts.leaked == still_held
        assert self.sock.counts.held == 0 and self.sock.kept == 0

    @invariant()
    def nothing_lost_or_double_counted(self) -> None:
        sock = self.sock
        if sock is None:
            return
        acct: dict[str, Any] = sock.accounting()
        assert sum(acct.values()) == sock.counts.received == self.next_id
        finished = ("completions", "consumed", "released", "discarded", "leaked")
        assert sock.in_flight == sock.counts.received - sum(acct[k] for k in finished)
        assert acct["consumed"] == len(self.consumed)
        assert acct["released"] == len(self.released)
        assert acct["completions"] == len(self.completed)
        held_now = sum(len(chain(h)) for h in self.held)
        if self.closed:
            assert acct["leaked"] == held_now
        else:
            assert acct["held"] == held_now
        assert sock.pool.in_use == acct["held"] + acct["kept"] + acct["leaked"]
        assert sock.pool.capacity is None or sock.pool.in_use <= sock.pool.capacity
        assert sock.verifier.total == (1 if self.closed and held_now else 0)


def test_event_socket_state_machine(core: IndicationCore) -> None:
    # A plain test function rather than the machine's unittest TestCase, so that it runs
    # once per core like every other test.
    machine = type("EventSocketMachineOnCore", (EventSocketMachine,), {"indications": core})
    run_state_machine_as_test(
        machine, settings=settings(max_examples=150, stateful_step_count=40, deadline=None)
    )
