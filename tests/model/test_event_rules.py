"""Event-side rules from the WSK pages (issue 14): disabling a running callback, closing
from inside it, callback Flags, static callbacks, control information on request and how
long an indication's memory is the application's. Each names the page it follows."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.model.helpers import EventClient, Post, chain, dgram, event_socket, payloads
from wskrecv.wsk import (
    MSG_BCAST,
    MSG_MCAST,
    STATUS_DATA_NOT_ACCEPTED,
    STATUS_EVENT_PENDING,
    STATUS_INVALID_PARAMETER,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_EVENT_RECEIVE_FROM,
    WSK_FLAG_AT_DISPATCH_LEVEL,
    WSK_SET_STATIC_EVENT_CALLBACKS,
    BufferPool,
    PacketInfo,
    ReceiveTimestamp,
    WskClientDatagramDispatch,
    WskEventCallbackControl,
    io_allocate_irp,
    io_set_completion_routine,
    ke_wait_for_single_object,
    wsk_register,
)
from wskrecv.wsk._state import IrpState
from wskrecv.wsk.indication import IndicationCore
from wskrecv.wsk.verifier import (
    StaticCallbacksAfterSocket,
    StaticEventCallback,
    UseAfterRelease,
    WaitAtDispatchLevel,
)

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

# -- SO_WSK_EVENT_CALLBACK: disabling while the callback runs ----------------------------

def test_disabling_from_inside_the_callback_returns_status_event_pending(core: IndicationCore) -> None:
    results: list[int] = []

    def disable_inside(_ind: Any) -> int:
        results.append(client.disable())
        results.append(int(sock.event_enabled))  # still on until the call returns
        return STATUS_SUCCESS

    sock, client = event_socket(core, returns=disable_inside)
    sock.deliver(payloads(2))
    assert results == [STATUS_EVENT_PENDING, 1]
    assert not sock.event_enabled and sock.demand() == 0
    assert sock.counts.consumed == 2 and sock.verifier.total == 0


def test_disabling_with_an_irp_inside_the_callback_pends_and_completes_it_afterwards(
    core: IndicationCore
) -> None:
    done: list[int] = []
    irp = io_allocate_irp()
    io_set_completion_routine(
        irp, lambda _d, i, _c: done.append(i.io_status.status) or STATUS_MORE_PROCESSING_REQUIRED
    )

    def disable_inside(_ind: Any) -> int:
        control = WskEventCallbackControl(WSK_EVENT_RECEIVE_FROM | 0x80000000)
        done.append(sock.control_socket(0, 0x4002, 0xFFFF, control, irp))
        assert len(done) == 1  # the IRP is not completed while the callback runs
        return STATUS_SUCCESS

    sock, _ = event_socket(core, returns=disable_inside)
    sock.deliver(payloads(1))
    assert done == [STATUS_PENDING, STATUS_SUCCESS] and not sock.event_enabled


def test_a_disable_waiting_with_an_irp_is_completed_when_the_callback_enables_again(
    core: IndicationCore
) -> None:
    """Disable (with an IRP) then enable, both inside one call: the callback stays on and
    the disable's IRP is completed, not left pending for ever."""
    done: list[int] = []
    irp = io_allocate_irp()
    io_set_completion_routine(
        irp, lambda _d, i, _c: done.append(i.io_status.status) or STATUS_MORE_PROCESSING_REQUIRED
    )

    def disable_then_enable(_ind: Any) -> int:
        if not done:  # the first call
            control = WskEventCallbackControl(WSK_EVENT_RECEIVE_FROM | 0x80000000)
            done.append(sock.control_socket(0, 0x4002, 0xFFFF, control, irp))
            done.append(client.enable())
        return STATUS_SUCCESS

    sock, client = event_socket(core, returns=disable_then_enable)
    sock.deliver(payloads(1))
    assert done == [STATUS_PENDING, STATUS_SUCCESS, STATUS_SUCCESS]
    assert irp.state is IrpState.COMPLETED and sock.event_enabled
    sock.deliver(payloads(1, 1))
    assert sock.counts.consumed == 2 and sock.verifier.total == 0


def test_disabling_when_no_callback_runs_is_immediate(core: IndicationCore) -> None:
    sock, client = event_socket(core)
    assert client.disable() == STATUS_SUCCESS and not sock.event_enabled


# -- PFN_WSK_CLOSE_SOCKET: in-progress callbacks return first ----------------------------

