"""Every state of the WSK model and every transition between them lives here.

Four machines, each one table of (state, event) -> next state:

- a socket's lifecycle (`SocketState`: WskBind, WskCloseSocket and its end);
- an IRP's ownership (`IrpState`: the application's or the provider's);
- a datagram indication's ownership (`IndicationState`: indicated, retained, kept, back);
- a socket's receive event callback (`CallbackState`: off, on, paused, static...).

A pair missing from a table is forbidden: the second table of each machine names the API
rule it breaks, which the verifier counts and raises. `step` applies one event to one
object (the IRP, the socket, the callback), `step_all` applies one event to a whole
indication list, all or nothing, ending with `settle`, the bulk write (the compiled core
has a twin of it, handed the same table rows). Like h11's _state.py, this is the only
place that assigns `.state`: everything that moves the model from one state to another
comes through here (tests/model/test_state.py checks the sources).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Optional, Union

from wskrecv.wsk.verifier import RULES, Verifier, WskrecvBug


class _FastEnum(Enum):
    """Members hash by identity (they are singletons) instead of Enum's Python-level
    hash of the name: the tables below are looked up for every request and list."""

    __hash__ = object.__hash__


# -- the socket ---------------------------------------------------------------------------


class SocketState(_FastEnum):
    """A socket's lifecycle."""

    CREATED = "created"
    BOUND = "bound"
    CLOSING = "closing"  # WskCloseSocket is cancelling outstanding requests
    CLOSED = "closed"


class SocketEvent(_FastEnum):
    BIND = "WskBind"
    CALL = "call"  # any other WSK function on the socket: allowed or not, changes nothing
    CLOSE = "WskCloseSocket"
    CLOSED = "close done"  # WskCloseSocket finished (no callback runs any more)


SOCKET_TRANSITIONS: dict[tuple[SocketState, SocketEvent], SocketState] = {
    (SocketState.CREATED, SocketEvent.BIND): SocketState.BOUND,
    (SocketState.BOUND, SocketEvent.BIND): SocketState.BOUND,
    (SocketState.CREATED, SocketEvent.CALL): SocketState.CREATED,
    (SocketState.BOUND, SocketEvent.CALL): SocketState.BOUND,
    (SocketState.CREATED, SocketEvent.CLOSE): SocketState.CLOSING,
    (SocketState.BOUND, SocketEvent.CLOSE): SocketState.CLOSING,
    (SocketState.CLOSING, SocketEvent.CLOSED): SocketState.CLOSED,
}

# PFN_WSK_CLOSE_SOCKET: "After a WSK application has called WskCloseSocket, it should not
# make any further calls to any of the socket's functions": from the call on, not only
# once the close finished (a close waiting for a callback to return, or made inside it).
SOCKET_VIOLATIONS: dict[tuple[SocketState, SocketEvent], str] = {
    (s, e): "SocketClosed"
    for s in (SocketState.CLOSING, SocketState.CLOSED)
    for e in (SocketEvent.BIND, SocketEvent.CALL, SocketEvent.CLOSE)
}


# -- IRPs ---------------------------------------------------------------------------------


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
    CANCEL = "cancel"  # IoCancelIrp: sets the Cancel bit, in any state but freed


IRP_TRANSITIONS: dict[tuple[IrpState, IrpEvent], IrpState] = {
    (IrpState.IDLE, IrpEvent.SUBMIT): IrpState.PENDING,
    (IrpState.PENDING, IrpEvent.COMPLETE): IrpState.COMPLETED,
    (IrpState.COMPLETED, IrpEvent.REUSE): IrpState.IDLE,
    (IrpState.IDLE, IrpEvent.REUSE): IrpState.IDLE,
    (IrpState.IDLE, IrpEvent.FREE): IrpState.FREED,
    (IrpState.COMPLETED, IrpEvent.FREE): IrpState.FREED,
    **{(s, IrpEvent.CANCEL): s for s in (IrpState.IDLE, IrpState.PENDING, IrpState.COMPLETED)},
}

IRP_VIOLATIONS: dict[tuple[IrpState, IrpEvent], str] = {
    (IrpState.PENDING, IrpEvent.SUBMIT): "IrpAlreadyPending",
    (IrpState.COMPLETED, IrpEvent.SUBMIT): "IrpNotReused",
    (IrpState.PENDING, IrpEvent.REUSE): "IrpReusedWhilePending",
    (IrpState.PENDING, IrpEvent.FREE): "IrpFreedWhilePending",
    (IrpState.FREED, IrpEvent.SUBMIT): "IrpUsedAfterFree",
    (IrpState.FREED, IrpEvent.REUSE): "IrpUsedAfterFree",
    (IrpState.FREED, IrpEvent.FREE): "IrpUsedAfterFree",
    (IrpState.FREED, IrpEvent.CANCEL): "IrpUsedAfterFree",
}


