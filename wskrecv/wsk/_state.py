"""Every ownership transition of the WSK model lives here.

Everything that changes who owns an IRP or a datagram indication goes through one of the
two tables below; the rest of the model asks `irp_next` / `indication_next` and turns a
missing entry into the API violation the table names. Nothing else assigns an IRP's or an
indication's `.state`. (A socket's own lifecycle, `SocketState`, is linear and lives in
socket.py's methods.)
"""

from __future__ import annotations

from enum import Enum


class _FastEnum(Enum):
    """Members hash by identity (they are singletons) instead of Enum's Python-level
    hash of the name: the tables below are looked up for every request and list."""

    __hash__ = object.__hash__


class SocketState(_FastEnum):
    """A socket's lifecycle."""

    CREATED = "created"
    BOUND = "bound"
    CLOSING = "closing"  # WskCloseSocket is cancelling outstanding requests
    CLOSED = "closed"


class IrpState(_FastEnum):
    """Who owns an IRP: the application (IDLE, COMPLETED) or the provider (PENDING)."""

    IDLE = "idle"  # freshly allocated or reused: the application may submit it
    PENDING = "pending"  # submitted: the provider owns it until it completes
    COMPLETED = "completed"  # completion routine ran: must be reused before resubmitting
    FREED = "freed"  # IoFreeIrp: gone


class IrpEvent(_FastEnum):
    SUBMIT = "submit"
    COMPLETE = "complete"
    REUSE = "reuse"
    FREE = "free"


# (state, event) -> new state.  A pair that is missing is an API violation; the second
# table names which one.
IRP_TRANSITIONS: dict[tuple[IrpState, IrpEvent], IrpState] = {
    (IrpState.IDLE, IrpEvent.SUBMIT): IrpState.PENDING,
    (IrpState.PENDING, IrpEvent.COMPLETE): IrpState.COMPLETED,
    (IrpState.COMPLETED, IrpEvent.REUSE): IrpState.IDLE,
    (IrpState.IDLE, IrpEvent.REUSE): IrpState.IDLE,
    (IrpState.IDLE, IrpEvent.FREE): IrpState.FREED,
    (IrpState.COMPLETED, IrpEvent.FREE): IrpState.FREED,
}

IRP_VIOLATIONS: dict[tuple[IrpState, IrpEvent], str] = {
    (IrpState.PENDING, IrpEvent.SUBMIT): "IrpAlreadyPending",
    (IrpState.COMPLETED, IrpEvent.SUBMIT): "IrpNotReused",
    (IrpState.PENDING, IrpEvent.REUSE): "IrpReusedWhilePending",
    (IrpState.PENDING, IrpEvent.FREE): "IrpFreedWhilePending",
    (IrpState.FREED, IrpEvent.SUBMIT): "IrpUsedAfterFree",
    (IrpState.FREED, IrpEvent.REUSE): "IrpUsedAfterFree",
    (IrpState.FREED, IrpEvent.FREE): "IrpUsedAfterFree",
}


class IndicationState(_FastEnum):
    """Who owns a datagram indication: the provider, or the application after PENDING."""

    INDICATED = "indicated"  # inside the WskReceiveFromEvent call
    RETAINED = "retained"  # callback returned STATUS_PENDING: the application owns it
    KEPT = "kept"  # callback returned STATUS_DATA_NOT_ACCEPTED: the provider keeps it
    RELEASED = "released"  # back with the provider; its buffer is in the pool again


class IndicationEvent(_FastEnum):
    ACCEPT = "accept"  # callback returned STATUS_SUCCESS
    RETAIN = "retain"  # callback returned STATUS_PENDING
    REJECT = "reject"  # callback returned STATUS_DATA_NOT_ACCEPTED
    REINDICATE = "reindicate"  # the callback was re-enabled: kept datagrams go out again
    DRAIN = "drain"  # a WskReceiveFrom request took a kept datagram (IRPs come first)
    DISCARD = "discard"  # the socket closed while the provider still kept it
    RELEASE = "release"  # WskRelease
    ACCESS = "access"  # the application reads the indication's data


INDICATION_TRANSITIONS: dict[tuple[IndicationState, IndicationEvent], IndicationState] = {
    (IndicationState.INDICATED, IndicationEvent.ACCEPT): IndicationState.RELEASED,
    (IndicationState.INDICATED, IndicationEvent.RETAIN): IndicationState.RETAINED,
    # Rejected datagrams stay with the provider to be indicated again, first.
    (IndicationState.INDICATED, IndicationEvent.REJECT): IndicationState.KEPT,
    (IndicationState.KEPT, IndicationEvent.REINDICATE): IndicationState.INDICATED,
    (IndicationState.KEPT, IndicationEvent.DRAIN): IndicationState.RELEASED,
    (IndicationState.KEPT, IndicationEvent.DISCARD): IndicationState.RELEASED,
    (IndicationState.RETAINED, IndicationEvent.RELEASE): IndicationState.RELEASED,
    # WskRelease from inside the callback, of part of the list it is being handed: the
    # driver cut the list (Next = NULL) and gives back what it dropped or copied, and
    # returns STATUS_PENDING for the rest (msquic's old kernel datapath, ovpn-dco-win).
    (IndicationState.INDICATED, IndicationEvent.RELEASE): IndicationState.RELEASED,
    (IndicationState.INDICATED, IndicationEvent.ACCESS): IndicationState.INDICATED,
    (IndicationState.RETAINED, IndicationEvent.ACCESS): IndicationState.RETAINED,
}

INDICATION_VIOLATIONS: dict[tuple[IndicationState, IndicationEvent], str] = {
    (IndicationState.KEPT, IndicationEvent.RELEASE): "ReleaseNotHeld",
    (IndicationState.RELEASED, IndicationEvent.RELEASE): "ReleasedTwice",
    (IndicationState.RELEASED, IndicationEvent.ACCESS): "UseAfterRelease",
    (IndicationState.KEPT, IndicationEvent.ACCESS): "UseAfterReject",
}

# The states in which the application may read an indication's data, derived from the
# table so the hot path tests membership instead of looking the pair up. A tuple, not a
# set: `in` compares enum members by identity first, while hashing one runs Python code.
INDICATION_READABLE: tuple[IndicationState, ...] = tuple(
    state for (state, event) in INDICATION_TRANSITIONS if event is IndicationEvent.ACCESS
)


def irp_next(state: IrpState, event: IrpEvent) -> IrpState | str:
    """The IRP's next state, or the name of the rule the event breaks."""
    new = IRP_TRANSITIONS.get((state, event))
    if new is not None:
        return new
    return IRP_VIOLATIONS.get((state, event), "IrpBadTransition")


def indication_next(state: IndicationState, event: IndicationEvent) -> IndicationState | str:
    """The indication's next state, or the name of the rule the event breaks."""
    new = INDICATION_TRANSITIONS.get((state, event))
    if new is not None:
        return new
    return INDICATION_VIOLATIONS.get((state, event), "IndicationBadTransition")