def test_close_from_inside_the_callback_pends_until_it_returns(core: IndicationCore) -> None:
    seen: list[Any] = []
    close = Post()
    io_set_completion_routine(close.irp, close._done, None)

    def close_inside(ind: Any) -> int:
        seen.append(sock.close(close.irp))
        seen.append(list(close.completions))  # not yet: the callback still runs
        seen.append(ind.data)  # the list is still the callback's to read
        return STATUS_SUCCESS

    sock, client = event_socket(core, returns=close_inside)
    sock.deliver(payloads(1))
    assert seen == [STATUS_PENDING, [], b"0"]
    assert close.completions == [(STATUS_SUCCESS, 0)] and sock.closed
    assert None not in client.calls and sock.verifier.total == 0


# -- PFN_WSK_RECEIVE_FROM_EVENT: Flags ---------------------------------------------------

def test_flags_carry_broadcast_and_multicast_per_list(core: IndicationCore) -> None:
    sock, client = event_socket(core)
    sock.broadcast_addresses = frozenset({"127.255.255.255"})
    sock.deliver([
        dgram(b"u1", local=("127.0.0.1", 1)),
        dgram(b"b1", local=("127.255.255.255", 1)),
        dgram(b"b2", local=("127.255.255.255", 1)),
        dgram(b"m1", local=("239.1.2.3", 1)),
        dgram(b"u2", local=("127.0.0.1", 1)),
    ])
    assert client.calls == [[b"u1"], [b"b1", b"b2"], [b"m1"], [b"u2"]]
    assert client.flags == [0, MSG_BCAST, MSG_MCAST, 0]
    assert sock.counts.callbacks == 4 and sock.counts.consumed == 5


def test_ipv6_multicast_and_v4_mapped_broadcast_are_flagged(core: IndicationCore) -> None:
    sock, client = event_socket(core)
    sock.deliver([dgram(b"m", local=("ff02::1", 1))])
    sock.deliver([dgram(b"b", local=("::ffff:255.255.255.255", 1))])
    assert client.flags == [MSG_MCAST, MSG_BCAST]


def test_dispatch_level_delivery_sets_the_flag() -> None:
    sock = wsk_register().capture_provider_npi().socket(dispatch_level=True)
    sock.bind(("127.0.0.1", 9))
    client = EventClient(sock)
    client.enable()
    sock.deliver(payloads(1))
    sock.fail()
    assert client.flags == [WSK_FLAG_AT_DISPATCH_LEVEL, WSK_FLAG_AT_DISPATCH_LEVEL]


def test_waiting_inside_a_dispatch_level_callback_is_a_violation() -> None:
    sock = wsk_register().capture_provider_npi().socket(dispatch_level=True)
    sock.bind(("127.0.0.1", 9))
    event = threading.Event()
    event.set()
    errors: list[Exception] = []

    def wait_inside(_ind: Any) -> int:
        assert ke_wait_for_single_object(event, 0) is True  # a poll is allowed
        try:
            ke_wait_for_single_object(event)
        except WaitAtDispatchLevel as exc:
            errors.append(exc)
        return STATUS_SUCCESS

    client = EventClient(sock, wait_inside)
    client.enable()
    sock.deliver(payloads(1))
    assert len(errors) == 1 and sock.verifier.counts == {"WaitAtDispatchLevel": 1}
    assert ke_wait_for_single_object(event) is True  # outside a callback: a wait


# -- WSK_SET_STATIC_EVENT_CALLBACKS ------------------------------------------------------

def _static_socket(core: IndicationCore, returns: Any) -> tuple[Any, EventClient]:
    npi = wsk_register().capture_provider_npi()
    control = WskEventCallbackControl(WSK_EVENT_RECEIVE_FROM)
    assert npi.control_client(WSK_SET_STATIC_EVENT_CALLBACKS, control) == STATUS_SUCCESS
    sock = npi.socket(indications=core, pool=BufferPool(8))
    sock.bind(("127.0.0.1", 9))
    return sock, EventClient(sock, returns)


def test_static_callbacks_are_on_without_so_wsk_event_callback(core: IndicationCore) -> None:
    sock, client = _static_socket(core, STATUS_SUCCESS)
    sock.deliver(payloads(2))
    assert client.calls == [[b"0", b"1"]] and sock.event_enabled


def test_under_static_callbacks_data_not_accepted_does_not_disable(core: IndicationCore) -> None:
    sock, client = _static_socket(core, STATUS_DATA_NOT_ACCEPTED)
    sock.deliver(payloads(2))
    assert sock.event_enabled and sock.kept == 0 and sock.demand() == 8
    client.returns = STATUS_SUCCESS
    sock.deliver(payloads(1, 2))
    assert client.calls == [[b"0", b"1"], [b"2"]]  # called for new datagrams
    s = sock.statistics()
    assert s.rejected == 1 and s.dropped == 2 and s.in_flight == 0 and sock.pool.in_use == 0