# -- datagram indications -----------------------------------------------------------------


class IndicationState(_FastEnum):
    """Who owns a datagram indication: the provider, or the application after PENDING."""

    INDICATED = "indicated"  # inside the WskReceiveFromEvent call
    RETAINED = "retained"  # callback returned STATUS_PENDING: the application owns it
    KEPT = "kept"  # callback returned STATUS_DATA_NOT_ACCEPTED: the provider keeps it
    RELEASED = "released"  # WskRelease gave it back; its buffer is in the pool again
    # Back with the provider without ever being the application's to release: the
    # callback returned STATUS_SUCCESS for it, or, kept, a request took it or the close
    # dropped it. WskRelease of it releases what was never retained (ReleaseNotHeld).
    RETURNED = "returned"


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
    (IndicationState.INDICATED, IndicationEvent.ACCEPT): IndicationState.RETURNED,
    (IndicationState.INDICATED, IndicationEvent.RETAIN): IndicationState.RETAINED,
    # Rejected datagrams stay with the provider to be indicated again, first.
    (IndicationState.INDICATED, IndicationEvent.REJECT): IndicationState.KEPT,
    (IndicationState.KEPT, IndicationEvent.REINDICATE): IndicationState.INDICATED,
    (IndicationState.KEPT, IndicationEvent.DRAIN): IndicationState.RETURNED,
    (IndicationState.KEPT, IndicationEvent.DISCARD): IndicationState.RETURNED,
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
    # WskRelease gives back a list "that it previously retained by returning STATUS_PENDING"
    # (PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST): one the callback accepted never was.
    (IndicationState.RETURNED, IndicationEvent.RELEASE): "ReleaseNotHeld",
    (IndicationState.RELEASED, IndicationEvent.RELEASE): "ReleasedTwice",
    (IndicationState.RELEASED, IndicationEvent.ACCESS): "UseAfterRelease",
    (IndicationState.RETURNED, IndicationEvent.ACCESS): "UseAfterRelease",
    (IndicationState.KEPT, IndicationEvent.ACCESS): "UseAfterReject",
}

# The states in which the application may read an indication's data, derived from the
# table so the hot path tests membership instead of looking the pair up. A tuple, not a
# set: `in` compares enum members by identity first, while hashing one runs Python code.
INDICATION_READABLE: tuple[IndicationState, ...] = tuple(
    state for (state, event) in INDICATION_TRANSITIONS if event is IndicationEvent.ACCESS
)

# Each event's row of the table, {state: next state}: what `settle` (and its compiled
# twin) looks every indication's next state up in.
INDICATION_ROWS: dict[IndicationEvent, dict[IndicationState, IndicationState]] = {
    event: {s: new for (s, e), new in INDICATION_TRANSITIONS.items() if e is event}
    for event in IndicationEvent
}


def _readability(event: IndicationEvent) -> Optional[tuple[bool, bool]]:
    """(readable before, readable after) for every legal step of `event` (they agree)."""
    pairs = {(s in INDICATION_READABLE, new in INDICATION_READABLE)
             for s, new in INDICATION_ROWS[event].items()}
    assert len(pairs) <= 1, f"{event}: its steps differ in readability"
    return pairs.pop() if pairs else None


# The events that take the readable fields away (the list went back to the provider) and
# those that give them back (kept datagrams indicated again).
INDICATION_HIDES: frozenset[IndicationEvent] = frozenset(
    e for e in IndicationEvent if _readability(e) == (True, False))
INDICATION_SHOWS: frozenset[IndicationEvent] = frozenset(
    e for e in IndicationEvent if _readability(e) == (False, True))


# -- the receive event callback -----------------------------------------------------------


class CallbackState(_FastEnum):
    """A socket's WskReceiveFromEvent callback (PFN_WSK_RECEIVE_FROM_EVENT,
    SO_WSK_EVENT_CALLBACK, WSK_SET_STATIC_EVENT_CALLBACKS)."""

    DISABLED = "disabled"  # never enabled, or disabled (SO_WSK_EVENT_CALLBACK)
    ENABLED = "enabled"  # SO_WSK_EVENT_CALLBACK(WSK_EVENT_RECEIVE_FROM)
    SUSPENDED = "suspended"  # STATUS_DATA_NOT_ACCEPTED disabled it until re-enabled
    DISABLING = "disabling"  # disabled while a call was in progress: on until it returns
    STATIC = "static"  # WSK_SET_STATIC_EVENT_CALLBACKS: on for good


