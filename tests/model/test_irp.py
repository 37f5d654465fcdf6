"""IRP-style WskReceiveFrom semantics, driven through the sans-I/O model."""

from __future__ import annotations

import pytest

from tests.model.helpers import Post, ask_for_control, bound_socket, dgram
from wskrecv.wsk import (
    MSG_CTRUNC,
    MSG_TRUNC,
    NTSTATUS,
    STATUS_CANCELLED,
    STATUS_FILE_FORCED_CLOSED,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
    PacketInfo,
    ReceiveTimestamp,
    WskBuf,
    WskDatagramSocket,
    io_cancel_irp,
    io_free_irp,
    io_reuse_irp,
    nt_success,
)
from wskrecv.wsk._state import IrpState
from wskrecv.wsk.verifier import (
    BadCompletionReturn,
    CallAfterSocketFailure,
    IrpAlreadyPending,
    IrpFreedWhilePending,
    IrpNotReused,
    IrpUsedAfterFree,
    SocketClosed,
)


def test_ntstatus_values_are_the_windows_ones() -> None:
    assert NTSTATUS.SUCCESS == 0
    assert NTSTATUS.PENDING == 0x103
    assert NTSTATUS.BUFFER_OVERFLOW == 0x80000005
    assert NTSTATUS.INVALID_PARAMETER == 0xC000000D
    assert NTSTATUS.MORE_PROCESSING_REQUIRED == 0xC0000016
    assert NTSTATUS.INSUFFICIENT_RESOURCES == 0xC000009A
    assert NTSTATUS.FILE_FORCED_CLOSED == 0xC00000B6
    assert NTSTATUS.CANCELLED == 0xC0000120
    assert NTSTATUS.DATA_NOT_ACCEPTED == 0xC000021B
    assert MSG_TRUNC == 0x0100 and MSG_CTRUNC == 0x0200
    assert nt_success(STATUS_PENDING) and not nt_success(STATUS_CANCELLED)


def test_receive_pends_until_a_datagram_arrives() -> None:
    sock = bound_socket()
    post = Post()
    assert post.submit(sock) == STATUS_PENDING
    assert post.completions == [] and post.irp.state is IrpState.PENDING
    assert sock.demand() == 1
    sock.deliver([dgram(b"hello", remote=("10.0.0.1", 1234))])
    assert post.completions == [(STATUS_SUCCESS, 5)]
    assert post.data == b"hello"
    assert (post.remote.host, post.remote.port) == ("10.0.0.1", 1234)
    assert post.control_flags.value == 0
    assert post.irp.state is IrpState.COMPLETED
    assert sock.demand() == 0


def test_no_receive_posted_means_no_demand() -> None:
    sock = bound_socket()
    assert sock.demand() == 0


def test_datagram_longer_than_length_is_truncated_with_msg_trunc() -> None:
    sock = bound_socket()
    post = Post(size=64)
    post.buf = WskBuf(post.buf.mdl, 4, 3)  # Offset 4, Length 3
    post.submit(sock)
    sock.deliver([dgram(b"abcdef")])
    assert post.completions == [(STATUS_SUCCESS, 3)]
    assert post.control_flags.value & MSG_TRUNC
    assert bytes(post.buf.mdl[:8]) == b"\0\0\0\0abc\0"


def test_zero_length_datagram_completes_with_zero_bytes() -> None:
    sock = bound_socket()
    post = Post()
    post.submit(sock)
    sock.deliver([dgram(b"")])
    assert post.completions == [(STATUS_SUCCESS, 0)]
    assert post.control_flags.value == 0


def test_nonzero_flags_fail_the_request_and_still_complete_the_irp() -> None:
    sock = bound_socket()
    post = Post()
    assert post.submit(sock, flags=1) == STATUS_INVALID_PARAMETER
    assert post.completions == [(STATUS_INVALID_PARAMETER, 0)]
    assert sock.outstanding == 0


def test_buffer_outside_its_mdl_is_invalid() -> None:
    sock = bound_socket()
    post = Post(size=8)
    post.buf = WskBuf(post.buf.mdl, 4, 8)
    assert post.submit(sock) == STATUS_INVALID_PARAMETER
    assert post.completions == [(STATUS_INVALID_PARAMETER, 0)]


def test_control_info_carries_pktinfo_and_timestamp() -> None:
    sock = bound_socket()
    ask_for_control(sock)
    post = Post(control=256)
    post.submit(sock)
    sock.deliver([dgram(b"x", local=("127.0.0.5", 1), ts=123)])
    assert post.control_info == [PacketInfo("127.0.0.5", 1), ReceiveTimestamp(123)]
    assert post.control_length.value == 24 + 24
    assert post.control_flags.value == 0