def test_static_callbacks_can_be_neither_disabled_nor_re_enabled(core: IndicationCore) -> None:
    sock, client = _static_socket(core, STATUS_SUCCESS)
    with pytest.raises(StaticEventCallback):
        client.disable()
    with pytest.raises(StaticEventCallback):
        client.enable()
    assert sock.event_enabled and sock.verifier.counts == {"StaticEventCallback": 2}


def test_static_callbacks_must_come_before_any_socket(core: IndicationCore) -> None:
    npi = wsk_register().capture_provider_npi()
    npi.socket(indications=core)
    with pytest.raises(StaticCallbacksAfterSocket):
        npi.control_client(WSK_SET_STATIC_EVENT_CALLBACKS, WskEventCallbackControl())
    assert npi.control_client(99, WskEventCallbackControl()) == STATUS_INVALID_PARAMETER


# -- control information only on request -------------------------------------------------

def test_without_asking_there_is_no_control_information(core: IndicationCore) -> None:
    seen: dict[str, Any] = {}

    def look(ind: Any) -> int:
        seen.update(info=ind.control_info, length=ind.control_info_length, ts=ind.timestamp_ns)
        return STATUS_SUCCESS

    sock, _ = event_socket(core, returns=look, control=False)
    sock.deliver([dgram(b"x", local=("127.0.0.9", 1), ts=77)])
    # "If there is no control information present ..., this member is NULL".
    assert seen == {"info": None, "length": 0, "ts": None}


def test_irp_control_information_only_after_asking(core: IndicationCore) -> None:
    sock, _ = event_socket(core, control=False)
    post = Post(control=256)
    post.submit(sock)
    sock.deliver([dgram(b"x", ts=5)])
    assert post.control_info == [] and post.control_length.value == 0


def test_timestamps_alone_after_sio_timestamping(core: IndicationCore) -> None:
    from tests.model.helpers import ask_for_control

    seen: list[Any] = []
    sock, _ = event_socket(core, returns=lambda ind: seen.append(ind.control_info), control=False)
    ask_for_control(sock, pktinfo=False, timestamps=True)
    sock.deliver([dgram(b"x", local=("127.0.0.9", 1), ts=1_500)])
    assert seen == [[ReceiveTimestamp(1_500)]]
    assert seen[0][0].counter == 1_500 and seen[0][0].ns == 1_500


def test_pktinfo_alone_after_ip_pktinfo(core: IndicationCore) -> None:
    from tests.model.helpers import ask_for_control

    seen: list[Any] = []
    sock, _ = event_socket(core, returns=lambda ind: seen.append((ind.control_info, ind.timestamp_ns)),
                           control=False)
    ask_for_control(sock, pktinfo=True, timestamps=False)
    sock.deliver([dgram(b"x", local=("127.0.0.9", 1), ts=1_500)])
    assert seen == [([PacketInfo("127.0.0.9", 1)], None)]


# -- WSK_DATAGRAM_INDICATION memory: the application's only while it owns the list ---------

def test_reading_a_kept_buffer_mdl_after_release_is_use_after_release(core: IndicationCore) -> None:
    kept: dict[str, Any] = {}

    def keep(ind: Any) -> int:
        kept["buf"] = ind.buffer
        kept["addr"] = ind.remote_address
        kept["buf_data"] = bytes(kept["buf"].data(kept["buf"].length))
        kept["port"] = kept["addr"].port
        return STATUS_SUCCESS  # the list (and its memory) goes back now

    sock, _ = event_socket(core, returns=keep)
    sock.deliver([dgram(b"hello", remote=("127.0.0.1", 4242))])
    assert kept["buf_data"] == b"hello" and kept["port"] == 4242
    with pytest.raises(UseAfterRelease):
        kept["buf"].data(5)
    with pytest.raises(UseAfterRelease):
        _ = kept["addr"].port
    assert sock.verifier.counts == {"UseAfterRelease": 2}


def test_retained_memory_is_readable_until_release(core: IndicationCore) -> None:
    sock, client = event_socket(core, returns=STATUS_PENDING)
    sock.deliver([dgram(b"held", remote=("127.0.0.1", 7))])
    head = client.heads[0]
    buf, addr = head.buffer, head.remote_address
    assert bytes(buf.data(4)) == b"held" and addr.port == 7
    sock.release(head)
    with pytest.raises(UseAfterRelease):
        _ = addr.host
    assert [i.state.value for i in chain(head)] == ["released"]


def test_a_socket_created_by_the_client_is_a_plain_datagram_socket(core: IndicationCore) -> None:
    npi = wsk_register().capture_provider_npi()
    sock = npi.socket(indications=core, dispatch=WskClientDatagramDispatch(None))
    sock.bind(("127.0.0.1", 9))
    assert not sock.event_enabled and sock.demand() == 0
