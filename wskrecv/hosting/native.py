"""The host's native completions for wskrecv's own IRP client (`wskrecv listen`).

With the native core, a request of listen's client (wskrecv.builtin.irp.IrpClient) that
is in the state that client leaves it in is completed by the compiled twin of the
model's receive-completion step running that client's completion routine
(csrc/completer.c, `_core.IrpCompleter`): the datagram copied, the SOCKADDR and
ControlFlags filled, the host's tap counting it, IoReuseIrp, IoSetCompletionRoutine and
WskReceiveFrom again, with the end states the Python code gives them. Every other
request, and every request of a `wskrecv run` client, runs the Python code (the
specification), which is also where each rule and caution is checked: the twin stops at
the first request that is not in that state. tests/model/test_completer_twins.py holds
the two together on random sequences of deliveries, cancellations, failures and stops.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Optional

from wskrecv.builtin.irp import IrpClient, ReceiveContext
from wskrecv.hosting.host import ClientHost, RecorderTap
from wskrecv.stats.recorder import Recorder
from wskrecv.wsk import WskDatagramSocket
from wskrecv.wsk._state import TRANSITIONS, IrpEvent, IrpState, SocketState
from wskrecv.wsk.irp import IoStatus, Irp
from wskrecv.wsk.status import AF_INET, AF_INET6, MSG_BCAST, MSG_MCAST, MSG_TRUNC, STATUS_SUCCESS
from wskrecv.wsk.types import SockAddr, ULongRef, WskBuf

Completer = Callable[[deque, deque], int]

# The cycle a steady request goes through: completed, reused, submitted again. The twin
# writes only where it ends, so the table must lead back to PENDING.
_CYCLE = ((IrpState.PENDING, IrpEvent.COMPLETE, IrpState.COMPLETED),
          (IrpState.COMPLETED, IrpEvent.REUSE, IrpState.IDLE),
          (IrpState.IDLE, IrpEvent.SUBMIT, IrpState.PENDING))


NATIVE = "native"
PYTHON = "Python"


def completions(completer_type: Optional[type], keeps_datagrams: bool = False) -> str:
    """Which code completes listen's steady requests with a core whose twin is
    `completer_type` (None: it has none): NATIVE or PYTHON (the start line says it).
    Datagrams kept for --dump/--pcap are the Python code's (the tap keeps them)."""
    if completer_type is None or keeps_datagrams:
        return PYTHON
    if any(TRANSITIONS.get((state, event)) is not new for state, event, new in _CYCLE):
        return PYTHON  # the table no longer leads back to PENDING: the twin does not apply
    return NATIVE


def native_completer(completer_type: Optional[type], sock: WskDatagramSocket,
                     host: Any) -> Optional[Completer]:
    """The twin for `host`'s client on `sock` (the socket's `completer`), or None: no
    compiled twin (`completer_type`, the core's), not listen's client, or tables that
    no longer give the steady cycle."""
    if completions(completer_type) != NATIVE or not isinstance(host, ClientHost) or not host.builtin:
        return None
    client = host.client
    if type(client) is not IrpClient or type(sock.tap) is not RecorderTap:
        return None
    assert completer_type is not None
    completer: Completer = completer_type(
        sock, client, IrpClient._on_receive_complete, Recorder.record,
        (Irp, IoStatus, ReceiveContext, WskBuf, SockAddr, ULongRef, RecorderTap),
        # STATUS_SUCCESS is what the routine hands IoReuseIrp: the status the IRP keeps.
        (SocketState.BOUND, IrpState.PENDING, STATUS_SUCCESS, AF_INET, AF_INET6,
         int(MSG_TRUNC), int(MSG_BCAST), int(MSG_MCAST)),
    )
    return completer


__all__ = ["NATIVE", "PYTHON", "Completer", "completions", "native_completer"]
