"""Event-style receive (WskReceiveFromEvent, WskRelease, SO_WSK_EVENT_CALLBACK) in the model."""

from __future__ import annotations

from typing import Any

import pytest

from tests.model.helpers import EventClient, Post, chain, dgram, event_socket, payloads
from wskrecv.wsk import (
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_EVENT_RECEIVE_FROM,
    BufferPool,
    PacketInfo,
    ReceiveTimestamp,
    WskDatagramSocket,
    WskEventCallbackControl,
    WskSetOption,
)
from wskrecv.wsk._state import IndicationState
from wskrecv.wsk.indication import IndicationCore
from wskrecv.wsk.verifier import (
    EventBeforeBind,
    ReleasedTwice,
    ReleaseNotHeld,
    SocketClosed,
    UseAfterReject,
    UseAfterRelease,
)

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")


def test_enabling_before_bind_is_a_violation(core: IndicationCore) -> None:
    sock = WskDatagramSocket(indications=core)
    client = EventClient(sock)
    with pytest.raises(EventBeforeBind):
        client.enable()
    assert sock.verifier.counts == {"EventBeforeBind": 1}
    assert not sock.event_enabled and sock.demand() == 0


def test_enabling_without_a_callback_in_the_dispatch_fails(core: IndicationCore) -> None:
    sock = WskDatagramSocket(indications=core)
    sock.bind(("127.0.0.1", 9))
    control = WskEventCallbackControl(WSK_EVENT_RECEIVE_FROM)
    assert sock.control_socket(WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, control) == (
        STATUS_INVALID_PARAMETER
    )
    assert sock.verifier.total == 0


@pytest.mark.parametrize(
    ("request_type", "code", "level", "mask"),
    [
        (1, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, WSK_EVENT_RECEIVE_FROM),  # WskGetOption
        (WskSetOption, 0x1001, SOL_SOCKET, WSK_EVENT_RECEIVE_FROM),  # SO_SNDBUF: not modelled
        (WskSetOption, SO_WSK_EVENT_CALLBACK, 0, WSK_EVENT_RECEIVE_FROM),
        (WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 0),
        (WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 0x40),  # another event
    ],
)
def test_other_control_requests_are_invalid(
    core: IndicationCore, request_type: int, code: int, level: int, mask: int
) -> None:
    sock, client = event_socket(core)
    control = WskEventCallbackControl(mask)
    assert sock.control_socket(request_type, code, level, control) == STATUS_INVALID_PARAMETER


def test_without_the_callback_datagrams_stay_in_the_os(core: IndicationCore) -> None:
    sock = WskDatagramSocket(indications=core, pool=BufferPool(8))
    sock.bind(("127.0.0.1", 9))
    client = EventClient(sock)
    assert sock.demand() == 0
    client.enable()
    assert sock.demand() == 8
    client.disable()
    assert sock.demand() == 0 and not sock.event_enabled


def test_one_callback_per_batch_with_a_linked_list_in_order(core: IndicationCore) -> None:
    sock, client = event_socket(core)
    sock.deliver(payloads(3))
    assert client.calls == [[b"0", b"1", b"2"]]
    assert client.flags == [0]
    head = client.heads[0]
    assert [i.state for i in chain(head)] == [IndicationState.RETURNED] * 3
    sock.deliver(payloads(2, 3))
    assert client.calls[1] == [b"3", b"4"]
    assert sock.counts.callbacks == 2 and sock.counts.indicated == 5 and sock.counts.consumed == 5


def test_indication_fields_follow_wsk_datagram_indication(core: IndicationCore) -> None:
    seen: dict[str, Any] = {}

    def look(ind):  # type: ignore[no-untyped-def]
        seen["buffer"] = bytes(ind.buffer.data(ind.buffer.length))
        seen["offset"] = ind.buffer.offset
        addr = ind.remote_address
        seen["remote"] = (addr.family, addr.host, addr.port)
        seen["control"] = ind.control_info
        seen["control_length"] = ind.control_info_length
        seen["fast"] = (ind.data, ind.remote, ind.timestamp_ns)
        return STATUS_SUCCESS

    sock, _ = event_socket(core, returns=look)
    sock.deliver([dgram(b"hello", remote=("10.1.2.3", 4567), local=("127.0.0.9", 1), ts=77)])
    assert seen["buffer"] == b"hello" and seen["offset"] == 0
    assert seen["remote"] == (2, "10.1.2.3", 4567)
    assert seen["control"] == [PacketInfo("127.0.0.9", 1), ReceiveTimestamp(77)]
    assert seen["control_length"] == 24 + 24
    assert seen["fast"] == (b"hello", ("10.1.2.3", 4567), 77)


