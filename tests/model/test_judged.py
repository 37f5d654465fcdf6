"""What clients written from Microsoft's pages by someone else found (issue 22, its last
"Done when"): each a verdict the model gave that Windows would not, held here at the
model's level, with no network (tests/cli/test_page_clients.py runs the clients)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.model.helpers import Post, bound_socket, dgram, event_socket, payloads
from wskrecv.client import (
    KEVENT,
    SOCKADDR,
    STATUS_CANCELLED,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    KeInitializeEvent,
    KeSetEvent,
    KeWaitForSingleObject,
    NotificationEvent,
    SynchronizationEvent,
)
from wskrecv.wsk import io_cancel_irp, io_reuse_irp
from wskrecv.wsk._state import IndicationState
from wskrecv.wsk.indication import IndicationCore
from wskrecv.wsk.verifier import ReleaseNotHeld, UseAfterRelease

# -- KEVENT: the two types KeInitializeEvent makes -----------------------------------------------


def test_a_synchronization_event_is_reset_by_the_wait_it_satisfies() -> None:
    """KeInitializeEvent(SynchronizationEvent): a satisfied wait resets the event, so a
    driver that waits for each completion in turn (msquic's CxPlatEventInitialize(&e,
    FALSE, FALSE)) never sees the last one's signal again."""
    event = KEVENT()
    KeInitializeEvent(event, SynchronizationEvent, False)
    assert KeSetEvent(event) == 0
    assert KeWaitForSingleObject(event, Timeout=0) == STATUS_SUCCESS
    assert KeWaitForSingleObject(event, Timeout=0) == STATUS_TIMEOUT
    KeInitializeEvent(event, SynchronizationEvent, True)  # signalled from the start
    assert KeWaitForSingleObject(event, Timeout=0) == STATUS_SUCCESS
    assert not event.is_set()


def test_a_notification_event_stays_signalled() -> None:
    event = KEVENT()
    KeInitializeEvent(event, NotificationEvent, False)
    KeSetEvent(event)
    assert KeWaitForSingleObject(event, Timeout=0) == STATUS_SUCCESS
    assert KeWaitForSingleObject(event, Timeout=0) == STATUS_SUCCESS
    assert KeSetEvent(event) == 1  # its previous state


def test_one_set_of_a_synchronization_event_releases_one_waiter() -> None:
    """Two waiters, one KeSetEvent: one goes on, the other's wait times out."""
    event = KEVENT()
    KeInitializeEvent(event, SynchronizationEvent, False)
    woke: list[int] = []
    waiters = [threading.Thread(target=lambda: woke.append(KeWaitForSingleObject(event, Timeout=0.5)))
               for _ in range(2)]
    for t in waiters:
        t.start()
    KeSetEvent(event)
    for t in waiters:
        t.join()
    assert sorted(woke) == [STATUS_SUCCESS, STATUS_TIMEOUT] and not event.is_set()


# -- requests posted from outside the provider's delivery ----------------------------------------


def test_a_request_posted_outside_a_delivery_wakes_the_receive_loop() -> None:
    """A start hook's or a client thread's WskReceiveFrom makes the socket want a datagram:
    the receive loop, waiting with nothing wanted, must hear it (as after WskRelease)."""
    sock = bound_socket()
    woken: list[int] = []
    sock.ready_callback = lambda: woken.append(sock.demand())
    post = Post()
    assert post.submit(sock) == STATUS_PENDING
    assert woken == [1]


def test_a_repost_from_a_completion_routine_does_not_wake_the_loop() -> None:
    """The hot path: the loop delivering is the one that runs the routine; it looks at
    demand() next by itself."""
    sock = bound_socket()
    post = Post()

    def repost(_dev: Any, irp: Any, _ctx: Any) -> int:
        post.completions.append((irp.io_status.status, irp.io_status.information))
        io_reuse_irp(irp)
        post.submit(sock)
        return STATUS_MORE_PROCESSING_REQUIRED

    post.routine = repost
    post.submit(sock)
    woken: list[str] = []
    sock.ready_callback = lambda: woken.append("woken")
    sock.deliver([dgram(b"a"), dgram(b"b")])
    assert len(post.completions) == 2 and sock.outstanding == 1 and woken == []


