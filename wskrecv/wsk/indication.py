"""WSK_DATAGRAM_INDICATION lists and the event-callback registration types.

An indication describes one datagram the provider holds in a pool buffer. The provider
links one list per batch read from the socket (`next`) and hands its head to the
application's WskReceiveFromEvent callback. Who owns each indication (provider or
application) changes only through `_state.INDICATION_TRANSITIONS`, applied here by
`transition_chain`; reading an indication's data checks the same table, so touching a
released (or rejected) indication is the named violation the table gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from wskrecv.wsk._state import (
    INDICATION_READABLE,
    IndicationEvent,
    IndicationState,
    indication_next,
)
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.status import WSK_EVENT_RECEIVE_FROM
from wskrecv.wsk.types import ControlMessage, SockAddr, WskBuf, build_control

if TYPE_CHECKING:
    from wskrecv.wsk.socket import WskDatagramSocket
    from wskrecv.wsk.verifier import Verifier

_INDICATED = IndicationState.INDICATED
_ACCESS = IndicationEvent.ACCESS
_CONTROL_ROOM = 1 << 16  # the provider always has room for the control data it built

# PFN_WSK_RECEIVE_FROM_EVENT: (socket_context, flags, indication or None) -> NTSTATUS.
ReceiveFromEvent = Callable[[Any, int, Optional["WskDatagramIndication"]], int]


@dataclass(frozen=True)
class WskClientDatagramDispatch:
    """WSK_CLIENT_DATAGRAM_DISPATCH: the event callbacks a datagram socket's client offers."""

    receive_from_event: Optional[ReceiveFromEvent] = None


@dataclass(frozen=True)
class WskEventCallbackControl:
    """WSK_EVENT_CALLBACK_CONTROL: the input of WskControlSocket(SO_WSK_EVENT_CALLBACK).

    `event_mask` is WSK_EVENT_RECEIVE_FROM to enable the callback, or
    WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE to disable it.
    """

    event_mask: int = WSK_EVENT_RECEIVE_FROM
    npi_id: str = "NPI_WSK_INTERFACE_ID"


class WskDatagramIndication:
    """WSK_DATAGRAM_INDICATION {Next, Buffer, ControlInfo, ControlInfoLength, RemoteAddress}.

    The WSK fields (`buffer`, `remote_address`, `control_info`, `control_info_length`) are
    built on access. `data`, `remote` and `timestamp_ns` are the same facts as plain
    attributes: what a driver gets from MmGetSystemAddressForMdlSafe(Buffer.Mdl) + Offset,
    from RemoteAddress, and from walking ControlInfo to SO_TIMESTAMP.

    The plain attributes exist only while the application may read the indication (the
    states `INDICATION_READABLE` derives from the table); `transition_chain` removes and
    restores them. Reading one in any other state lands in `__getattr__`, which raises the
    violation the table names, so legal reads on the hot path cost nothing extra.
    """

    __slots__ = ("next", "state", "data", "remote", "timestamp_ns", "_dgram", "_socket")

    def __init__(
        self,
        dgram: Datagram,
        socket: WskDatagramSocket,
        next: Optional[WskDatagramIndication] = None,  # noqa: A002 - WSK's field name
    ) -> None:
        self.next = next
        self.state = _INDICATED
        self._dgram = dgram
        self._socket = socket
        self.data, self.remote, _, self.timestamp_ns = dgram

    def __repr__(self) -> str:
        return f"<WskDatagramIndication {self.state.value} {len(self._dgram[0])} bytes>"

    def __getattr__(self, name: str) -> Any:
        # Only reached when a slot is empty: the indication is not readable now.
        if name in _GUARDED:
            rule = indication_next(self.state, _ACCESS)
            assert isinstance(rule, str)
            what = name.replace("_", " ")
            raise self._socket.verifier.record(
                rule, f"read the {what} of a {self.state.value} indication"
            )
        raise AttributeError(name)

    # -- the WSK fields ----------------------------------------------------------------

    @property
    def buffer(self) -> WskBuf:
        """Buffer: a WSK_BUF over the pool buffer holding the datagram (read-only)."""
        data = self.data
        return WskBuf(memoryview(data), 0, len(data))

    @property
    def remote_address(self) -> SockAddr:
        """RemoteAddress: the sender's SOCKADDR."""
        addr = SockAddr()
        addr.set(self.remote)
        return addr

    @property
    def control_info(self) -> list[ControlMessage]:
        """ControlInfo: the CMSGHDR list (IN_PKTINFO/IN6_PKTINFO, SO_TIMESTAMP)."""
        return self._control()[0]

    @property
    def control_info_length(self) -> int:
        """ControlInfoLength: bytes of ControlInfo."""
        return self._control()[1]

    def _control(self) -> tuple[list[ControlMessage], int, bool]:
        stamp = self.timestamp_ns  # raises the violation when not readable
        return build_control(self._dgram[2], self._socket.family, stamp, _CONTROL_ROOM)


