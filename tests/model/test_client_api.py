"""The client API facade (wskrecv.client) and the host's verifier locations, without a
network: a model socket fed datagrams by hand."""

from __future__ import annotations

import sys

import pytest

import wskrecv.client as api
from wskrecv.client import (
    STATUS_INVALID_PARAMETER,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    WSK_BUF,
    IoAllocateIrp,
    IoReuseIrp,
    IoSetCompletionRoutine,
    WskReceiveFrom,
    indications,
)
from wskrecv.hosting.blame import ClientCode
from wskrecv.wsk import Datagram, Verifier, WskDatagramSocket
from wskrecv.wsk.indication import make_chain
from wskrecv.wsk.verifier import IrpAlreadyPending

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")


def located_socket() -> WskDatagramSocket:
    sock = WskDatagramSocket(verifier=Verifier())
    sock.bind(("127.0.0.1", 9))
    sock.verifier.locate = ClientCode(__file__).locate
    return sock


def here() -> int:
    """The caller's line."""
    return sys._getframe(1).f_lineno


def test_every_exported_name_exists() -> None:
    assert [n for n in api.__all__ if not hasattr(api, n)] == []
    assert len(set(api.__all__)) == len(api.__all__)


def test_a_rule_broken_at_a_call_fails_the_call_and_names_the_line() -> None:
    sock = located_socket()
    irp = IoAllocateIrp()
    IoSetCompletionRoutine(irp, lambda d, i, c: STATUS_MORE_PROCESSING_REQUIRED)
    buf = WSK_BUF(bytearray(8))
    assert WskReceiveFrom(sock, buf, 0, None, None, None, None, irp) == STATUS_PENDING
    status = WskReceiveFrom(sock, buf, 0, None, None, None, None, irp); line = here()  # noqa: E702
    assert status == STATUS_INVALID_PARAMETER
    assert sock.verifier.counts == {"IrpAlreadyPending": 1}
    assert dict(sock.verifier.sites) == {("IrpAlreadyPending", f"{__file__}:{line}"): 1}
    assert sock.outstanding == 1  # the failed call changed nothing


def test_a_void_routine_counts_the_break_and_returns() -> None:
    sock = located_socket()
    irp = IoAllocateIrp()
    IoSetCompletionRoutine(irp, lambda d, i, c: STATUS_MORE_PROCESSING_REQUIRED)
    WskReceiveFrom(sock, WSK_BUF(bytearray(8)), 0, None, None, None, None, irp)
    IoReuseIrp(irp, STATUS_SUCCESS)  # still pending
    assert sock.verifier.counts == {"IrpReusedWhilePending": 1}


def test_a_break_inside_a_routine_the_call_ran_propagates_as_the_clients_own() -> None:
    sock = located_socket()
    sock.deliver([Datagram(b"queued", ("127.0.0.1", 1))])  # waits for a receive
    first, second = IoAllocateIrp(), IoAllocateIrp()
    buf = WSK_BUF(bytearray(8))

    def routine(_device: object, _irp: object, _ctx: object) -> int:
        IoSetCompletionRoutine(second, lambda d, i, c: STATUS_MORE_PROCESSING_REQUIRED)
        sock.receive_from(buf, 0, None, None, None, None, second)
        sock.receive_from(buf, 0, None, None, None, None, second)  # raises: the client's bug
        return STATUS_MORE_PROCESSING_REQUIRED

    IoSetCompletionRoutine(first, routine)
    with pytest.raises(IrpAlreadyPending):
        WskReceiveFrom(sock, buf, 0, None, None, None, None, first)


def test_a_bad_return_value_is_blamed_on_the_routines_definition() -> None:
    sock = located_socket()
    irp = IoAllocateIrp()

    def routine(_device: object, _irp: object, _ctx: object) -> int:
        return STATUS_SUCCESS  # the I/O manager would free the IRP

    IoSetCompletionRoutine(irp, routine)
    WskReceiveFrom(sock, WSK_BUF(bytearray(8)), 0, None, None, None, None, irp)
    sock.deliver([Datagram(b"x", ("127.0.0.1", 1))])
    line = routine.__code__.co_firstlineno
    assert dict(sock.verifier.sites) == {("BadCompletionReturn", f"{__file__}:{line}"): 1}


def test_indications_reads_next_first_so_the_body_may_cut_the_list() -> None:
    sock = located_socket()
    inds = make_chain([Datagram(bytes([i]), ("127.0.0.1", 1)) for i in range(4)], sock.source)
    seen = []
    for ind in indications(inds[0]):
        ind.next = None  # cut after every element
        seen.append(ind.data)
    assert seen == [b"\0", b"\1", b"\2", b"\3"]
    assert list(indications(None)) == []


