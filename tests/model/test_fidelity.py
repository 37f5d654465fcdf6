"""The model against the pages, item by item (issue 22): legal input that used to crash or
be blamed, documented rules that were missed, and a failed call that changes nothing it
should not (its IRP completed with the status, or untouched: never left pending)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.model.helpers import EventClient, Post, bound_socket, dgram, event_socket, payloads
from wskrecv.wsk import (
    IP_PKTINFO,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPV6_PKTINFO,
    MSG_TRUNC,
    SIO_TIMESTAMPING,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_INVALID_PARAMETER,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_EVENT_DISABLE,
    WSK_EVENT_RECEIVE_FROM,
    WSK_SET_STATIC_EVENT_CALLBACKS,
    PacketInfo,
    TimestampingConfig,
    Verifier,
    WskBuf,
    WskDatagramSocket,
    WskEventCallbackControl,
    WskIoctl,
    WskSetOption,
    io_allocate_irp,
    io_cancel_irp,
    io_free_irp,
    io_set_completion_routine,
    ke_wait_for_single_object,
    wsk_register,
)
from wskrecv.wsk._state import IrpState
from wskrecv.wsk.indication import IndicationCore
from wskrecv.wsk.irp import IrpTracker
from wskrecv.wsk.status import AF_INET, AF_INET6
from wskrecv.wsk.verifier import (
    EventBeforeBind,
    IrpUsedAfterFree,
    SocketClosed,
    StaticEventCallback,
    UseAfterRelease,
    WaitInCallback,
)

# -- WSK_BUF -------------------------------------------------------------------------------


def test_a_null_mdl_with_length_zero_is_a_legal_buffer() -> None:
    """WSK_BUF: "If the Length member is zero, this pointer can be NULL". The datagram
    completes the request with nothing copied (MSG_TRUNC), no violation, nothing left."""
    sock = bound_socket()
    post = Post()
    post.buf = WskBuf(None, 0, 0)
    assert post.submit(sock) == STATUS_PENDING
    sock.deliver([dgram(b"hello")])
    assert post.completions == [(STATUS_SUCCESS, 0)]
    assert post.control_flags.value & int(MSG_TRUNC)
    assert bytes(post.buf.data(0)) == b"" and sock.verifier.total == 0
    assert post.irp.state is IrpState.COMPLETED


@pytest.mark.parametrize("mdl", [None, b"read-only bytes", 42])
def test_a_buffer_nothing_can_be_written_to_fails_the_request(mdl: Any) -> None:
    """A NULL Mdl with a Length, or memory the provider cannot write: the request completes
    with STATUS_INVALID_PARAMETER (not a Python error inside the model)."""
    sock = bound_socket()
    post = Post()
    post.buf = WskBuf(mdl, 0, 8)
    assert post.submit(sock) == STATUS_INVALID_PARAMETER
    assert post.completions == [(STATUS_INVALID_PARAMETER, 0)] and sock.outstanding == 0


# -- WskControlSocket ------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [WSK_EVENT_RECEIVE_FROM, WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE])
def test_a_refused_control_request_completes_its_irp(core: IndicationCore, mask: int) -> None:
    """SO_WSK_EVENT_CALLBACK with an IRP on a static callback: the rule, and the IRP
    completed with the failure ("the IRP will be completed with failure status"), not left
    pending (a later IoFreeIrp would be charged to the client)."""
    npi = wsk_register().capture_provider_npi()
    npi.control_client(WSK_SET_STATIC_EVENT_CALLBACKS, WskEventCallbackControl())
    sock = npi.socket(indications=core)
    sock.bind(("127.0.0.1", 9))
    EventClient(sock)
    done: list[int] = []
    irp = io_allocate_irp()
    io_set_completion_routine(
        irp, lambda _d, i, _c: done.append(i.io_status.status) or STATUS_MORE_PROCESSING_REQUIRED)
    with pytest.raises(StaticEventCallback):
        sock.control_socket(WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                            WskEventCallbackControl(mask), irp)
    assert done == [STATUS_INVALID_PARAMETER] and irp.state is IrpState.COMPLETED
    io_free_irp(irp)
    assert sock.verifier.counts == {"StaticEventCallback": 1}


def test_wskioctl_ignores_level() -> None:
    """PFN_WSK_CONTROL_SOCKET: "If the RequestType parameter is set to WskIoctl, the Level
    parameter is ignored"."""
    sock = bound_socket()
    assert sock.control_socket(WskIoctl, SIO_TIMESTAMPING, 0, TimestampingConfig()) == STATUS_SUCCESS
    assert sock.source.timestamps


