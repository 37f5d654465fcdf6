"""WSK_DATAGRAM_INDICATION lists and the event-callback registration types.

An indication describes one datagram the provider holds in a pool buffer. The provider
links one list per batch read from the socket (`next`) and hands its head to the
application's WskReceiveFromEvent callback. Who owns each indication (provider or
application) changes only through `_state.INDICATION_TRANSITIONS`, applied by
`_state.step_all`; reading an indication's data checks the same table, so touching a
released (or rejected) indication is the named violation the table gives.

What builds, settles and walks the lists is handed to the socket when it is created (an
`IndicationCore`): these pure-Python functions (`PURE`), or the compiled core's twins.

An indication knows where it came from through an `IndicationSource` (the socket's
verifier, address family and which control information the application enabled), never
through the socket itself: the socket owns its dispatcher, the dispatcher makes
indications, and nothing points back up.

WSK_DATAGRAM_INDICATION (wsk.h and its page): Buffer, ControlInfo and RemoteAddress are
the provider's memory. PFN_WSK_RECEIVE_FROM_EVENT: after STATUS_SUCCESS they are gone when
the callback returns; after STATUS_PENDING they stay valid until WskRelease
(PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST). The model's Buffer MDL and RemoteAddress check
that on every read: touching them later is `UseAfterRelease`, counted, not a Python error.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any, Callable, NamedTuple, Optional, Protocol

from wskrecv.wsk._state import (
    INDICATION_READABLE,
    IndicationEvent,
    IndicationState,
    Settle,
    begin_all,
    forbidden,
    settle,
)
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.status import AF_INET, AF_INET6, WSK_EVENT_RECEIVE_FROM
from wskrecv.wsk.types import ControlMessage, Mdl, SockAddr, WskBuf, alias, build_control
from wskrecv.wsk.verifier import Verifier

_INDICATED = IndicationState.INDICATED
_ACCESS = IndicationEvent.ACCESS
_CONTROL_ROOM = 1 << 16  # the provider always has room for the control data it built


class IndicationSource:
    """What an indication needs from the socket that indicated it: the verifier that
    counts misuse, the address family, and the control information the application
    enabled (IP_PKTINFO / IPV6_PKTINFO; receive timestamps with SIO_TIMESTAMPING).

    `views` are the MDL buffers handed out (read-only memoryviews of the provider's
    memory), each with its indication: released once the indication goes back (`revoke`),
    so reading one afterwards fails at the reader's line instead of reading freed memory
    (a view derived from it, which Python cannot revoke, reads the poison fill)."""

    __slots__ = ("verifier", "family", "pktinfo", "pktinfo_v4", "pktinfo_v6", "timestamps",
                 "views")

    def __init__(self, verifier: Verifier, family: int = AF_INET) -> None:
        self.verifier = verifier
        self.family = family
        self.pktinfo = False  # either of the two below
        self.pktinfo_v4 = False  # IP_PKTINFO: IN_PKTINFO for IPv4 datagrams
        self.pktinfo_v6 = False  # IPV6_PKTINFO: IN6_PKTINFO (on an AF_INET6 socket)
        self.timestamps = False
        self.views: list[tuple[WskDatagramIndication, memoryview]] = []

    def set_pktinfo(self, family: int, on: bool) -> None:
        """IP_PKTINFO (AF_INET) or IPV6_PKTINFO (AF_INET6) turned on or off."""
        if family == AF_INET:
            self.pktinfo_v4 = on
        else:
            self.pktinfo_v6 = on
        self.pktinfo = self.pktinfo_v4 or self.pktinfo_v6

    def packet_info(self, local: Optional[tuple[str, int]]) -> tuple[Optional[tuple[str, int]], int]:
        """(destination, family) for a datagram's IN_PKTINFO / IN6_PKTINFO, by what was
        asked for and the datagram's own IP version; (None, family) for none. On an
        AF_INET6 (dual-stack) socket an IPv4 datagram gets IN_PKTINFO after IP_PKTINFO,
        else, after IPV6_PKTINFO alone, IN6_PKTINFO with the v4-mapped address (the pages
        do not say: the model's choice, as Linux gives)."""
        if local is None or not self.pktinfo:
            return None, self.family
        if self.family == AF_INET:
            return (local if self.pktinfo_v4 else None), AF_INET
        address = local[0]
        if "." not in address:  # an IPv6 datagram
            return (local if self.pktinfo_v6 else None), AF_INET6
        plain = address[7:] if address.startswith("::ffff:") else address
        if self.pktinfo_v4:
            return (plain, local[1]), AF_INET
        return ("::ffff:" + plain, local[1]), AF_INET6

    def revoke(self) -> None:
        """Release the MDL buffers of indications that went back to the provider."""
        keep = []
        for ind, view in self.views:
            if ind.state in INDICATION_READABLE:
                keep.append((ind, view))
            else:
                _revoke(view)
        self.views = keep


POISON = 0xDD  # what freed memory reads as (Driver Verifier's Special Pool fills it too)


def _revoke(view: memoryview) -> None:
    """Release a handed-out view (reading it now fails), and fill the memory under it with
    the poison: a view the client derived from it (a slice, memoryview(view)), which
    Python cannot revoke, reads that instead of the datagram."""
    memory = view.obj
    try:
        view.release()
    except BufferError:  # exported by the buffer protocol: it stays, the poison still goes in
        pass
    if isinstance(memory, bytearray):
        memory[:] = bytes([POISON]) * len(memory)


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
    states `_state.INDICATION_READABLE` derives from the table); `_state.settle` removes
    them and `show` restores them. Reading one in any other state lands in `_unreadable`,
    which raises the violation the table names, so legal reads on the hot path cost
    nothing extra. The storage class sends a failed read there: PythonIndication as its
    `__getattr__`, the compiled storage from the getters of those fields. (A `__getattr__`
    on this class would put every read of every indication attribute, legal ones too,
    through CPython's hook: two type lookups a read, and no specialised LOAD_ATTR; on the
    native core, 6-8% of `event`'s instructions and 10-12% of `event --pend`'s.)

    This class is the API; an indication's fields (`next`, `state`, the readable ones,
    `_dgram`, `_source`) live in the storage class under it: `PythonIndication`'s
    __slots__ here, or the compiled core's `IndicationFields`, which owns them in C (its
    indication class is made in wskrecv.core). Either is a WskDatagramIndication.
    """

    __slots__ = ()

    def __init__(
        self,
        dgram: Datagram,
        source: IndicationSource,
        next: Optional[WskDatagramIndication] = None,  # noqa: A002 - WSK's field name
    ) -> None:
        self.next = next  # its state: make_chain starts the whole list (_state.begin_all)
        self._dgram = dgram
        self._source = source
        self.data, self.remote, _, self.timestamp_ns = dgram

    def __repr__(self) -> str:
        return f"<WskDatagramIndication {self.state.value} {len(self._dgram[0])} bytes>"

    def _unreadable(self, name: str) -> Any:
        """A read of attribute `name` that found nothing: a field the indication's state
        hides (the violation the table names), or no such attribute (AttributeError)."""
        if name in _GUARDED:
            what = name.replace("_", " ")
            raise forbidden(self.state, _ACCESS, self._source.verifier, f"read the {what}")
        raise AttributeError(name)

    # -- the WSK fields ----------------------------------------------------------------

    @property
    def buffer(self) -> WskBuf:
        """Buffer: a WSK_BUF over the pool buffer holding the datagram (read-only). Its MDL
        stays tied to the indication: reading it after WskRelease is `UseAfterRelease`."""
        data = self.data
        return WskBuf(_IndicationMdl(self), 0, len(data))

    @property
    def remote_address(self) -> SockAddr:
        """RemoteAddress: the sender's SOCKADDR, the provider's memory like the Buffer."""
        self.remote  # noqa: B018 - raises the violation when not readable
        return _IndicationSockAddr(self)

    @property
    def control_info(self) -> Optional[list[ControlMessage]]:
        """ControlInfo: the CMSGHDR list the application enabled (IN_PKTINFO/IN6_PKTINFO
        after IP_PKTINFO/IPV6_PKTINFO, SO_TIMESTAMP after SIO_TIMESTAMPING); None (NULL)
        when the datagram has none ("If there is no control information present for the
        received datagram, this member is NULL")."""
        return self._control()[0] or None

    @property
    def control_info_length(self) -> int:
        """ControlInfoLength: bytes of ControlInfo (0: none)."""
        return self._control()[1]

    def _control(self) -> tuple[list[ControlMessage], int, bool]:
        stamp = self.timestamp_ns  # raises the violation when not readable
        local, family = self._source.packet_info(self._dgram[2])
        return build_control(local, family, stamp, _CONTROL_ROOM)


class _IndicationMdl(Mdl):
    """The MDL of an indication's Buffer: the pool buffer, readable while the indication is."""

    __slots__ = ("_ind",)

    def __init__(self, ind: WskDatagramIndication) -> None:  # noqa: D107
        self.next = None
        self._ind = ind

    @property  # type: ignore[override]
    def buffer(self) -> Any:
        """The provider's memory (MmGetSystemAddressForMdlSafe): a read-only view,
        released when the indication goes back, so a read through it afterwards fails
        (UseAfterRelease) instead of reading freed memory."""
        ind = self._ind
        memory = bytearray(ind.data)  # raises the violation once released
        view = memoryview(memory).toreadonly()
        source = ind._source
        source.views.append((ind, view))
        if len(source.views) > 4096:  # a client that takes views and keeps none
            source.revoke()
        return view

    @property
    def byte_count(self) -> int:
        """MmGetMdlByteCount."""
        return len(self._ind.data)


class _IndicationSockAddr(SockAddr):
    """An indication's RemoteAddress: valid while the application owns the indication."""

    __slots__ = ("_ind",)

    def __init__(self, ind: WskDatagramIndication) -> None:  # noqa: D107
        self._ind = ind

    def _addr(self) -> SockAddr:
        addr = SockAddr()
        addr.set(self._ind.remote)  # raises the violation once released
        return addr

    family = property(lambda self: self._addr().family)  # type: ignore[assignment]
    host = property(lambda self: self._addr().host)  # type: ignore[assignment]
    port = property(lambda self: self._addr().port)  # type: ignore[assignment]
    flowinfo = property(lambda self: self._addr().flowinfo)  # type: ignore[assignment]
    scope_id = property(lambda self: self._addr().scope_id)  # type: ignore[assignment]
    sa_family = family  # SOCKADDR's own name for it (SockAddr's alias is the empty slot here)


_GUARDED = frozenset({"data", "remote", "timestamp_ns"})
FIELDS = ("next", "state", "data", "remote", "timestamp_ns", "_dgram", "_source")


class PythonIndication(WskDatagramIndication):
    """The pure-Python storage of an indication's fields (what make_chain builds); the
    compiled core's twin is `_core.IndicationFields`."""

    __slots__ = FIELDS

    # Only reached when a slot is empty: the indication is not readable now.
    __getattr__ = WskDatagramIndication._unreadable


# WSK_DATAGRAM_INDICATION's member names, as the same attributes: Next is the storage's
# `next` (a property over whichever storage; on the Python one the slot itself, so that
# reading it costs no call), the others the API's own properties.
WskDatagramIndication.Next = property(  # type: ignore[attr-defined]
    attrgetter("next"), lambda self, value: setattr(self, "next", value),
    doc="Next: the next indication of the list (None: the last); assignable (cut the list).")
alias(PythonIndication, Next="next")
alias(WskDatagramIndication, Buffer="buffer", RemoteAddress="remote_address",
      ControlInfo="control_info", ControlInfoLength="control_info_length")


def show(inds: list[WskDatagramIndication]) -> None:
    """Give indications their readable fields back (kept datagrams indicated again:
    `_state.INDICATION_SHOWS`)."""
    for ind in inds:
        ind.data, ind.remote, _, ind.timestamp_ns = ind._dgram
        if not ind._source.timestamps:
            ind.timestamp_ns = None


def make_chain(
    dgrams: list[Datagram], source: IndicationSource, *, cls: type[WskDatagramIndication] = PythonIndication
) -> list[WskDatagramIndication]:
    """Build indications of `cls` for `dgrams`, linked in order through `next`, each
    INDICATED (an indication is only ever built here, or by the compiled twin); returns
    them as a Python list too, so the provider never walks `next` (the application may
    rewrite it)."""
    inds: list[WskDatagramIndication] = []
    nxt: Optional[WskDatagramIndication] = None
    new = cls
    for d in reversed(dgrams):
        nxt = new(d, source, nxt)
        inds.append(nxt)
    inds.reverse()
    begin_all(inds, _INDICATED)
    if not source.timestamps:  # SO_TIMESTAMP only when SIO_TIMESTAMPING enabled it
        for ind in inds:
            ind.timestamp_ns = None
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


_source_of = attrgetter("_source")
_state_of = attrgetter("state")


def census(inds: list[Any], source: IndicationSource, state: Any) -> int:
    """WskRelease's look at a walked list, in C-level passes (a work item releases lists
    of 64 at a time): -1 unless every item is an indication of `source`; else how many
    of them are in `state` (released inside the callback, for INDICATED)."""
    if not all(map(isinstance, inds, repeat(WskDatagramIndication))):
        return -1
    try:
        if list(map(_source_of, inds)).count(source) != len(inds):
            return -1
    except AttributeError:  # one has no source
        return -1
    return list(map(_state_of, inds)).count(state)


_Walk = Callable[[Optional["WskDatagramIndication"]], tuple[list["WskDatagramIndication"], int]]
_Census = Callable[[list[Any], IndicationSource, Any], int]
_Chain = Callable[[list[Datagram], IndicationSource], list["WskDatagramIndication"]]


class IndicationCore(Protocol):
    """What builds, settles and walks a socket's indication lists: `chain(datagrams,
    source)` is make_chain, `settle(indications, row, hide)` is _state.settle, `walk(head)`
    is walk and `census(indications, source, state)` is census, or their compiled twins
    (wskrecv.core's Core is one)."""

    @property
    def chain(self) -> _Chain: ...

    @property
    def settle(self) -> Settle: ...

    @property
    def walk(self) -> _Walk: ...

    @property
    def census(self) -> _Census: ...


class Indications(NamedTuple):
    """An IndicationCore made of four functions."""

    chain: _Chain
    settle: Settle
    walk: _Walk
    census: _Census


PURE = Indications(make_chain, settle, walk, census)  # the specification


__all__ = [
    "PURE",
    "IndicationCore",
    "Indications",
    "IndicationSource",
    "PythonIndication",
    "ReceiveFromEvent",
    "WskClientDatagramDispatch",
    "WskDatagramIndication",
    "WskEventCallbackControl",
    "census",
    "make_chain",
    "relink",
    "show",
    "walk",
]
