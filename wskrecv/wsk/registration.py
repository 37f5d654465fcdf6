"""WSK registration: WskRegister, WskCaptureProviderNPI, WskControlClient, WskSocket and
WskDeregister.

A driver registers as a WSK client, captures the provider NPI, and creates its sockets
through the provider dispatch. What the model needs to know of the client comes with its
registration: the verifier that counts its rule breaks, and the IRPs it allocates
(`IrpTracker`: IoAllocateIrp charges each to the registered client, as Driver Verifier's
Pool Tracking charges allocations to the driver that made them, and WskDeregister, the
driver's unload, reports those never freed as `IrpLeaked`). Which implementation builds
the sockets' indication lists (the pure-Python one or the compiled core's twin) is given
to WskSocket. The one client-level control the receive side needs is
WSK_SET_STATIC_EVENT_CALLBACKS (its page, learn.microsoft.com windows-hardware/drivers/
network): it enables event callbacks on every socket the client creates from then on; it
must come before any socket exists; callbacks enabled so can be neither disabled nor
re-enabled; and (PFN_WSK_RECEIVE_FROM_EVENT) STATUS_DATA_NOT_ACCEPTED does not disable
them.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from wskrecv.wsk.indication import (
    IndicationCore,
    WskClientDatagramDispatch,
    WskEventCallbackControl,
)
from wskrecv.wsk.irp import IrpTracker
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

if TYPE_CHECKING:
    from wskrecv.wsk.inject import Injector


class WskProviderNpi:
    """WSK_PROVIDER_NPI: the client object and the provider dispatch, as one object.

    `npi.Dispatch->WskControlClient(npi.Client, ...)` is `npi.control_client(...)`, and
    `npi.Dispatch->WskSocket(npi.Client, ...)` is `npi.socket(...)`."""

    # WSK_PROVIDER_NPI.Dispatch: WSK_PROVIDER_DISPATCH, whose WskControlClient is the client
    # API's; filled in by wskrecv.wsk.dispatch (which imports this module) as the package loads.
    Dispatch: ClassVar[Any] = None

    def __init__(self, verifier: Verifier, faults: Optional[Injector] = None) -> None:
        self.verifier = verifier
        self.faults = faults
        self.static_events = 0
        self.sockets_created = 0

    @property
    def Client(self) -> WskProviderNpi:
        """WSK_PROVIDER_NPI.Client: what WskControlClient takes first (this object)."""
        return self

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
        indications: Optional[IndicationCore] = None,
    ) -> WskDatagramSocket:
        """WskSocket for a datagram socket (the IRP's Information is the socket: here it
        is returned). The statically enabled callbacks come with it; `indications` builds
        its indication lists (None: the pure-Python twin)."""
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
            indications=indications,
            faults=self.faults,
        )


class WskRegistration:
    """WSK_REGISTRATION, filled by WskRegister (`wsk_register`): the client's verifier,
    the IRPs it allocated and has not freed (`irps`) and, when faults are injected into
    it, the injector (`faults`: its IoAllocateIrp calls and its sockets ask it)."""

    def __init__(self, verifier: Optional[Verifier] = None,
                 faults: Optional[Injector] = None) -> None:
        self.verifier = verifier if verifier is not None else Verifier()
        self.faults = faults
        if faults is not None:
            faults.watch(self.verifier)
        self.irps = IrpTracker(self.verifier, faults)
        self._npi: Optional[WskProviderNpi] = None
        self.registered = True

    def capture_provider_npi(self) -> WskProviderNpi:
        """WskCaptureProviderNPI: the provider is always there in the model."""
        if self._npi is None:
            self._npi = WskProviderNpi(self.verifier, self.faults)
        return self._npi

    def deregister(self, check: bool = True) -> int:
        """WskDeregister, the client's unload: IoAllocateIrp no longer charges it, and
        (`check`) every IRP it allocated and never freed is one `IrpLeaked`, blamed on its
        IoAllocateIrp call. Returns how many; once (later calls find none)."""
        _registered[:] = [ref for ref in _registered if ref() not in (self, None)]
        self.registered = False
        if not check:
            return 0
        leaks = self.irps.outstanding()
        self.irps.live.clear()
        for irp, where in leaks:
            self.verifier.record("IrpLeaked", f"never freed with IoFreeIrp; left {irp.state.value}",
                                 where=where)
        return len(leaks)


# The NMR's registrations, newest last: IoAllocateIrp takes no client, so its IRPs are
# charged to the newest client still registered (a process runs one). Weak references:
# a registration nobody holds any more (a test's) is no client.
_registered: list[weakref.ref[WskRegistration]] = []


def wsk_register(verifier: Optional[Verifier] = None,
                 faults: Optional[Injector] = None) -> WskRegistration:
    """WskRegister(WskClientNpi, &Registration): from now until WskDeregister, the IRPs
    IoAllocateIrp returns are this client's (and faults are injected into it, `faults`)."""
    registration = WskRegistration(verifier, faults)
    _registered.append(weakref.ref(registration))
    return registration


def registered_irps() -> Optional[IrpTracker]:
    """The IRP tracker of the client registered last (None: no client is registered)."""
    while _registered:
        registration = _registered[-1]()
        if registration is not None:
            return registration.irps
        _registered.pop()
    return None


__all__ = ["WskProviderNpi", "WskRegistration", "registered_irps", "wsk_register"]