def test_ip_pktinfo_on_a_dual_stack_socket_gives_ipv4_packet_info(core: IndicationCore) -> None:
    """msquic's kernel datapath sets IP_PKTINFO (IPPROTO_IP) beside IPV6_PKTINFO on its
    AF_INET6 socket and treats a failure as fatal: both are accepted, and each datagram's
    PacketInfo is of its own IP version (IN_PKTINFO for IPv4, IN6_PKTINFO for IPv6)."""
    sock = WskDatagramSocket(AF_INET6, indications=core)
    sock.bind(("::", 9, 0, 0))
    assert sock.control_socket(WskSetOption, IPV6_PKTINFO, IPPROTO_IPV6, 1) == STATUS_SUCCESS
    assert sock.control_socket(WskSetOption, IP_PKTINFO, IPPROTO_IP, 1) == STATUS_SUCCESS
    seen: list[Any] = []
    client = EventClient(sock, lambda ind: seen.extend(i.ControlInfo for i in _chain(ind)) or 0)
    client.enable()
    sock.deliver([dgram(b"4", ("::ffff:10.0.0.1", 5, 0, 0), ("::ffff:127.0.0.1", 1), None),
                  dgram(b"6", ("::1", 5, 0, 0), ("::1", 1), None)])
    assert seen == [[PacketInfo("127.0.0.1", 1, AF_INET)], [PacketInfo("::1", 1, AF_INET6)]]


def _chain(ind: Any) -> list[Any]:
    out = []
    while ind is not None:
        out.append(ind)
        ind = ind.Next
    return out


@pytest.mark.parametrize("mask", [WSK_EVENT_RECEIVE_FROM, WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE])
def test_enabling_or_disabling_before_bind_is_event_before_bind(core: IndicationCore, mask: int) -> None:
    """SO_WSK_EVENT_CALLBACK: "it must do so after the socket has been bound" (enable or
    disable)."""
    sock = WskDatagramSocket(indications=core)
    EventClient(sock)
    with pytest.raises(EventBeforeBind):
        sock.control_socket(WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                            WskEventCallbackControl(mask))


# -- IRPs ----------------------------------------------------------------------------------


def test_iocancelirp_sets_the_cancel_bit_whatever_the_state() -> None:
    """IoCancelIrp: "In either case, the IRP's cancel bit is set to TRUE"."""
    idle = io_allocate_irp()
    assert io_cancel_irp(idle) is False and idle.Cancel is True
    sock = bound_socket()
    done = Post()
    done.submit(sock)
    sock.deliver([dgram()])
    assert io_cancel_irp(done.irp) is False and done.irp.Cancel is True


def test_cancelling_a_freed_irp_is_a_use_after_free() -> None:
    verifier = Verifier()
    irp = io_allocate_irp(IrpTracker(verifier))
    io_free_irp(irp)
    with pytest.raises(IrpUsedAfterFree):
        io_cancel_irp(irp)
    assert verifier.counts == {"IrpUsedAfterFree": 1}


@pytest.mark.parametrize("stack_size", [0, -1])
def test_an_irp_without_a_stack_location_is_the_rule(stack_size: int) -> None:
    """"The WSK application must allocate the IRP with at least one I/O stack location"."""
    verifier = Verifier()
    irp = io_allocate_irp(IrpTracker(verifier), stack_size)
    assert irp.state is IrpState.IDLE  # returned all the same: the run goes on
    assert verifier.counts == {"IrpWithoutStackLocation": 1}


# -- WskCloseSocket ------------------------------------------------------------------------


def test_calls_after_a_close_made_inside_the_callback_are_socket_closed(core: IndicationCore) -> None:
    """Closing from inside the callback waits for it to return; anything the callback
    calls on the socket after its WskCloseSocket is a call after close."""
    seen: list[Any] = []

    def close_then_release(ind: Any) -> int:
        seen.append(sock.close())
        with pytest.raises(SocketClosed):
            sock.release(ind)
        with pytest.raises(SocketClosed):
            sock.control_socket(WskSetOption, IP_PKTINFO, IPPROTO_IP, 1)
        return STATUS_SUCCESS

    sock, _ = event_socket(core, returns=close_then_release)
    sock.deliver(payloads(2))
    assert seen == [STATUS_PENDING] and sock.closed
    assert sock.verifier.counts == {"SocketClosed": 2}


# -- indications ---------------------------------------------------------------------------


