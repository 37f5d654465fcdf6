"""IRP-side rules from the WSK pages (issue 14): IoReuseIrp and the completion routine,
WskReceiveFrom's return value, a failed socket, WskCloseSocket's IRP, MDL chains and how
long a request's buffers belong to it. Each names the page it follows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.model.helpers import Post, bound_socket, dgram, payloads
from wskrecv.wsk import (
    MSG_BCAST,
    MSG_MCAST,
    MSG_TRUNC,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    Mdl,
    WskBuf,
    io_allocate_irp,
    io_reuse_irp,
    io_set_completion_routine,
)
from wskrecv.wsk._state import IrpState
from wskrecv.wsk.verifier import IrpWithoutCompletionRoutine

# -- "Using IRPs with Winsock Kernel Functions", IoReuseIrp ------------------------------

def test_io_reuse_irp_clears_the_completion_routine() -> None:
    irp = io_allocate_irp()
    io_set_completion_routine(irp, lambda *_: STATUS_MORE_PROCESSING_REQUIRED, "ctx")
    io_reuse_irp(irp)
    assert irp.completion_routine is None and irp.context is None


def test_submitting_after_reuse_without_setting_the_routine_is_a_violation() -> None:
    sock = bound_socket()
    post = Post()
    post.submit(sock)
    sock.deliver([dgram()])
    io_reuse_irp(post.irp)
    post.routine = None  # the driver forgot IoSetCompletionRoutine after IoReuseIrp
    with pytest.raises(IrpWithoutCompletionRoutine):
        post.submit(sock)
    assert sock.verifier.counts == {"IrpWithoutCompletionRoutine": 1}
    assert post.irp.state is IrpState.IDLE and sock.outstanding == 0  # not taken


def test_a_fresh_irp_without_a_routine_is_a_violation() -> None:
    sock = bound_socket()
    post = Post()
    post.routine = None
    with pytest.raises(IrpWithoutCompletionRoutine):
        post.submit(sock)


@pytest.mark.parametrize("flags", [(False, True, True), (True, False, True), (True, True, False)])
def test_a_routine_not_invoked_on_every_outcome_is_a_violation(flags: tuple) -> None:
    sock = bound_socket()
    post = Post()
    post.routine = None
    io_set_completion_routine(post.irp, lambda *_: STATUS_MORE_PROCESSING_REQUIRED, None, *flags)
    with pytest.raises(IrpWithoutCompletionRoutine):
        post.submit(sock)


def test_setting_the_routine_after_every_reuse_reposts_cleanly() -> None:
    sock = bound_socket()
    seen: list[bytes] = []
    post = Post()

    def again(_dev: Any, irp: Any, _ctx: Any) -> int:
        seen.append(post.data if False else bytes(post.buf.data(irp.io_status.information)))
        io_reuse_irp(irp)
        post.submit(sock)  # sets the routine again, then WskReceiveFrom
        return STATUS_MORE_PROCESSING_REQUIRED

    post.routine = again
    post.submit(sock)
    sock.deliver(payloads(3))
    assert seen == [b"0", b"1", b"2"] and sock.verifier.total == 0


# -- PFN_WSK_RECEIVE_FROM: the return value ----------------------------------------------

def test_receive_from_returns_success_when_a_datagram_is_already_there() -> None:
    sock = bound_socket()
    sock.deliver([dgram(b"early")])  # nothing posted, no callback: the provider holds it
    post = Post()
    assert post.submit(sock) == STATUS_SUCCESS
    assert post.completions == [(STATUS_SUCCESS, 5)] and post.data == b"early"
    assert sock.outstanding == 0


def test_receive_from_returns_pending_when_nothing_is_there() -> None:
    sock = bound_socket()
    post = Post()
    assert post.submit(sock) == STATUS_PENDING and post.completions == []


def test_a_routine_reposting_on_a_full_queue_never_recurses() -> None:
    sock = bound_socket()
    sock.deliver(payloads(500))
    got: list[int] = []
    post = Post()

    def again(_dev: Any, irp: Any, _ctx: Any) -> int:
        got.append(irp.io_status.information)
        io_reuse_irp(irp)
        post.submit(sock)
        return STATUS_MORE_PROCESSING_REQUIRED

    post.routine = again
    assert post.submit(sock) == STATUS_SUCCESS
    assert len(got) == 500 and sock.outstanding == 1


# -- PFN_WSK_RECEIVE_FROM: a socket that no longer works ---------------------------------

def test_a_request_after_the_socket_failed_completes_with_file_forced_closed() -> None:
    sock = bound_socket()
    sock.fail()
    post = Post()
    assert post.submit(sock) == STATUS_FILE_FORCED_CLOSED
    assert post.completions == [(STATUS_FILE_FORCED_CLOSED, 0)]  # through the routine
    assert sock.outstanding == 0 and sock.counts.failures == 1


# -- PFN_WSK_CLOSE_SOCKET ----------------------------------------------------------------

def test_close_takes_an_irp_and_completes_it() -> None:
    sock = bound_socket()
    pending = Post()
    pending.submit(sock)
    close = Post()
    close.routine = close._done
    io_set_completion_routine(close.irp, close._done, None)
    assert sock.close(close.irp) == STATUS_SUCCESS
    assert pending.completions[0][0] == 0xC0000120  # STATUS_CANCELLED
    assert close.completions == [(STATUS_SUCCESS, 0)]


def test_close_with_an_irp_without_routine_is_a_violation() -> None:
    sock = bound_socket()
    with pytest.raises(IrpWithoutCompletionRoutine):
        sock.close(io_allocate_irp())


# -- WSK_BUF: MDL chains -----------------------------------------------------------------

def test_a_datagram_fills_an_mdl_chain_in_order() -> None:
    sock = bound_socket()
    header, payload = bytearray(4), bytearray(16)
    post = Post()
    post.buf = WskBuf(Mdl(header, Mdl(payload)))
    assert post.buf.length == 20
    post.submit(sock)
    sock.deliver([dgram(b"HDR!" + b"payload")])
    assert bytes(header) == b"HDR!" and bytes(payload[:7]) == b"payload"
    assert post.completions == [(STATUS_SUCCESS, 11)] and post.data == b"HDR!payload"
    assert not post.control_flags.value & MSG_TRUNC


def test_truncation_across_an_mdl_chain_starts_at_the_offset() -> None:
    sock = bound_socket()
    first, second, third = bytearray(4), bytearray(3), bytearray(10)
    post = Post()
    post.buf = WskBuf(Mdl(first, Mdl(second, Mdl(third))), offset=2, length=7)
    post.submit(sock)
    sock.deliver([dgram(b"abcdefghijkl")])
    assert bytes(first) == b"\0\0ab" and bytes(second) == b"cde" and bytes(third[:3]) == b"fg\0"
    assert post.completions == [(STATUS_SUCCESS, 7)] and post.data == b"abcdefg"
    assert post.control_flags.value & MSG_TRUNC


def test_an_offset_past_the_first_mdl_is_invalid() -> None:
    sock = bound_socket()
    post = Post()
    post.buf = WskBuf(Mdl(bytearray(4), Mdl(bytearray(8))), offset=6, length=2)
    assert post.submit(sock) == 0xC000000D  # STATUS_INVALID_PARAMETER


# -- PFN_WSK_RECEIVE_FROM remarks: a request's buffers are its own until it completes -----

def test_handing_a_pending_requests_buffer_to_another_is_a_caution() -> None:
    """The page wants the buffers valid until the IRP completes; it does not forbid two
    requests sharing them: a caution (counted apart), and the request goes ahead."""
    sock = bound_socket()
    a, b, c = Post(), Post(), Post()
    a.submit(sock)
    b.buf = a.buf
    assert b.submit(sock) == STATUS_PENDING
    c.control_flags = a.control_flags
    assert c.submit(sock) == STATUS_PENDING
    assert sock.verifier.cautions == {"RequestBufferInUse": 2} and sock.verifier.total == 0
    assert sock.outstanding == 3


def test_a_buffer_is_free_again_once_its_request_completed() -> None:
    sock = bound_socket()
    a, b = Post(), Post()
    a.submit(sock)
    sock.deliver([dgram()])
    b.buf, b.control_flags = a.buf, a.control_flags
    assert b.submit(sock) == STATUS_PENDING and sock.verifier.total == 0


# -- ControlFlags: MSG_BCAST / MSG_MCAST from the packet's destination -------------------

def test_control_flags_carry_broadcast_and_multicast() -> None:
    sock = bound_socket(("0.0.0.0", 5001))
    sock.broadcast_addresses = frozenset({"127.255.255.255"})
    posts = [Post() for _ in range(4)]
    for p in posts:
        p.submit(sock)
    sock.deliver([
        dgram(local=("127.255.255.255", 1)),
        dgram(local=("239.1.2.3", 1)),
        dgram(local=("127.0.0.1", 1)),
        dgram(local=("255.255.255.255", 1)),
    ])
    assert [p.control_flags.value for p in posts] == [MSG_BCAST, MSG_MCAST, 0, MSG_BCAST]


# -- IoAllocateIrp / IoFreeIrp: "the allocating driver must free the IRP" -----------------

def test_a_registration_counts_irps_from_allocation_to_free_with_their_sites() -> None:
    from wskrecv.client import IoAllocateIrp
    from wskrecv.wsk import Verifier, wsk_register
    from wskrecv.wsk.irp import io_free_irp

    sites = iter(["client.py:3", "client.py:4", "client.py:5"])
    untracked = IoAllocateIrp()  # before: not counted
    registration = wsk_register(Verifier(locate=lambda culprit: next(sites)))
    try:
        a, b, c = IoAllocateIrp(), IoAllocateIrp(), IoAllocateIrp()
        io_free_irp(b)
        io_free_irp(untracked)
        assert registration.irps.outstanding() == [(a, "client.py:3"), (c, "client.py:5")]
        assert a.state is IrpState.IDLE and b.state is IrpState.FREED
    finally:
        assert registration.deregister() == 2  # WskDeregister: the two never freed leak
    IoAllocateIrp()  # after: not counted
    assert registration.irps.outstanding() == []
    assert registration.verifier.counts == {"IrpLeaked": 2}
    assert [v.where for v in registration.verifier.first] == ["client.py:3", "client.py:5"]