def test_success_returns_the_buffers_at_once(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=4)
    sock.deliver(payloads(4))
    assert sock.pool.in_use == 0 and sock.pool.high_water == 4
    assert sock.demand() == 4


def test_touching_data_after_success_is_use_after_release(core: IndicationCore) -> None:
    sock, client = event_socket(core)
    sock.deliver(payloads(1))
    ind = client.heads[0]
    with pytest.raises(UseAfterRelease):
        _ = ind.data
    with pytest.raises(UseAfterRelease):
        _ = ind.buffer
    with pytest.raises(UseAfterRelease):
        _ = ind.control_info
    assert sock.verifier.counts == {"UseAfterRelease": 3}


def test_pending_keeps_the_list_until_release(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=8, returns=STATUS_PENDING)
    sock.deliver(payloads(3))
    head = client.heads[0]
    assert [i.state for i in chain(head)] == [IndicationState.RETAINED] * 3
    assert sock.counts.held == 3 and sock.pool.in_use == 3 and sock.demand() == 5
    assert head.data == b"0"  # the application owns it: reading is fine
    assert sock.release(head) == STATUS_SUCCESS
    assert sock.counts.held == 0 and sock.counts.released == 3 and sock.pool.in_use == 0
    assert [i.state for i in chain(head)] == [IndicationState.RELEASED] * 3


def test_releasing_twice_is_a_violation_and_changes_nothing(core: IndicationCore) -> None:
    sock, client = event_socket(core, returns=STATUS_PENDING)
    sock.deliver(payloads(2))
    head = client.heads[0]
    sock.release(head)
    with pytest.raises(ReleasedTwice):
        sock.release(head)
    assert sock.counts.released == 2 and sock.verifier.counts == {"ReleasedTwice": 1}
    with pytest.raises(UseAfterRelease):
        _ = head.next.remote


def test_a_list_may_be_split_and_released_in_parts(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=8, returns=STATUS_PENDING)
    sock.deliver(payloads(5))
    a, b, c, d, e = chain(client.heads[0])
    b.next = None  # split after the second
    sock.release(d)  # the tail first: d, e
    assert sock.counts.held == 3 and sock.counts.released == 2
    assert [i.state for i in (a, b, c)] == [IndicationState.RETAINED] * 3
    sock.release(a)  # a, b
    c.next = None
    sock.release(c)
    assert sock.counts.held == 0 and sock.counts.released == 5 and sock.pool.in_use == 0
    assert sock.verifier.total == 0


def test_releasing_part_of_the_list_being_indicated_is_legal(core: IndicationCore) -> None:
    """msquic (earlier kernel datapath) and ovpn-dco-win cut the list (Next = NULL),
    WskRelease what they copied or dropped from inside the callback, and return
    STATUS_PENDING for the rest: released, not leaked, no violation."""

    def keep_first(ind):  # type: ignore[no-untyped-def]
        rest = ind.next
        ind.next = None  # cut
        sock.release(rest)  # inside the callback, part of what it is handed
        return STATUS_PENDING  # for the part it keeps

    sock, client = event_socket(core, returns=keep_first)
    sock.deliver(payloads(3))
    s = sock.statistics()
    assert s.released == 2 and s.released_in_callback == 2 and s.held == 1
    assert s.pended == 1 and s.indicating == 0 and sock.pool.in_use == 1
    assert sock.verifier.total == 0
    head = client.heads[0]
    assert head.state is IndicationState.RETAINED and head.data == b"0"
    sock.release(head)
    s = sock.statistics()
    assert s.released == 3 and s.held == 0 and s.in_flight == 0 and sock.pool.in_use == 0
    sock.close()
    assert sock.counts.leaked == 0 and sock.verifier.total == 0


