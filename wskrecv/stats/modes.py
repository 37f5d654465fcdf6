"""The receive styles' own statistics, as typed frozen records (trio's `statistics()`).

A receiver application hands one of these to each snapshot; the JSON output flattens it
with `as_json()` (stable field names, documented in the man page) and the dashboard reads
its fields by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

if TYPE_CHECKING:
    from wskrecv.wsk.counters import SocketStatistics

_S = TypeVar("_S", bound="_FromSocket")


class _FromSocket:
    """`from_socket`: a style's statistics from its socket's counts, by field name, and
    what only the client knows (`own`; a field neither gives keeps its default). What the
    socket counts lives there once."""

    @classmethod
    def from_socket(cls: type[_S], counts: SocketStatistics, **own: Any) -> _S:
        unknown = set(own) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
        values = {f.name: getattr(counts, f.name) for f in fields(cls)  # type: ignore[arg-type]
                  if f.name not in own and hasattr(counts, f.name)}
        return cls(**values, **own)


@dataclass(frozen=True)
class IrpStatistics(_FromSocket):
    """The IRP style (`wskrecv listen`)."""

    outstanding: int  # WskReceiveFrom requests posted now
    completions: int  # requests completed with a datagram
    cancellations: int  # requests completed with STATUS_CANCELLED
    failures: int  # requests or calls that failed
    broadcast: int = 0  # datagrams completed with MSG_BCAST in ControlFlags
    multicast: int = 0  # ... with MSG_MCAST
    last_failure: Optional[str] = None  # the last failure's status, by name

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.last_failure is None:
            del out["last_failure"]
        return out


@dataclass(frozen=True)
class EventStatistics(_FromSocket):
    """The event style (`wskrecv event`)."""

    callbacks: int  # WskReceiveFromEvent calls with a list
    mean_list_length: float  # datagrams per call
    pended: int  # calls that returned STATUS_PENDING
    released: int  # datagrams given back with WskRelease
    released_in_callback: int  # ... of them, from inside the callback (partial release)
    rejected: int  # calls that returned STATUS_DATA_NOT_ACCEPTED
    pool_in_use: int  # indication buffers held now
    pool_high_water: int  # the most ever held at once
    leaked: int  # retained datagrams never released before the socket closed
    null_indications: int  # NULL indications (the socket no longer works)
    broadcast: int = 0  # datagrams in lists whose Flags had MSG_BCAST
    multicast: int = 0  # ... MSG_MCAST
    last_failure: Optional[str] = None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean_list_length"] = round(self.mean_list_length, 2)
        if self.last_failure is None:
            del out["last_failure"]
        return out


@dataclass(frozen=True)
class ClientStatistics(_FromSocket):
    """Your own client (`wskrecv run`): both styles' counters, since a client may use
    either or both, and the client's report (`client`: who it is, its rule breaks by
    place, its fault), which the human summary prints apart."""

    outstanding: int
    completions: int
    cancellations: int
    failures: int
    callbacks: int
    mean_list_length: float
    consumed: int  # datagrams in lists the callback returned STATUS_SUCCESS for
    pended: int
    released: int
    released_in_callback: int
    rejected: int
    held: int  # datagrams the client retains now
    pool_in_use: int
    pool_high_water: int
    leaked: int
    null_indications: int
    client: dict[str, Any]  # {class, file, violation_sites: [...], fault}
    styles: tuple[str, ...] = ()  # "irp" (it posted receives), "event" (it offers a callback)

    def as_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["mean_list_length"] = round(self.mean_list_length, 2)
        out["styles"] = list(self.styles)
        return out

    def style_json(self, style: str) -> dict[str, Any]:
        """The counters of one style ("irp", "event"), as the built-in clients report them."""
        keys = IRP_FIELDS if style == "irp" else EVENT_FIELDS
        out = self.as_json()
        return {k: out[k] for k in keys}


# A client's counters by the style they belong to (a client may use either or both).
IRP_FIELDS = ("outstanding", "completions", "cancellations", "failures")
EVENT_FIELDS = ("callbacks", "mean_list_length", "consumed", "pended", "released",
                "released_in_callback", "rejected", "held", "pool_in_use", "pool_high_water",
                "leaked", "null_indications")


ModeStatistics = Union[IrpStatistics, EventStatistics, ClientStatistics]


def merge_mode_statistics(stats: Sequence[Optional[ModeStatistics]]) -> Optional[ModeStatistics]:
    """Several workers' statistics of one style as one: counts sum, except the mean list
    length (weighted by callbacks) and the pool's high-water mark (the fullest any one
    worker's pool got: each has its own --pool); the last failure is the first worker's
    that has one."""
    present = [s for s in stats if s is not None]
    if not present:
        return None
    first = present[0]
    kind = type(first)
    same = [s for s in present if type(s) is kind]
    merged: dict[str, Any] = {}
    for f in fields(kind):
        values = [getattr(s, f.name) for s in same]
        if f.name == "last_failure":
            merged[f.name] = next((v for v in values if v is not None), None)
        elif f.name == "styles":
            merged[f.name] = tuple(sorted({x for v in values for x in v}, key=("irp", "event").index))
        elif f.name == "pool_high_water":
            merged[f.name] = max(values)
        elif f.name == "mean_list_length":
            calls = sum(s.callbacks for s in same)  # type: ignore[union-attr]
            weighted = sum(s.mean_list_length * s.callbacks for s in same)  # type: ignore[union-attr]
            merged[f.name] = weighted / calls if calls else 0.0
        else:
            merged[f.name] = sum(values)
    return replace(first, **merged)


__all__ = ["ClientStatistics", "EventStatistics", "IrpStatistics", "ModeStatistics", "merge_mode_statistics"]
