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


def test_invoke_flags_must_all_be_true() -> None:
    with pytest.raises(ValueError):
        IoSetCompletionRoutine(IoAllocateIrp(), lambda d, i, c: 0, None, True, True, False)


def test_the_built_in_applications_use_only_the_client_api() -> None:
    """listen's and event's applications are clients like any other: their WSK names come
    from wskrecv.client, and they call no socket method the API does not spell."""
    import ast
    from pathlib import Path

    builtin = Path(api.__file__).resolve().parent.parent / "builtin"
    paths = sorted(builtin.glob("*.py"))
    assert [p.name for p in paths if p.name in ("irp.py", "event.py")] == ["event.py", "irp.py"]
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("wskrecv.wsk"), (path.name, node.module)
            if isinstance(node, ast.Attribute) and node.attr in (
                "receive_from", "release", "control_socket", "close"
            ):
                assert not (isinstance(node.value, ast.Attribute) and node.value.attr == "sock"), (
                    path.name, node.attr, node.lineno)


def test_style_statistics_come_from_the_socket_counts_by_name() -> None:
    """One place copies the socket's counts into a style's statistics (from_socket)."""
    from wskrecv.stats.modes import ClientStatistics, EventStatistics, IrpStatistics

    sock = located_socket()
    counts = sock.statistics()
    irp = IrpStatistics.from_socket(counts, failures=2, last_failure="STATUS_CANCELLED")
    assert (irp.outstanding, irp.completions, irp.failures) == (0, 0, 2)
    event = EventStatistics.from_socket(counts, broadcast=3)
    assert event.pool_high_water == counts.pool_high_water and event.broadcast == 3
    client = ClientStatistics.from_socket(counts, client={"class": "C"})
    assert client.held == counts.held and client.client == {"class": "C"}
    with pytest.raises(TypeError, match="no field nonsense"):
        IrpStatistics.from_socket(counts, nonsense=1)