def test_ipv6_pktinfo_is_larger() -> None:
    sock = WskDatagramSocket()
    sock.bind(("::1", 5001, 0, 0))
    ask_for_control(sock)
    post = Post(control=256)
    post.submit(sock)
    sock.deliver([dgram(b"x", remote=("::1", 4000, 0, 0), local=("::1", 1), ts=5)])
    assert post.control_length.value == 40 + 24
    assert post.remote.family == 23


def test_control_that_does_not_fit_sets_msg_ctrunc() -> None:
    sock = bound_socket()
    ask_for_control(sock)
    post = Post(control=30)  # room for the PKTINFO message only
    post.submit(sock)
    sock.deliver([dgram(b"x", ts=1)])
    assert post.control_flags.value & MSG_CTRUNC
    assert post.control_info == [PacketInfo("127.0.0.1", 1)]
    assert post.control_length.value == 24


def test_completion_order_is_fifo_across_outstanding_irps() -> None:
    sock = bound_socket()
    log: list[str] = []
    posts = [Post(name=str(i)) for i in range(4)]
    for p in posts:
        p.log = log
        p.submit(sock)
    sock.deliver([dgram(bytes([i])) for i in range(3)])
    assert log == ["0", "1", "2"]
    assert [p.data for p in posts[:3]] == [b"\0", b"\1", b"\2"]
    assert sock.outstanding == 1


def test_reposting_from_the_completion_routine_goes_to_the_back() -> None:
    sock = bound_socket()
    order: list[str] = []
    a, b = Post(name="a"), Post(name="b")
    for p in (a, b):
        p.log = order

    def repost_a(_dev, irp, _ctx):  # type: ignore[no-untyped-def]
        order.append("a")
        io_reuse_irp(irp)
        a.submit(sock)
        return a.returns

    a.routine = repost_a
    a.submit(sock)
    b.submit(sock)
    sock.deliver([dgram(), dgram(), dgram()])
    assert order == ["a", "b", "a"]


def test_completion_routine_must_return_more_processing_required() -> None:
    sock = bound_socket()
    post = Post()
    post.returns = STATUS_SUCCESS
    post.submit(sock)
    sock.deliver([dgram()])
    assert sock.verifier.counts["BadCompletionReturn"] == 1
    assert isinstance(sock.verifier.first[0], BadCompletionReturn)


def test_submitting_a_pending_irp_is_a_violation() -> None:
    sock = bound_socket()
    post = Post()
    post.submit(sock)
    with pytest.raises(IrpAlreadyPending):
        post.submit(sock)
    assert sock.verifier.counts == {"IrpAlreadyPending": 1}
    assert sock.outstanding == 1  # the first request is untouched


def test_resubmitting_without_reuse_is_a_violation() -> None:
    sock = bound_socket()
    post = Post()
    post.submit(sock)
    sock.deliver([dgram()])
    with pytest.raises(IrpNotReused):
        post.submit(sock)
    io_reuse_irp(post.irp)
    assert post.submit(sock) == STATUS_PENDING
    assert sock.verifier.total == 1


def test_free_while_pending_and_use_after_free_are_violations() -> None:
    sock = bound_socket()
    post = Post()
    post.submit(sock)
    with pytest.raises(IrpFreedWhilePending):
        io_free_irp(post.irp)
    sock.deliver([dgram()])
    io_free_irp(post.irp)
    with pytest.raises(IrpUsedAfterFree):
        post.submit(sock)
    assert set(sock.verifier.counts) == {"IrpFreedWhilePending", "IrpUsedAfterFree"}


def test_close_cancels_every_outstanding_request_in_order() -> None:
    sock = bound_socket()
    log: list[str] = []
    posts = [Post(name=str(i)) for i in range(3)]
    for p in posts:
        p.log = log
        p.submit(sock)
    assert sock.close() == STATUS_SUCCESS
    assert log == ["0", "1", "2"]
    assert all(p.completions == [(STATUS_CANCELLED, 0)] for p in posts)
    assert sock.counts.cancellations == 3


def test_using_a_closed_socket_is_a_violation() -> None:
    sock = bound_socket()
    sock.close()
    post = Post()
    with pytest.raises(SocketClosed):
        post.submit(sock)
    with pytest.raises(SocketClosed):
        sock.close()
    assert sock.verifier.counts["SocketClosed"] == 2


