"""Clients written from Microsoft's pages, run by `wskrecv run` on real loopback traffic
(in this process: tests/harness.py; both cores): Microsoft's two page examples receive
every datagram with no violation, and each hostile client gets the verdict Windows would
give it: the exact rule at the exact line and exit status, no crash, no false blame."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_no_ipv6
from tests.harness import Result, receive, send_to

# The verdicts depend on the indication lists the cores build: both cores, each.
pytestmark = pytest.mark.usefixtures("receive_core")

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
HEADER = """from wskrecv.client import *


def enable_callback(socket):
    return WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                            WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))
"""


def client(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "client.py"
    path.write_text(HEADER + textwrap.dedent(source))
    return path


def line(path: Path, marker: str) -> str:
    """`path:N` of the one line holding `marker`."""
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1) if marker in text]
    assert len(hits) == 1, (marker, hits)
    return f"{path}:{hits[0]}"


def run(path: Path, n: int = 5, *args: str) -> Result:
    return receive("run", str(path), "--count", str(n), "--timeout", "20", *args,
                   send=[b"%d" % i for i in range(n)])


def sites(result: Result) -> dict[str, dict[str, Any]]:
    return {site["rule"]: site for site in result.summary["client"]["violation_sites"]}


# -- Microsoft's page examples ---------------------------------------------------------------


@pytest.mark.parametrize("example", ["page_irp.py", "page_event.py"])
def test_the_pages_examples_receive_every_datagram_with_no_violation(example: str) -> None:
    result = run(EXAMPLES / example, 50)
    s = result.summary
    assert result.status == 0, result.stderr
    assert s["received"] == 50 and s["violations"] == 0 and s["cautions"] == 0
    assert s["leaked"] == 0 and s["client"]["fault"] is None and s["client"]["violation_sites"] == []


# -- legal input the model used to refuse or crash on ---------------------------------------


def test_a_null_mdl_with_length_zero_receives_and_is_no_fault(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def start(self, socket):
                self.socket = socket
                self.irp = IoAllocateIrp(1, False)
                self.post()

            def post(self):
                IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
                WskReceiveFrom(self.socket, WSK_BUF(None, 0, 0), 0, None, None, None, None, self.irp)

            def done(self, device, irp, context):
                if irp.IoStatus.Status == STATUS_SUCCESS:
                    assert irp.IoStatus.Information == 0
                    IoReuseIrp(irp, STATUS_SUCCESS)
                    self.post()
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                WskCloseSocket(self.socket)
                IoFreeIrp(self.irp)
        """)
    result = run(path)
    assert result.status == 0, result.stderr
    assert result.summary["received"] == 5 and result.summary["violations"] == 0


def test_wskioctl_ignores_level_and_no_control_info_is_null(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            dispatch = None

            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.event)

            def start(self, socket):
                self.socket = socket
                status = WskControlSocket(socket, WskIoctl, SIO_TIMESTAMPING, 0, TIMESTAMPING_CONFIG())
                assert status == STATUS_SUCCESS, hex(status)
                enable_callback(socket)

            def event(self, context, flags, indication):
                while indication is not None:
                    assert indication.ControlInfoLength > 0 and indication.ControlInfo is not None
                    indication = indication.Next
                return STATUS_SUCCESS

            def stop(self):
                WskCloseSocket(self.socket)
        """)
    result = run(path)
    assert result.status == 0, result.stderr
    assert result.summary["received"] == 5


@skip_no_ipv6
def test_ip_pktinfo_on_a_dual_stack_socket_gives_ipv4_info(tmp_path: Path) -> None:
    """msquic's kernel datapath sets IP_PKTINFO on its AF_INET6 socket (a failure is fatal
    to it): accepted, and an IPv4 datagram's PacketInfo is an IPv4 one."""
    path = client(tmp_path, """
        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.event)

            def start(self, socket):
                self.socket = socket
                for level, option in ((IPPROTO_IPV6, IPV6_PKTINFO), (IPPROTO_IP, IP_PKTINFO)):
                    status = WskControlSocket(socket, WskSetOption, option, level, 1)
                    assert NT_SUCCESS(status), hex(status)
                enable_callback(socket)

            def event(self, context, flags, indication):
                while indication is not None:
                    (info,) = indication.ControlInfo
                    assert (info.family, info.address) == (AF_INET, "127.0.0.1"), info
                    indication = indication.Next
                return STATUS_SUCCESS

            def stop(self):
                WskCloseSocket(self.socket)
        """)
    result = receive("run", str(path), "--count", "3", "--timeout", "20", bind="::",
                     then=lambda r: send_to(("127.0.0.1", r.address[1]), [b"a", b"b", b"c"]))
    assert result.status == 0, result.stderr
    assert result.summary["received"] == 3


# -- rules: the exact rule, line and exit status ---------------------------------------------