def test_releasing_the_whole_list_inside_the_callback_leaves_nothing_to_settle(core: IndicationCore) -> None:
    """Released in the call, then STATUS_PENDING for the list (msquic's kernel datapath
    before "Remove DataIndication Queuing" does so when it copied or dropped them all)."""
    sock, _ = event_socket(core, returns=lambda ind: sock.release(ind) or STATUS_PENDING)
    sock.deliver(payloads(2))
    s = sock.statistics()
    assert s.released == 2 and s.consumed == 0 and s.held == 0 and s.in_flight == 0
    assert sock.pool.in_use == 0 and sock.verifier.total == 0


@pytest.mark.parametrize("returned", [STATUS_SUCCESS, STATUS_DATA_NOT_ACCEPTED])
def test_releasing_inside_the_callback_then_returning_the_list_is_a_violation(
    core: IndicationCore, returned: int
) -> None:
    """Released in the call, then STATUS_SUCCESS or STATUS_DATA_NOT_ACCEPTED for the list:
    the provider would be handed indications it already has back."""

    def release_first(ind: Any) -> int:
        rest = ind.next
        ind.next = None
        sock.release(ind)
        return returned if rest is not None else STATUS_PENDING

    sock, _ = event_socket(core, returns=release_first)
    sock.deliver(payloads(3))
    assert sock.verifier.counts == {"ReleasedThenReturned": 1}
    detail = sock.verifier.first[0].detail
    assert "WskRelease of 1 of the list's 3 indications" in detail
    s = sock.statistics()
    assert s.released == 1 and s.released_in_callback == 1


def test_releasing_what_another_socket_or_nobody_indicated_is_not_held(core: IndicationCore) -> None:
    sock, client = event_socket(core, returns=STATUS_PENDING)
    other, other_client = event_socket(core, returns=STATUS_PENDING)
    other.deliver(payloads(1))
    with pytest.raises(ReleaseNotHeld):
        sock.release(other_client.heads[0])
    with pytest.raises(ReleaseNotHeld):
        sock.release(None)
    with pytest.raises(ReleaseNotHeld):
        sock.release(object())  # type: ignore[arg-type]
    assert sock.verifier.counts == {"ReleaseNotHeld": 3}
    assert other.counts.held == 1


def test_a_list_that_comes_round_again_is_released_twice_and_nothing_is_released(
    core: IndicationCore
) -> None:
    sock, client = event_socket(core, returns=STATUS_PENDING)
    sock.deliver(payloads(3))
    a, b, c = chain(client.heads[0])
    c.next = a
    with pytest.raises(ReleasedTwice):
        sock.release(a)
    assert sock.counts.held == 3 and sock.counts.released == 0


def test_a_list_mixing_held_and_released_is_all_or_nothing(core: IndicationCore) -> None:
    sock, client = event_socket(core, returns=STATUS_PENDING)
    sock.deliver(payloads(3))
    a, b, c = chain(client.heads[0])
    b.next = None
    sock.release(c)
    b.next = c  # relink the released tail onto the held head
    with pytest.raises(ReleasedTwice):
        sock.release(a)
    assert a.state is IndicationState.RETAINED and b.state is IndicationState.RETAINED
    assert sock.counts.held == 2 and sock.counts.released == 1


def test_data_not_accepted_keeps_the_datagrams_and_disables_the_callback(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=8, returns=STATUS_DATA_NOT_ACCEPTED)
    sock.deliver(payloads(3))
    head = client.heads[0]
    assert sock.counts.rejected == 1 and sock.kept == 3
    assert not sock.event_enabled and sock.demand() == 0
    assert sock.pool.in_use == 3  # kept datagrams still hold their buffers
    assert [i.state for i in chain(head)] == [IndicationState.KEPT] * 3
    with pytest.raises(UseAfterReject):
        _ = head.data
    with pytest.raises(ReleaseNotHeld):
        sock.release(head)


def test_re_enabling_indicates_the_kept_datagrams_again_first(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=8, returns=STATUS_DATA_NOT_ACCEPTED)
    sock.deliver(payloads(3))
    first = chain(client.heads[0])
    client.returns = STATUS_SUCCESS
    assert client.enable() == STATUS_SUCCESS  # indicated again before this returns
    assert client.calls == [[b"0", b"1", b"2"], [b"0", b"1", b"2"]]
    assert chain(client.heads[1]) == first  # the very same indications
    assert sock.kept == 0 and sock.counts.consumed == 3 and sock.pool.in_use == 0
    sock.deliver(payloads(1, 3))
    assert client.calls[2] == [b"3"]
    assert sock.counts.callbacks == 3 and sock.counts.indicated == 7


