"""WSK registration: WskRegister, WskCaptureProviderNPI, WskControlClient and WskSocket.

A driver registers as a WSK client, captures the provider NPI, and creates its sockets
through the provider dispatch. The one client-level control the receive side needs is
WSK_SET_STATIC_EVENT_CALLBACKS (its page, learn.microsoft.com windows-hardware/drivers/
network): it enables event callbacks on every socket the client creates from then on; it
must come before any socket exists; callbacks enabled so can be neither disabled nor
re-enabled; and (PFN_WSK_RECEIVE_FROM_EVENT) STATUS_DATA_NOT_ACCEPTED does not disable
them.
"""

from __future__ import annotations

from typing import Any, Optional

from wskrecv.wsk.indication import WskClientDatagramDispatch, WskEventCallbackControl
from wskrecv.wsk.pool import BufferPool
from wskrecv.wsk.socket import WskDatagramSocket
from wskrecv.wsk.status import (
    AF_INET,
    NTSTATUS,
    STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
    WSK_EVENT_RECEIVE_FROM,
    WSK_FLAG_DATAGRAM_SOCKET,
    WSK_SET_STATIC_EVENT_CALLBACKS,
)
from wskrecv.wsk.verifier import Verifier


class WskProviderNpi:
    """WSK_PROVIDER_NPI: the client object and the provider dispatch, as one object.

    `npi.Dispatch->WskControlClient(npi.Client, ...)` is `npi.control_client(...)`, and
    `npi.Dispatch->WskSocket(npi.Client, ...)` is `npi.socket(...)`."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.static_events = 0
        self.sockets_created = 0

    def control_client(self, control_code: int, input_buffer: Any) -> NTSTATUS:
        """WskControlClient; only WSK_SET_STATIC_EVENT_CALLBACKS (with a
        WskEventCallbackControl, no IRP) is modelled, else STATUS_INVALID_PARAMETER."""
        if control_code != WSK_SET_STATIC_EVENT_CALLBACKS:
            return STATUS_INVALID_PARAMETER
        if not isinstance(input_buffer, WskEventCallbackControl):
            return STATUS_INVALID_PARAMETER
        if self.sockets_created:
            raise self.verifier.record(
                "StaticCallbacksAfterSocket",
                f"WSK_SET_STATIC_EVENT_CALLBACKS after {self.sockets_created} socket(s) exist",
            )
        self.static_events |= input_buffer.event_mask & WSK_EVENT_RECEIVE_FROM
        return STATUS_SUCCESS

    def socket(
        self,
        family: int = AF_INET,
        flags: int = WSK_FLAG_DATAGRAM_SOCKET,
        socket_context: Any = None,
        dispatch: Optional[WskClientDatagramDispatch] = None,
        lock: Any = None,
        pool: Optional[BufferPool] = None,
        dispatch_level: bool = False,
    ) -> WskDatagramSocket:
        """WskSocket for a datagram socket (the IRP's Information is the socket: here it
        is returned). The statically enabled callbacks come with it."""
        if flags != WSK_FLAG_DATAGRAM_SOCKET:
            raise ValueError("the model has datagram sockets only (WSK_FLAG_DATAGRAM_SOCKET)")
        self.sockets_created += 1
        return WskDatagramSocket(
            family,
            verifier=self.verifier,
            lock=lock,
            pool=pool,
            dispatch=dispatch,
            socket_context=socket_context,
            static_events=self.static_events,
            dispatch_level=dispatch_level,
        )


class WskRegistration:
    """WSK_REGISTRATION, filled by WskRegister (`wsk_register`)."""

    def __init__(self, verifier: Optional[Verifier] = None) -> None:
        self.verifier = verifier if verifier is not None else Verifier()
        self._npi: Optional[WskProviderNpi] = None

    def capture_provider_npi(self) -> WskProviderNpi:
        """WskCaptureProviderNPI: the provider is always there in the model."""
        if self._npi is None:
            self._npi = WskProviderNpi(self.verifier)
        return self._npi


def wsk_register(verifier: Optional[Verifier] = None) -> WskRegistration:
    """WskRegister(WskClientNpi, &Registration)."""
    return WskRegistration(verifier)


__all__ = ["WskProviderNpi", "WskRegistration", "wsk_register"]