def test_reposting_while_closing_is_socket_closed_instead_of_looping() -> None:
    """A routine that reposts whatever the status, while WskCloseSocket cancels: the
    repost is a call after WskCloseSocket was called (SocketClosed), refused with its IRP
    untouched, so the routine is not entered again."""
    sock = bound_socket()
    post = Post()
    statuses: list[int] = []
    refused: list[str] = []

    def repost(_dev, irp, _ctx):  # type: ignore[no-untyped-def]
        statuses.append(irp.io_status.status)
        io_reuse_irp(irp)
        try:
            post.submit(sock)
        except SocketClosed as exc:
            refused.append(exc.detail)
        return post.returns

    post.routine = repost
    post.submit(sock)
    sock.close()
    assert statuses == [STATUS_CANCELLED]
    assert refused == ["WskReceiveFrom after WskCloseSocket"]
    assert sock.verifier.counts == {"SocketClosed": 1} and post.irp.state is IrpState.IDLE


def test_reposting_after_the_socket_failed_is_the_rule_not_a_recursion() -> None:
    """The socket stops working; a routine that reposts whatever the status gets
    STATUS_FILE_FORCED_CLOSED once, then its repost is CallAfterSocketFailure (it must
    close the socket), refused with the IRP untouched: no RecursionError."""
    sock = bound_socket()
    post = Post()
    statuses: list[int] = []
    results: list[object] = []

    def repost(_dev, irp, _ctx):  # type: ignore[no-untyped-def]
        statuses.append(irp.io_status.status)
        io_reuse_irp(irp)
        try:
            results.append(post.submit(sock))
        except CallAfterSocketFailure:
            results.append("refused")
        return post.returns

    post.routine = repost
    post.submit(sock)
    sock.fail()
    assert statuses == [STATUS_FILE_FORCED_CLOSED] and results == ["refused"]
    assert sock.verifier.counts == {"CallAfterSocketFailure": 1}
    assert post.irp.state is IrpState.IDLE  # untouched by the refused call: still the client's


def test_the_first_request_after_a_failure_completes_with_file_forced_closed() -> None:
    """Nobody heard of the failure yet (no request was pending, no callback): the next
    request is how the client hears it; the one after is the rule."""
    sock = bound_socket()
    sock.fail()
    first, second = Post(), Post()
    assert first.submit(sock) == STATUS_FILE_FORCED_CLOSED
    assert first.completions == [(STATUS_FILE_FORCED_CLOSED, 0)]
    with pytest.raises(CallAfterSocketFailure):
        second.submit(sock)
    assert second.completions == [] and second.irp.state is IrpState.IDLE


def test_cancel_completes_a_pending_irp_with_status_cancelled() -> None:
    sock = bound_socket()
    a, b = Post(), Post()
    a.submit(sock)
    b.submit(sock)
    assert io_cancel_irp(a.irp) is True
    assert a.completions == [(STATUS_CANCELLED, 0)]
    sock.deliver([dgram(b"z")])
    assert b.data == b"z"  # the datagram went to the request still queued


def test_cancel_after_completion_is_a_no_op() -> None:
    sock = bound_socket()
    post = Post()
    post.submit(sock)
    sock.deliver([dgram()])
    assert io_cancel_irp(post.irp) is False
    assert post.completions == [(STATUS_SUCCESS, 1)]
    assert sock.verifier.total == 0


def test_cancel_of_an_irp_never_submitted_is_a_no_op() -> None:
    post = Post()
    assert io_cancel_irp(post.irp) is False
    assert post.completions == []


def test_cancel_from_inside_another_completion_routine() -> None:
    sock = bound_socket()
    a, b = Post(), Post()

    def cancel_b(_dev, irp, _ctx):  # type: ignore[no-untyped-def]
        a.completions.append((irp.io_status.status, irp.io_status.information))
        io_cancel_irp(b.irp)
        return a.returns

    a.routine = cancel_b
    a.submit(sock)
    b.submit(sock)
    sock.deliver([dgram(), dgram()])
    assert b.completions == [(STATUS_CANCELLED, 0)]
    assert sock.demand() == 0  # the second datagram waits with the provider
    assert sock.close() == STATUS_SUCCESS
    assert sock.counts.discarded == 1


def test_socket_failure_completes_outstanding_irps_with_the_failure() -> None:
    sock = bound_socket()
    post = Post()
    post.submit(sock)
    sock.fail(STATUS_FILE_FORCED_CLOSED)
    assert post.completions == [(STATUS_FILE_FORCED_CLOSED, 0)]