class CallbackEvent(_FastEnum):
    ENABLE = "enable"  # SO_WSK_EVENT_CALLBACK with WSK_EVENT_RECEIVE_FROM
    DISABLE = "disable"  # ... with WSK_EVENT_DISABLE, no call in progress
    DISABLE_IN_CALL = "disable during a call"  # ... while a call is in progress
    RETURNED = "returned"  # the last call in progress returned
    REJECT = "reject"  # a call returned STATUS_DATA_NOT_ACCEPTED
    CLOSE = "close"  # WskCloseSocket finished


_C, _V = CallbackState, CallbackEvent
CALLBACK_TRANSITIONS: dict[tuple[CallbackState, CallbackEvent], CallbackState] = {
    **{(s, _V.ENABLE): _C.ENABLED for s in (_C.DISABLED, _C.ENABLED, _C.SUSPENDED, _C.DISABLING)},
    **{(s, _V.DISABLE): _C.DISABLED for s in (_C.DISABLED, _C.ENABLED, _C.SUSPENDED, _C.DISABLING)},
    **{(s, _V.DISABLE_IN_CALL): _C.DISABLING
       for s in (_C.DISABLED, _C.ENABLED, _C.SUSPENDED, _C.DISABLING)},
    (_C.DISABLING, _V.RETURNED): _C.DISABLED,
    (_C.ENABLED, _V.REJECT): _C.SUSPENDED,
    (_C.SUSPENDED, _V.REJECT): _C.SUSPENDED,  # a nested call rejected too
    (_C.DISABLED, _V.REJECT): _C.DISABLED,  # the callback disabled itself, then rejected
    (_C.DISABLING, _V.REJECT): _C.DISABLING,
    # Static callbacks are not disabled by STATUS_DATA_NOT_ACCEPTED (PFN_WSK_RECEIVE_FROM_EVENT).
    (_C.STATIC, _V.REJECT): _C.STATIC,
    **{(s, _V.CLOSE): _C.DISABLED for s in CallbackState},
}

CALLBACK_VIOLATIONS: dict[tuple[CallbackState, CallbackEvent], str] = {
    # "cannot be disabled or re-enabled" (WSK_SET_STATIC_EVENT_CALLBACKS)
    (_C.STATIC, _V.ENABLE): "StaticEventCallback",
    (_C.STATIC, _V.DISABLE): "StaticEventCallback",
    (_C.STATIC, _V.DISABLE_IN_CALL): "StaticEventCallback",
}

# The states in which the provider calls the callback with datagrams, and those in which
# it would call it with the NULL indication (the socket no longer works).
CALLBACK_CALLED: tuple[CallbackState, ...] = (_C.ENABLED, _C.DISABLING, _C.STATIC)
CALLBACK_NULL: tuple[CallbackState, ...] = (_C.ENABLED, _C.SUSPENDED, _C.DISABLING, _C.STATIC)
del _C, _V


# -- applying them ------------------------------------------------------------------------

State = Union[SocketState, IrpState, IndicationState, CallbackState]
Event = Union[SocketEvent, IrpEvent, IndicationEvent, CallbackEvent]

# Every machine's table in one: the states of different machines are different members,
# so their pairs never collide.
TRANSITIONS: dict[tuple[Any, Any], Any] = {
    **SOCKET_TRANSITIONS, **IRP_TRANSITIONS, **INDICATION_TRANSITIONS, **CALLBACK_TRANSITIONS,
}
VIOLATIONS: dict[tuple[Any, Any], str] = {
    **SOCKET_VIOLATIONS, **IRP_VIOLATIONS, **INDICATION_VIOLATIONS, **CALLBACK_VIOLATIONS,
}
# How each machine's violation reads ({what}: the caller's words for the event).
_DETAILS = {
    SocketState: "{what} after WskCloseSocket",
    IrpState: "{what} while {state}",
    IndicationState: "{what} on a {state} indication",
    CallbackState: "SO_WSK_EVENT_CALLBACK on a callback WSK_SET_STATIC_EVENT_CALLBACKS enabled "
                   "(it can be neither disabled nor re-enabled)",
}
# What a state means, where the violation's words alone would not say.
_NOTES = {
    IndicationState.RETURNED: " (the provider has it back: the callback's STATUS_SUCCESS, "
                              "or a request or the close took it after a rejection; it was "
                              "never retained)",
}
# Where each machine starts.
INITIAL: tuple[State, ...] = (SocketState.CREATED, IrpState.IDLE, IndicationState.INDICATED,
                              CallbackState.DISABLED, CallbackState.STATIC)