_GUARDED = frozenset({"data", "remote", "timestamp_ns"})


def _show(ind: WskDatagramIndication) -> None:
    ind.data, ind.remote, _, ind.timestamp_ns = ind._dgram


def _hide(ind: WskDatagramIndication) -> None:
    del ind.data, ind.remote, ind.timestamp_ns


def _step(ind: WskDatagramIndication, new: IndicationState) -> None:
    """Move one indication to `new`, showing or hiding its readable fields."""
    was = ind.state in INDICATION_READABLE
    now = new in INDICATION_READABLE
    ind.state = new
    if was and not now:
        _hide(ind)
    elif now and not was:
        _show(ind)


def make_chain(dgrams: list[Datagram], socket: WskDatagramSocket) -> list[WskDatagramIndication]:
    """Build indications for `dgrams`, linked in order through `next`; returns them as a
    Python list too, so the provider never walks `next` (the application may rewrite it)."""
    inds: list[WskDatagramIndication] = []
    nxt: Optional[WskDatagramIndication] = None
    new = WskDatagramIndication
    for d in reversed(dgrams):
        nxt = new(d, socket, nxt)
        inds.append(nxt)
    inds.reverse()
    return inds


def relink(inds: list[WskDatagramIndication]) -> None:
    """Link `inds` in order again (a kept list may have been re-linked by the application)."""
    for a, b in zip(inds, inds[1:]):
        a.next = b
    if inds:
        inds[-1].next = None


def walk(head: Optional[WskDatagramIndication]) -> tuple[list[WskDatagramIndication], int]:
    """The indications reachable from `head` through `next`, and the position of the first
    that comes round again (-1 when the list ends properly)."""
    inds: list[WskDatagramIndication] = []
    seen: set[int] = set()
    ind = head
    while ind is not None:
        key = id(ind)
        if key in seen:
            return inds, len(inds)
        seen.add(key)
        inds.append(ind)
        ind = getattr(ind, "next", None)
    return inds, -1


def transition_chain(
    inds: list[WskDatagramIndication], event: IndicationEvent, verifier: Verifier, what: str
) -> None:
    """Apply `event` to every indication in `inds`, all or nothing.

    The table is consulted once when the indications share a state (the usual case: a
    whole list returned or released); otherwise once per indication. The first forbidden
    pair is counted and raised and no state changes.
    """
    if not inds:
        return
    state = inds[0].state
    for ind in inds:
        if ind.state is not state:
            break
    else:
        new = indication_next(state, event)
        if isinstance(new, str):
            raise verifier.record(new, f"{what} on a {state.value} indication")
        was = state in INDICATION_READABLE
        now = new in INDICATION_READABLE
        if was == now:
            for ind in inds:
                ind.state = new
        elif was:  # inlined _hide: this is every list's return to the provider
            for ind in inds:
                ind.state = new
                del ind.data, ind.remote, ind.timestamp_ns
        else:
            for ind in inds:
                ind.state = new
                _show(ind)
        return
    news: list[IndicationState] = []
    for ind in inds:
        step = indication_next(ind.state, event)
        if isinstance(step, str):
            raise verifier.record(step, f"{what} on a {ind.state.value} indication")
        news.append(step)
    for ind, step in zip(inds, news):
        _step(ind, step)


__all__ = [
    "ReceiveFromEvent",
    "WskClientDatagramDispatch",
    "WskDatagramIndication",
    "WskEventCallbackControl",
    "make_chain",
    "relink",
    "transition_chain",
    "walk",
]