def test_disabled_then_enabled_after_reject_still_reindicates(core: IndicationCore) -> None:
    sock, client = event_socket(core, returns=STATUS_DATA_NOT_ACCEPTED)
    sock.deliver(payloads(2))
    client.disable()
    client.returns = STATUS_PENDING
    client.enable()
    assert sock.counts.held == 2 and sock.kept == 0 and sock.counts.pended == 1


def test_requests_take_priority_over_the_callback(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=8)
    post = Post()
    post.submit(sock)
    assert sock.demand() == 1 + 8
    sock.deliver(payloads(3))
    assert post.data == b"0"
    assert client.calls == [[b"1", b"2"]]
    assert sock.counts.completions == 1 and sock.counts.consumed == 2


def test_a_request_posted_while_datagrams_are_kept_takes_the_oldest_at_once(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=8, returns=STATUS_DATA_NOT_ACCEPTED)
    sock.deliver(payloads(2))
    post = Post()
    # Completed before WskReceiveFrom returned: it returns the completion's status
    # (PFN_WSK_RECEIVE_FROM), not STATUS_PENDING.
    assert post.submit(sock) == STATUS_SUCCESS
    assert post.data == b"0"
    assert sock.kept == 1 and sock.pool.in_use == 1
    client.returns = STATUS_SUCCESS
    client.enable()
    assert client.calls[-1] == [b"1"]


def test_an_unknown_return_status_is_a_caution_and_the_buffers_go_back(core: IndicationCore) -> None:
    """No page says what the provider does with a status its page does not list: the
    model warns (a caution, never a rule) and treats the list as accepted."""
    sock, client = event_socket(core, returns=0x12345)
    sock.deliver(payloads(2))
    assert sock.verifier.cautions == {"UnknownCallbackStatus": 1} and sock.verifier.total == 0
    assert sock.pool.in_use == 0 and sock.counts.consumed == 2 and sock.event_enabled
    client.returns = None
    sock.deliver(payloads(1))
    assert sock.verifier.cautions == {"UnknownCallbackStatus": 2} and not sock.verifier.counts


def test_close_gives_no_null_indication_and_counts_leaks(core: IndicationCore) -> None:
    """The NULL indication means a socket that no longer works (PFN_WSK_RECEIVE_FROM_EVENT),
    not an orderly close; retained lists must be released before WskCloseSocket
    (PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST), so those still held are leaks."""
    sock, client = event_socket(core, returns=STATUS_PENDING)
    sock.deliver(payloads(2))
    sock.deliver(payloads(1, 2))
    sock.release(client.heads[1])
    assert sock.close() == STATUS_SUCCESS
    assert None not in client.calls
    assert sock.counts.leaked == 2 and sock.counts.held == 0
    assert sock.verifier.counts == {"IndicationLeaked": 1}
    with pytest.raises(SocketClosed):
        sock.release(client.heads[0])
    assert sock.pool.in_use == 2  # leaked buffers never come back


def test_a_failed_socket_gives_one_null_indication_and_released_lists_are_not_leaks(
    core: IndicationCore
) -> None:
    held: list = []

    def keep(ind):  # type: ignore[no-untyped-def]
        if ind is not None:
            held.append(ind)
        return STATUS_PENDING

    sock, client = event_socket(core, returns=keep)
    sock.deliver(payloads(2))
    sock.fail()
    sock.fail()
    assert client.calls.count(None) == 1 and sock.counts.null_indications == 1
    while held:  # what the driver does on the NULL indication: release, then close
        sock.release(held.pop())
    sock.close()
    assert sock.counts.leaked == 0 and sock.counts.released == 2 and sock.verifier.total == 0


def test_close_discards_kept_datagrams(core: IndicationCore) -> None:
    sock, client = event_socket(core, returns=STATUS_DATA_NOT_ACCEPTED)
    sock.deliver(payloads(3))
    sock.close()
    assert sock.counts.discarded == 3 and sock.pool.in_use == 0 and sock.verifier.total == 0
    assert [i.state for i in chain(client.heads[0])] == [IndicationState.RETURNED] * 3