def rule(state: State, event: Event) -> Optional[str]:
    """The rule `event` breaks in `state`, or None when the table allows it. A pair in
    neither table is the model's own mistake (KeyError): no client call leads there."""
    if (state, event) in TRANSITIONS:
        return None
    return VIOLATIONS[(state, event)]


def forbidden(
    state: State, event: Event, verifier: Optional[Verifier], what: str = ""
) -> BaseException:
    """The violation `event` is in `state`, counted by `verifier` when there is one (the
    caller raises it); a WskrecvBug when the tables give the pair no meaning at all."""
    name = VIOLATIONS.get((state, event))
    if name is None:
        assert (state, event) not in TRANSITIONS, f"{event} is allowed in {state}"
        return WskrecvBug(f"the model's tables give {event} no meaning in {state} "
                          f"({what or event.value})")
    detail = _DETAILS[type(state)].format(what=what or event.value, state=state.value)
    detail += _NOTES.get(state, "")
    if verifier is not None:
        return verifier.record(name, detail)
    return RULES[name](detail)


def begin(obj: Any, state: State) -> None:
    """`obj` starts in `state` (one of INITIAL)."""
    obj.state = state


def begin_all(objs: list, state: State) -> None:
    """Every object in `objs` starts in `state` (a new indication list)."""
    for obj in objs:
        obj.state = state


def step(obj: Any, event: Event, verifier: Optional[Verifier] = None, what: str = "") -> Any:
    """Apply `event` to `obj` (a socket, an IRP or an event callback): its next state from
    the table, or the violation the table names, counted by `verifier` and raised (the
    state does not change). Returns the new state."""
    try:
        new = obj.state = TRANSITIONS[obj.state, event]
    except KeyError:
        raise forbidden(obj.state, event, verifier, what) from None
    return new


# settle(indications, row, hide): the bulk write (`settle` here, or the compiled twin).
Settle = Callable[[list, dict, bool], None]


def settle(inds: list, row: dict[IndicationState, IndicationState], hide: bool) -> None:
    """Move every indication in `inds` to its next state in `row` (one event's row of the
    table, INDICATION_ROWS), all or nothing: a state the row does not have is a KeyError
    of that state (the first in list order) and nothing changes. With `hide`, remove the
    readable fields: the list went back to the provider, and reading one now lands in the
    indication's `_unreadable` and its violation. The compiled core has a twin of this
    (wskrecv.core, `Core.settle`)."""
    # Each state is read once, and a list's indications share a state, so the row is
    # asked once a run.
    news = []
    state = new = None
    for ind in inds:
        if ind.state is not state:
            state = ind.state
            new = row[state]
        news.append(new)
    if hide:  # every list's return to the provider
        for ind, new in zip(inds, news):
            ind.state = new
            del ind.data, ind.remote, ind.timestamp_ns
    else:
        for ind, new in zip(inds, news):
            ind.state = new


def step_all(
    inds: list, event: IndicationEvent, verifier: Verifier, what: str, settle: Settle = settle
) -> None:
    """Apply `event` to every indication in `inds`, all or nothing: `settle` writes them
    all from the event's row of the table (hiding the readable fields when the event
    takes them away: INDICATION_HIDES; the caller shows them again for INDICATION_SHOWS),
    or refuses the first state the row lacks, which is the violation the table names,
    counted and raised, and no state changes."""
    try:
        settle(inds, INDICATION_ROWS[event], event in INDICATION_HIDES)
    except KeyError as exc:
        state = exc.args[0] if exc.args else None
        if not isinstance(state, IndicationState) or (state, event) in TRANSITIONS:
            raise WskrecvBug(f"settling {event.value}: {exc!r}") from exc
        raise forbidden(state, event, verifier, what) from None


__all__ = [
    "CALLBACK_CALLED",
    "CALLBACK_NULL",
    "CALLBACK_TRANSITIONS",
    "CALLBACK_VIOLATIONS",
    "INDICATION_HIDES",
    "INDICATION_READABLE",
    "INDICATION_ROWS",
    "INDICATION_SHOWS",
    "INDICATION_TRANSITIONS",
    "INDICATION_VIOLATIONS",
    "INITIAL",
    "IRP_TRANSITIONS",
    "IRP_VIOLATIONS",
    "SOCKET_TRANSITIONS",
    "SOCKET_VIOLATIONS",
    "TRANSITIONS",
    "VIOLATIONS",
    "CallbackEvent",
    "CallbackState",
    "IndicationEvent",
    "IndicationState",
    "IrpEvent",
    "IrpState",
    "SocketEvent",
    "SocketState",
    "begin",
    "begin_all",
    "forbidden",
    "rule",
    "settle",
    "step",
    "step_all",
]