def test_repost_whatever_the_status_is_socket_closed_not_a_recursion(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def start(self, socket):
                self.socket = socket
                self.buffer = WSK_BUF(bytearray(2048), 0, 2048)
                self.irp = IoAllocateIrp(1, False)
                self.post()

            def post(self):
                IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
                WskReceiveFrom(self.socket, self.buffer, 0, None, None, None, None, self.irp)  # REPOST

            def done(self, device, irp, context):
                IoReuseIrp(irp, STATUS_SUCCESS)
                self.post()  # whatever the status: the porting bug
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                WskCloseSocket(self.socket)
                IoFreeIrp(self.irp)
        """)
    result = run(path)
    assert result.status == 7, result.stderr
    assert result.summary["violations_by_rule"] == {"SocketClosed": 1}
    assert sites(result)["SocketClosed"]["where"] == line(path, "# REPOST")
    assert result.summary["client"]["fault"] is None and "RecursionError" not in result.stderr


def test_static_callbacks_from_the_client_file_and_a_refused_control_irp(tmp_path: Path) -> None:
    """The attach hook gets the provider NPI before the socket exists
    (WskControlClient: static callbacks); SO_WSK_EVENT_CALLBACK with an IRP on the static
    callback is the rule, and its IRP completes with the failure: freeing it is legal."""
    path = client(tmp_path, """
        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.event)
                self.statuses = []

            def attach(self, npi):
                status = npi.Dispatch.WskControlClient(
                    npi.Client, WSK_SET_STATIC_EVENT_CALLBACKS,
                    WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))
                assert status == STATUS_SUCCESS, hex(status)

            def start(self, socket):
                self.socket = socket
                self.irp = IoAllocateIrp(1, False)
                IoSetCompletionRoutine(self.irp, self.done, None, True, True, True)
                control = WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE)
                op = SO_WSK_EVENT_CALLBACK
                status = WskControlSocket(socket, WskSetOption, op, SOL_SOCKET, control, self.irp)  # STATIC
                assert status == STATUS_INVALID_PARAMETER

            def done(self, device, irp, context):
                self.statuses.append(irp.IoStatus.Status)
                return STATUS_MORE_PROCESSING_REQUIRED

            def event(self, context, flags, indication):
                return STATUS_SUCCESS

            def stop(self):
                assert self.statuses == [STATUS_INVALID_PARAMETER], self.statuses
                IoFreeIrp(self.irp)
                WskCloseSocket(self.socket)
        """)
    result = run(path)
    assert result.status == 7, result.stderr
    assert result.summary["received"] == 5  # the static callback took them
    assert result.summary["violations_by_rule"] == {"StaticEventCallback": 1}
    assert sites(result)["StaticEventCallback"]["where"] == line(path, "# STATIC")


def test_an_invoke_flag_false_is_irp_without_completion_routine(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def start(self, socket):
                self.socket = socket
                self.irp = IoAllocateIrp(1, False)
                IoSetCompletionRoutine(self.irp, self.done, None, True, True, False)
                WskReceiveFrom(socket, WSK_BUF(bytearray(64)), 0, None, None, None, None, self.irp)  # CALL

            def done(self, device, irp, context):
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                IoFreeIrp(self.irp)
        """)
    result = run(path, 1, "--duration", "0.5")
    assert result.status == 7, result.stderr
    assert result.summary["violations_by_rule"] == {"IrpWithoutCompletionRoutine": 1}
    assert sites(result)["IrpWithoutCompletionRoutine"]["where"] == line(path, "# CALL")


def test_irp_rules_stack_size_cancel_bit_and_cancel_after_free(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def start(self, socket):
                self.socket = socket
                spare = IoAllocateIrp(0, False)  # NO STACK
                IoFreeIrp(spare)
                idle = IoAllocateIrp(1, False)
                assert IoCancelIrp(idle) is False and idle.Cancel  # the bit, in every case
                IoFreeIrp(idle)
                IoCancelIrp(idle)  # AFTER FREE

            def stop(self):
                pass
        """)
    result = run(path, 1, "--duration", "0.5")
    assert result.status == 7, result.stderr
    assert result.summary["violations_by_rule"] == {"IrpWithoutStackLocation": 1,
                                                    "IrpUsedAfterFree": 1}
    assert sites(result)["IrpWithoutStackLocation"]["where"] == line(path, "# NO STACK")
    assert sites(result)["IrpUsedAfterFree"]["where"] == line(path, "# AFTER FREE")


def test_calls_after_a_close_inside_the_callback_are_socket_closed(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.event)
                self.closed = False

            def start(self, socket):
                self.socket = socket
                enable_callback(socket)

            def event(self, context, flags, indication):
                if not self.closed:
                    self.closed = True
                    WskCloseSocket(self.socket)
                    WskRelease(self.socket, indication)  # AFTER CLOSE
                return STATUS_SUCCESS

            def stop(self):
                pass
        """)
    result = run(path, 1, "--duration", "1")
    assert result.status == 7, result.stderr
    assert result.summary["violations_by_rule"] == {"SocketClosed": 1}
    assert sites(result)["SocketClosed"]["where"] == line(path, "# AFTER CLOSE")