def test_no_null_indication_when_the_callback_was_never_enabled(core: IndicationCore) -> None:
    sock = WskDatagramSocket(indications=core)
    sock.bind(("127.0.0.1", 9))
    client = EventClient(sock)
    sock.close()
    assert client.calls == []


def test_failure_gives_one_null_indication_and_stops_demand(core: IndicationCore) -> None:
    sock, client = event_socket(core)
    sock.fail()
    assert client.calls == [None] and sock.demand() == 0
    sock.close()
    assert client.calls == [None]


def test_an_exhausted_pool_stops_demand_until_a_release(core: IndicationCore) -> None:
    woken: list[int] = []
    sock, client = event_socket(core, pool=4, returns=STATUS_PENDING)
    sock.ready_callback = lambda: woken.append(sock.demand())
    sock.deliver(payloads(4))
    assert sock.pool.exhausted and sock.demand() == 0 and sock.pool.high_water == 4
    a, b, c, d = chain(client.heads[0])
    b.next = None
    sock.release(a)
    assert woken == [2] and sock.demand() == 2


def test_datagrams_beyond_the_pool_wait_and_go_out_on_release(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=2, returns=STATUS_PENDING)
    sock.deliver(payloads(3))  # a provider that read more than demand()
    assert client.calls == [[b"0", b"1"]]
    assert sock.demand() == 0
    sock.release(client.heads[0])  # the waiting datagram is indicated before this returns
    assert client.calls[1] == [b"2"] and sock.pool.high_water == 2


def test_re_enabling_wakes_the_provider(core: IndicationCore) -> None:
    woken: list[bool] = []
    sock, client = event_socket(core, returns=STATUS_DATA_NOT_ACCEPTED)
    sock.ready_callback = lambda: woken.append(True)
    sock.deliver(payloads(1))
    client.returns = STATUS_SUCCESS
    client.enable()
    assert woken == [True]


def test_releasing_an_older_list_from_inside_a_callback(core: IndicationCore) -> None:
    lists: list = []

    def release_previous(ind):  # type: ignore[no-untyped-def]
        if lists:
            sock.release(lists.pop())
        lists.append(ind)
        return STATUS_PENDING

    sock, _ = event_socket(core, pool=4, returns=release_previous)
    for i in range(5):
        sock.deliver(payloads(2, 2 * i))
    assert sock.counts.released == 8 and sock.counts.held == 2 and sock.verifier.total == 0


def test_a_callback_that_raises_gives_the_buffers_back(core: IndicationCore) -> None:
    def boom(_ind):  # type: ignore[no-untyped-def]
        raise RuntimeError("driver bug")

    sock, _ = event_socket(core, pool=4, returns=boom)
    with pytest.raises(RuntimeError):
        sock.deliver(payloads(2))
    assert sock.pool.in_use == 0 and sock.counts.consumed == 2


def test_release_takes_the_injected_lock(core: IndicationCore) -> None:
    class CountingLock:
        def __init__(self) -> None:
            self.entered = 0

        def __enter__(self) -> None:
            self.entered += 1

        def __exit__(self, *exc: object) -> None:
            return None

    lock = CountingLock()
    sock = WskDatagramSocket(indications=core, lock=lock)
    sock.bind(("127.0.0.1", 9))
    client = EventClient(sock, STATUS_PENDING)
    client.enable()
    sock.deliver(payloads(1))
    before = lock.entered
    sock.release(client.heads[0])
    assert lock.entered == before + 1


def test_accounting_adds_up_to_what_was_received(core: IndicationCore) -> None:
    sock, client = event_socket(core, pool=16, returns=STATUS_PENDING)
    post = Post()
    post.submit(sock)
    sock.deliver(payloads(4))
    client.returns = STATUS_DATA_NOT_ACCEPTED
    sock.deliver(payloads(2, 4))
    acct = sock.accounting()
    assert sum(acct.values()) == sock.counts.received == 6
    assert acct["completions"] == 1 and acct["held"] == 3 and acct["kept"] == 2
    assert sock.in_flight == 5
