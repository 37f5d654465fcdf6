"""The send loop: order -> payload -> transport, paced, with a one-line report at the end."""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional, Protocol

from wskrecv.errors import OsFailure
from wskrecv.generator.order import SendOrder
from wskrecv.generator.pacer import Pacer
from wskrecv.generator.payloads import Fill, PayloadPlan
from wskrecv.generator.spec import SendSpec

# The longest single sleep: a stop request (Ctrl-C) is noticed at least this often.
_MAX_SLEEP = 0.05


class Transport(Protocol):
    raw: bool

    @property
    def sources(self) -> list[tuple]: ...
    def burst(self, seqs: Any, fill: Fill, now_ns: Callable[[], int]) -> tuple[int, int]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class SendReport:
    """What a run sent. `sent` counts datagrams on the wire (duplicate copies included);
    `sequences` the distinct datagrams (over all sources); `reordered` those sent after a
    higher sequence number of their source; `fragments` the IP fragments they were cut
    into (0 when not fragmented)."""

    destination: str
    port: int
    sent: int
    bytes: int
    duration_s: float
    sequences: int
    reordered: int
    duplicated: int
    fragments: int
    rate_requested: float
    seq_format: str
    stream: int
    sizes: tuple[int, ...]
    sources: tuple[str, ...]
    raw: bool
    bad_checksum: bool
    reason: str
    refused: int = 0  # ICMP port unreachable reports (nothing listening): datagrams lost

    @property
    def all_refused(self) -> bool:
        """Every datagram sent was refused: nothing listens at the destination."""
        return self.sent > 0 and self.refused >= self.sent

    @property
    def datagrams_per_s(self) -> float:
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def bits_per_s(self) -> float:
        return self.bytes * 8 / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The `send` JSON object (without its "type")."""
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        d["sources"] = list(self.sources)
        d["duration_s"] = round(self.duration_s, 6)
        d["datagrams_per_s"] = round(self.datagrams_per_s, 1)
        d["bits_per_s"] = round(self.bits_per_s, 1)
        return d


def open_transport(spec: SendSpec) -> Transport:
    """A raw-IP transport when the spec needs one (imports scapy), else plain UDP."""
    if spec.needs_raw:
        from wskrecv.generator.raw import RawTransport

        return RawTransport(spec)
    from wskrecv.generator.udp import UdpTransport

    return UdpTransport(spec)


class Sender:
    """One `wskrecv send` run. Clock, sleep and wall clock are injectable for tests."""

    def __init__(
        self,
        spec: SendSpec,
        transport: Optional[Transport] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.spec = spec
        self.plan = PayloadPlan(spec.seq_format, spec.stream, spec.sizes, spec.seed,
                                len(spec.sources))
        self.transport = transport if transport is not None else open_transport(spec)
        self.clock = clock
        self.sleep = sleep
        self.now_ns = now_ns

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, stop: Callable[[], Any] = lambda: None) -> SendReport:
        """Send until --count, --duration or `stop()` returns something true (a reason
        string, or True for "interrupted")."""
        spec = self.spec
        order = SendOrder(spec.count, spec.reorder, spec.duplicate, len(spec.sources))
        fill = self.plan.fill
        burst = self.transport.burst
        now_ns = self.now_ns
        clock = self.clock
        pacer = Pacer(spec.rate, clock)
        t0 = pacer.t0
        end = t0 + spec.duration if spec.duration is not None else None
        sent = nbytes = 0
        reason = "count reached"
        try:
            while not order.exhausted:
                why = stop()
                if why:
                    reason = why if isinstance(why, str) else "interrupted"
                    break
                now = clock()
                if end is not None and now >= end:
                    reason = "duration over"
                    n, b = burst(order.take(pacer.owed(order.paced, end)), fill, now_ns)
                    sent += n
                    nbytes += b
                    break
                due, wait = pacer.due(order.paced)
                if end is not None:  # the pacer read the clock again: maybe past the end
                    due = min(due, pacer.owed(order.paced, end))
                if due == 0:
                    if end is not None:
                        wait = min(wait, end - now)
                    self.sleep(max(0.0, min(wait, _MAX_SLEEP)))
                    continue
                n, b = burst(order.take(due), fill, now_ns)
                sent += n
                nbytes += b
            # Datagrams a reorder pattern still holds back go now: a short run loses none.
            n, b = burst(order.flush(), fill, now_ns)
            sent += n
            nbytes += b
        except OSError as exc:
            raise OsFailure(f"send failed after {sent} datagrams: {exc.strerror or exc}") from None
        duration = clock() - t0
        finish = getattr(self.transport, "finish", None)
        if finish is not None:
            finish()
        dest = spec.destination
        return SendReport(
            destination=dest.host,
            port=dest.port,
            sent=sent,
            bytes=nbytes,
            duration_s=duration,
            sequences=order.sequences,
            reordered=order.late,
            duplicated=order.duplicated,
            fragments=getattr(self.transport, "fragments_sent", 0),
            rate_requested=spec.rate,
            seq_format=spec.seq_format,
            stream=spec.stream,
            sizes=tuple(self.plan.sizes),
            sources=tuple(_format_source(s, dest.family) for s in self.transport.sources),
            raw=self.transport.raw,
            bad_checksum=spec.bad_checksum,
            reason=reason,
            refused=getattr(self.transport, "refused", 0),
        )


def _format_source(source: tuple, family: int) -> str:
    host, port = source[:2]
    return f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