def test_an_irp_cancelled_before_it_is_posted_completes_cancelled_when_queued() -> None:
    """IoCancelIrp of an IRP with no cancel routine "sets the IRP's cancel bit and returns
    FALSE. The IRP should be canceled at a later time when it becomes cancelable": posted,
    it is cancelled instead of waiting for a datagram that may never come (the thread
    that cancels before the poster posts)."""
    sock = bound_socket()
    post = Post()
    assert io_cancel_irp(post.irp) is False and post.irp.Cancel
    assert post.submit(sock) == STATUS_CANCELLED
    assert post.completions == [(STATUS_CANCELLED, 0)] and sock.outstanding == 0
    assert sock.counts.cancellations == 1 and sock.verifier.total == 0
    sock.deliver([dgram()])  # the next datagram waits for a request
    assert post.completions == [(STATUS_CANCELLED, 0)]


def test_a_cancelled_irp_finding_a_datagram_waiting_takes_it() -> None:
    """It never becomes cancelable: the request completes at once, with the datagram."""
    sock = bound_socket()
    sock.deliver([dgram(b"early")])
    post = Post()
    io_cancel_irp(post.irp)
    assert post.submit(sock) == STATUS_SUCCESS
    assert post.completions == [(STATUS_SUCCESS, 5)]


# -- an indication's RemoteAddress is a SOCKADDR -------------------------------------------------


def test_an_indications_remote_address_has_every_name_a_sockaddr_has(core: IndicationCore) -> None:
    """`DataIndication->RemoteAddress->sa_family` was an AttributeError inside wskrecv,
    reported as the client's fault."""
    sock, client = event_socket(core, returns=STATUS_PENDING)
    sock.deliver([dgram(remote=("::ffff:127.0.0.1", 9, 0, 0))])
    remote = client.heads[0].RemoteAddress
    plain = SOCKADDR()
    plain.set(("::ffff:127.0.0.1", 9, 0, 0))
    names = [n for n in dir(SOCKADDR) if not n.startswith("_") and n != "set"]
    assert "sa_family" in names
    assert {n: getattr(remote, n) for n in names} == {n: getattr(plain, n) for n in names}
    sock.release(client.heads[0])
    with pytest.raises(UseAfterRelease):
        remote.sa_family  # noqa: B018 - the read is the test


# -- WskRelease of what was never retained -------------------------------------------------------


def test_wskrelease_of_a_list_the_callback_accepted_is_release_not_held(core: IndicationCore) -> None:
    """The list went back with STATUS_SUCCESS; WskRelease releases what "it previously
    retained by returning STATUS_PENDING": ReleaseNotHeld, not ReleasedTwice (the client
    released nothing before)."""
    sock, client = event_socket(core)
    sock.deliver(payloads(2))
    head = client.heads[0]
    assert head.state is IndicationState.RETURNED
    with pytest.raises(ReleaseNotHeld, match="never retained"):
        sock.release(head)
    assert sock.verifier.counts == {"ReleaseNotHeld": 1}
    assert sock.counts.released == 0 and sock.pool.in_use == 0


def test_wskrelease_after_wskrelease_is_still_released_twice(core: IndicationCore) -> None:
    sock, client = event_socket(core, returns=STATUS_PENDING)
    sock.deliver(payloads(2))
    head = client.heads[0]
    assert sock.release(head) == STATUS_SUCCESS
    with pytest.raises(Exception, match="ReleasedTwice"):
        sock.release(head)


# -- static callbacks on a socket with nothing to call -------------------------------------------


def test_static_callbacks_on_a_socket_without_a_callback_call_nothing() -> None:
    """WSK_SET_STATIC_EVENT_CALLBACKS (as msquic's init calls it) by a client whose socket
    has no WskReceiveFromEvent in its dispatch (an IRP-style client): an assertion inside
    wskrecv ended the run as an internal error at the first datagram no request took.
    Nothing can be called: the socket wants datagrams only for its requests."""
    from wskrecv.wsk import WSK_EVENT_RECEIVE_FROM, WskEventCallbackControl, wsk_register
    from wskrecv.wsk.status import WSK_SET_STATIC_EVENT_CALLBACKS

    npi = wsk_register().capture_provider_npi()
    control = WskEventCallbackControl(WSK_EVENT_RECEIVE_FROM)
    assert npi.control_client(WSK_SET_STATIC_EVENT_CALLBACKS, control) == STATUS_SUCCESS
    sock = npi.socket()
    sock.bind(("127.0.0.1", 5001))
    assert sock.demand() == 0 and not sock.event_enabled
    sock.deliver([dgram(b"early")])  # read anyway (an inherited queue, say): it waits
    post = Post()
    assert post.submit(sock) == STATUS_SUCCESS
    assert post.completions == [(STATUS_SUCCESS, 5)] and sock.verifier.total == 0