def test_the_mdl_buffer_kept_past_the_release_cannot_be_read(core: IndicationCore) -> None:
    """The Buffer's MDL describes the provider's memory: a view of it kept past
    STATUS_SUCCESS is released with the indication (the read fails instead of reading
    freed memory), and reading the MDL again is UseAfterRelease."""
    kept: list[Any] = []

    def keep(ind: Any) -> int:
        mdl = ind.Buffer.Mdl
        kept.append((mdl, mdl.buffer))
        assert bytes(kept[-1][1]) == b"0"
        return STATUS_SUCCESS

    sock, _ = event_socket(core, returns=keep)
    sock.deliver(payloads(1))
    mdl, view = kept[0]
    with pytest.raises(ValueError, match="released"):
        view[0]  # noqa: B018 - the read is the test
    with pytest.raises(UseAfterRelease):
        mdl.buffer  # noqa: B018
    assert sock.verifier.counts == {"UseAfterRelease": 1}


def test_a_retained_mdl_buffer_is_readable_until_wskrelease(core: IndicationCore) -> None:
    held: list[Any] = []
    sock, _ = event_socket(core, returns=lambda ind: held.append((ind, ind.Buffer.Mdl.buffer))
                           or STATUS_PENDING)
    sock.deliver(payloads(1))
    ind, view = held[0]
    assert bytes(view) == b"0"
    assert sock.release(ind) == STATUS_SUCCESS
    with pytest.raises(ValueError, match="released"):
        bytes(view)


# -- waiting in a callback -------------------------------------------------------------------


def test_waiting_in_a_passive_level_callback_is_the_rule(core: IndicationCore) -> None:
    """PFN_WSK_RECEIVE_FROM_EVENT: the callback "must not wait for completion of other WSK
    requests ... even when the callback is called at IRQL = PASSIVE_LEVEL"; a poll (zero
    timeout) is no wait."""
    event = threading.Event()
    results: list[Any] = []

    def wait_inside(_ind: Any) -> int:
        results.append(ke_wait_for_single_object(event, 0))
        try:
            ke_wait_for_single_object(event, 1.0)
        except WaitInCallback:
            results.append("refused")
        return STATUS_SUCCESS

    sock, _ = event_socket(core, returns=wait_inside)
    sock.deliver(payloads(1))
    assert results == [False, "refused"] and sock.verifier.counts == {"WaitInCallback": 1}


def test_waiting_in_a_completion_routine_is_the_rule() -> None:
    sock = bound_socket()
    post = Post()
    refused: list[str] = []

    def wait(_d: Any, irp: Any, _c: Any) -> int:
        try:
            ke_wait_for_single_object(threading.Event(), 1.0)
        except WaitInCallback as exc:
            refused.append(exc.detail)
        return STATUS_MORE_PROCESSING_REQUIRED

    post.routine = wait
    post.submit(sock)
    sock.deliver([dgram()])
    assert refused == ["KeWaitForSingleObject inside a completion routine (PASSIVE_LEVEL)"]


def test_waiting_outside_any_callback_is_a_wait() -> None:
    event = threading.Event()
    event.set()
    assert ke_wait_for_single_object(event, 1.0) is True


# -- every rule has a source; the README's table says rule or caution ------------------------


def test_every_violation_class_cites_a_source_or_is_a_caution() -> None:
    from pathlib import Path

    from wskrecv.wsk import verifier

    classes = {cls.rule: cls for cls in vars(verifier).values()
               if isinstance(cls, type) and issubclass(cls, verifier.WskApiViolation)
               and cls is not verifier.WskApiViolation}
    assert classes == verifier.RULES  # every class is registered, under its own name
    for name, cls in classes.items():
        assert cls.kind in ("rule", "caution"), name
        assert cls.source, name
        # A caution is where the pages are silent; a rule never says so.
        assert cls.source.startswith("not documented") == (cls.kind == "caution"), name
    assert {"RequestBufferInUse", "UnknownCallbackStatus"} == verifier.CAUTIONS
    readme = (Path(verifier.__file__).parents[2] / "README.md").read_text()
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ")[1:]
            for line in readme.splitlines() if line.startswith("| `") and line.count(" | ") == 2}
    for name, cls in classes.items():
        assert rows.get(name) == [cls.kind, f"{cls.source} |"], name


def test_a_view_derived_from_the_mdl_buffer_reads_the_poison_once_released(
    core: IndicationCore
) -> None:
    """Python cannot revoke a view derived from the handed-out one (a slice,
    memoryview(view)): it reads the poison fill (0xDD, as Driver Verifier's Special Pool
    fills freed memory), never the datagram, once the indication went back."""
    kept: list[Any] = []
    sock, _ = event_socket(core, returns=lambda ind: kept.append(
        memoryview(ind.Buffer.Mdl.buffer)[0:]) or STATUS_SUCCESS)
    sock.deliver([dgram(b"secret")])
    assert bytes(kept[0]) == b"\xdd" * 6