def test_client_code_is_the_clients_folder_not_wskrecv_or_python() -> None:
    code = ClientCode(__file__)
    assert code.owns(__file__)
    assert not code.owns(api.__file__)
    assert not code.owns(pytest.__file__)


def test_an_invoke_flag_false_is_the_rule_at_the_wsk_call() -> None:
    """"Using IRPs with Winsock Kernel Functions": TRUE for all three Invoke flags, else
    IrpWithoutCompletionRoutine, at the WSK call that takes the IRP (the call fails, the
    IRP stays the client's); setting the routine is no error in itself."""
    sock = located_socket()
    irp = IoAllocateIrp()
    IoSetCompletionRoutine(irp, lambda d, i, c: 0, None, True, True, False)
    status = WskReceiveFrom(sock, WSK_BUF(bytearray(8)), 0, None, None, None, None, irp)
    line = here() - 1
    assert status == STATUS_INVALID_PARAMETER and irp.state.value == "idle"
    assert dict(sock.verifier.sites) == {("IrpWithoutCompletionRoutine", f"{__file__}:{line}"): 1}


def test_the_wdk_member_names_are_the_same_attributes() -> None:
    """Irp->IoStatus.Status/.Information, WSK_BUF.Mdl/.Offset/.Length, DataIndication->Next
    /.Buffer/.RemoteAddress/.ControlInfo/.ControlInfoLength: one object, two names."""
    irp = IoAllocateIrp()
    irp.IoStatus.Status = 5
    assert irp.io_status is irp.IoStatus and irp.io_status.status == 5
    irp.io_status.information = 7
    assert irp.IoStatus.Information == 7
    buf = WSK_BUF(bytearray(8), 2, 4)
    assert (buf.Mdl, buf.Offset, buf.Length) == (buf.mdl, 2, 4)
    sock = located_socket()
    inds = make_chain([Datagram(b"ab", ("127.0.0.1", 1)), Datagram(b"c", ("127.0.0.1", 2))],
                      sock.source)
    ind = inds[0]
    assert ind.Next is ind.next is inds[1]
    assert ind.Buffer.Length == 2 and ind.RemoteAddress.port == 1
    assert ind.ControlInfo is None and ind.ControlInfoLength == 0


def test_a_sockets_dispatch_is_the_client_api() -> None:
    """Socket->Dispatch->WskReceiveFrom(...) ports line for line: the same functions."""
    sock = located_socket()
    dispatch = sock.Dispatch
    assert dispatch.WskReceiveFrom is api.WskReceiveFrom
    assert dispatch.WskRelease is api.WskRelease
    assert dispatch.WskControlSocket is api.WskControlSocket
    assert dispatch.WskCloseSocket is api.WskCloseSocket


def test_an_argument_of_the_wrong_kind_is_the_clients_type_error() -> None:
    sock = located_socket()
    irp = IoAllocateIrp()
    IoSetCompletionRoutine(irp, lambda d, i, c: STATUS_MORE_PROCESSING_REQUIRED)
    with pytest.raises(TypeError, match="WskReceiveFrom: Buffer must be WskBuf, not bytearray"):
        WskReceiveFrom(sock, bytearray(8), 0, None, None, None, None, irp)


def test_an_exception_inside_the_model_is_a_wskrecv_bug() -> None:
    """A fault injected into the model (its request queue broken): the call raises
    WskrecvBug, not the client's fault, a BaseException a client's `except Exception`
    does not swallow; the verifier charges nothing."""
    from wskrecv.wsk.verifier import WskrecvBug

    sock = located_socket()
    sock._requests = None  # type: ignore[assignment]  # the injected fault
    irp = IoAllocateIrp()
    IoSetCompletionRoutine(irp, lambda d, i, c: STATUS_MORE_PROCESSING_REQUIRED)
    with pytest.raises(WskrecvBug, match="WskReceiveFrom: AttributeError") as info:
        try:
            WskReceiveFrom(sock, WSK_BUF(bytearray(8)), 0, None, None, None, None, irp)
        except Exception:  # noqa: BLE001 - a client's catch-all does not hide it
            pytest.fail("a client's except Exception caught the bug")
    assert "a wskrecv bug: please report" in str(info.value)
    assert isinstance(info.value.__cause__, AttributeError)
    assert sock.verifier.total == 0