def test_releasing_inside_the_callback_then_returning_success(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.event)

            def start(self, socket):
                self.socket = socket
                enable_callback(socket)

            def event(self, context, flags, indication):  # THE CALLBACK
                if indication is not None:
                    WskRelease(self.socket, indication)
                return STATUS_SUCCESS

            def stop(self):
                WskCloseSocket(self.socket)
        """)
    result = run(path)
    assert result.status == 7, result.stderr
    assert result.summary["received"] == 5
    assert set(result.summary["violations_by_rule"]) == {"ReleasedThenReturned"}
    assert sites(result)["ReleasedThenReturned"]["where"] == line(path, "# THE CALLBACK")


def test_a_kept_mdl_buffer_read_after_the_release_is_use_after_release(tmp_path: Path) -> None:
    """The Buffer's MDL is the provider's memory: a view of it kept past STATUS_SUCCESS and
    read later (here in the stop hook) fails there: UseAfterRelease at that line, and the
    exception out of the hook a client fault."""
    path = client(tmp_path, """
        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.event)
                self.kept = None

            def start(self, socket):
                self.socket = socket
                enable_callback(socket)

            def event(self, context, flags, indication):
                self.kept = MmGetSystemAddressForMdlSafe(indication.Buffer.Mdl)
                assert bytes(self.kept) == b"0"  # readable while the list is the client's
                return STATUS_SUCCESS

            def stop(self):
                WskCloseSocket(self.socket)
                self.kept[0]  # STALE READ
        """)
    result = run(path, 1)
    assert result.status == 6, result.stderr  # the read failed in the client's stop hook
    assert result.summary["violations_by_rule"] == {"UseAfterRelease": 1}
    assert sites(result)["UseAfterRelease"]["where"] == line(path, "# STALE READ")
    assert result.summary["client"]["fault"]["in"] == "stop hook"


def test_waiting_in_a_passive_level_callback_is_the_rule(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.event)
                self.event_object = KEVENT()

            def start(self, socket):
                self.socket = socket
                enable_callback(socket)

            def event(self, context, flags, indication):
                try:
                    KeWaitForSingleObject(self.event_object, Executive, KernelMode, False, 5.0)  # WAIT
                except WskApiViolation:
                    pass
                return STATUS_SUCCESS

            def stop(self):
                WskCloseSocket(self.socket)
        """)
    result = run(path, 1)
    assert result.status == 7, result.stderr
    assert set(result.summary["violations_by_rule"]) == {"WaitInCallback"}
    assert sites(result)["WaitInCallback"]["where"] == line(path, "# WAIT")


# -- cautions: counted apart, never the exit status -----------------------------------------


def test_cautions_are_shown_apart_and_do_not_fail_the_run(tmp_path: Path) -> None:
    path = client(tmp_path, """
        class Client:
            def start(self, socket):
                self.socket = socket
                self.buffer = WSK_BUF(bytearray(2048), 0, 2048)
                self.irps = [IoAllocateIrp(1, False) for _ in range(2)]
                for irp in self.irps:
                    self.post(irp)

            def post(self, irp):
                IoSetCompletionRoutine(irp, self.done, None, True, True, True)
                WskReceiveFrom(self.socket, self.buffer, 0, None, None, None, None, irp)  # SHARED

            def done(self, device, irp, context):
                if irp.IoStatus.Status == STATUS_SUCCESS:
                    IoReuseIrp(irp, STATUS_SUCCESS)
                    self.post(irp)
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                WskCloseSocket(self.socket)
                for irp in self.irps:
                    IoFreeIrp(irp)
        """)
    result = run(path)
    s = result.summary
    assert result.status == 0, result.stderr
    assert s["violations"] == 0 and s["cautions"] >= 1
    assert set(s["cautions_by_rule"]) == {"RequestBufferInUse"}
    site = sites(result)["RequestBufferInUse"]
    assert site["kind"] == "caution" and site["where"] == line(path, "# SHARED")


# -- wskrecv's own fault is never the client's -------------------------------------------------


def test_an_exception_inside_the_model_is_a_wskrecv_bug_not_a_client_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault injected into the model (completing a request breaks): exit 1, the error
    says it is a wskrecv bug with its traceback, and the client is charged with nothing
    (no fault, no violation, no leak), though its IRP was left pending by the fault."""
    from wskrecv.wsk import socket as socket_module

    monkeypatch.setattr(socket_module, "io_complete_request", None)  # the injected fault
    result = run(EXAMPLES / "page_irp.py", 3)
    assert result.status == 1, result.stderr
    assert "a wskrecv bug: please report it" in result.stderr and "Traceback" in result.stderr
    s = result.summary
    assert s["violations"] == 0 and s["client"]["fault"] is None
    assert s["client"]["violation_sites"] == []
