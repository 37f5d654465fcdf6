"""What `wskrecv send` is asked to do, checked: sizes, patterns, loopback-only addresses.

Everything here is pure parsing and validation (no sockets are opened); bad input raises
`SpecError`, which names the SendSpec field at fault, never a command-line flag: the
command line words it with its own flag names (commands/send.py).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable, Optional

from wskrecv import payload
from wskrecv.errors import UsageError
from wskrecv.units import COUNT, INTEGER, SIZE, Limit, NumberError

MAX_PAYLOAD = {socket.AF_INET: 65507, socket.AF_INET6: 65527}  # 65535 - IP - UDP headers
SEQ_FORMATS = payload.SEND_FORMATS  # the headers a sender writes
MIN_SIZE = {"wskrecv": payload.HEADER_LEN, "sockperf": payload.SOCKPERF.size, "none": 0}
LOOPBACK_ONLY = "wskrecv send generates test traffic for loopback only (127.0.0.0/8, ::1)"
_SIZE = Limit(SIZE, 0, 2**30)  # each size item (check_sizes applies the family's limit)
_EVERY = Limit(COUNT, 1, 2**32)  # reorder / duplicate EVERY
# N positions late (within the receivers' sequence window) / N extra copies of a datagram.
_AMOUNT = {"reorder": Limit(INTEGER, 1, 16384), "duplicate": Limit(INTEGER, 1, 1000)}
_EXPECTED_SIZES = "expected BYTES, LOW-HIGH or a comma list of them"


@dataclass(frozen=True)
class FieldRef:
    """Another SendSpec field named inside a SpecError's message (the remedy)."""

    name: str


class SpecError(UsageError):
    """A value that makes no send spec. `field` is the SendSpec field it was for
    ("sizes", "sources", "reorder"...), `value` the value as shown, `problem` what is
    wrong: text, and FieldRefs where it names another field. `words` says it in the
    caller's names for the fields (the command line's flags); str() in the fields' own."""

    def __init__(self, field: str, value: str, *problem: str | FieldRef) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(self.words(str))

    def words(self, name: Callable[[str], str]) -> str:
        """The one-line message, each field called `name(field)`."""
        return f"{name(self.field)} {self.value}: " + "".join(
            name(part.name) if isinstance(part, FieldRef) else part for part in self.problem)


@dataclass(frozen=True)
class SizeItem:
    """One item of --size: a fixed size (low == high) or a range drawn uniformly."""

    low: int
    high: int


@dataclass(frozen=True)
class Pattern:
    """--reorder / --duplicate EVERY[:N]: datagrams with (sequence + 1) % every == 0 are
    delayed by N positions (reorder) or sent N extra times (duplicate)."""

    every: int
    amount: int = 1

    def hits(self, sequence: int) -> bool:
        return (sequence + 1) % self.every == 0


@dataclass(frozen=True)
class Destination:
    """A checked loopback destination."""

    family: int
    host: str
    port: int

    @property
    def sockaddr(self) -> tuple:
        return (self.host, self.port) if self.family == socket.AF_INET else (self.host, self.port, 0, 0)


@dataclass(frozen=True)
class SendSpec:
    """Everything one `wskrecv send` run does, validated."""

    destination: Destination
    count: Optional[int] = None  # None: until --duration or a stop request
    duration: Optional[float] = None
    rate: float = 0.0  # datagrams per second; 0 = as fast as possible
    sizes: tuple[SizeItem, ...] = (SizeItem(64, 64),)
    stream: int = 0
    seq_format: str = "wskrecv"
    sources: tuple[str, ...] = ()
    sport: int = 0
    ttl: Optional[int] = None
    tos: Optional[int] = None  # TOS byte / IPv6 traffic class (DSCP << 2 | ECN)
    reorder: Optional[Pattern] = None
    duplicate: Optional[Pattern] = None
    fragment: Optional[int] = None
    bad_checksum: bool = False
    raw: bool = False
    seed: int = 0

    @property
    def needs_raw(self) -> bool:
        """Whether the run crafts whole IP packets (raw socket: root or CAP_NET_RAW)."""
        return self.raw or self.fragment is not None or self.bad_checksum

    @property
    def raw_reason(self) -> str:
        """The field that asked for raw IP, for the missing-privilege message."""
        if self.fragment is not None:
            return "fragment"
        if self.bad_checksum:
            return "bad_checksum"
        return "raw"


def parse_sizes(text: str) -> tuple[SizeItem, ...]:
    """'64' | '64-1400' | '64,512,1400' (items may be ranges): datagram i uses item
    i % len(items); a range item draws its size uniformly (seeded by --seed)."""
    items = []
    for part in text.split(","):
        part = part.strip()
        low_s, sep, high_s = part.partition("-")
        if not low_s.strip() or (sep and not high_s.strip()):
            raise SpecError("sizes", repr(text), _EXPECTED_SIZES)
        try:
            low = int(_SIZE.parse(low_s))
            high = int(_SIZE.parse(high_s)) if sep else low
        except NumberError as exc:
            raise SpecError("sizes", repr(text), f"{exc}; {_EXPECTED_SIZES}") from None
        if low < 0 or high < low:
            raise SpecError("sizes", repr(text), f"{part!r} is not a size or an increasing range")
        items.append(SizeItem(low, high))
    return tuple(items)


def mean_size(sizes: tuple[SizeItem, ...]) -> float:
    """The mean payload size of a --size spec (items used in turn, ranges uniform): what
    --bitrate divides by. At least 1, so that empty datagrams still pace."""
    mean = sum((item.low + item.high) / 2 for item in sizes) / len(sizes)
    return max(mean, 1.0)


def parse_pattern(field: str, text: Optional[str]) -> Optional[Pattern]:
    """EVERY[:N] for the "reorder" and "duplicate" fields."""
    if text is None:
        return None
    every_s, sep, amount_s = text.partition(":")
    if not every_s.strip() or (sep and not amount_s.strip()):
        raise SpecError(field, repr(text), "expected EVERY[:N], e.g. 10 or 10:3")
    try:
        every = int(_EVERY.parse(every_s))
    except NumberError as exc:
        raise SpecError(field, repr(text), f"EVERY {exc}") from None
    try:
        amount = int(_AMOUNT[field].parse(amount_s)) if sep else 1
    except NumberError as exc:
        raise SpecError(field, repr(text), f"N {exc}") from None
    if every < 2 and field == "reorder":
        raise SpecError(field, repr(text), "EVERY must be at least 2 (delaying every datagram "
                        "reorders nothing)")
    return Pattern(every, amount)


def _loopback(text: str) -> Optional[ipaddress._BaseAddress]:
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return addr if addr.is_loopback else None


def resolve_destination(host: str, port: int) -> Destination:
    """HOST must be (or resolve only to) a loopback address."""
    if not 1 <= port <= 65535:
        raise UsageError(f"port {port} is out of range 1-65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise UsageError(f"unknown destination {host!r}: {exc.strerror}") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if _loopback(address) is None:
            shown = host if address == host else f"{host} ({address})"
            raise UsageError(f"destination {shown} is not a loopback address: {LOOPBACK_ONLY}")
    family, _, _, _, sockaddr = infos[0]
    return Destination(family, sockaddr[0], port)


def check_source(text: str, family: int) -> str:
    """A source address (of "sources"): loopback, and of the destination's family."""
    addr = _loopback(text)
    if addr is None:
        raise SpecError("sources", text, f"not a loopback address: {LOOPBACK_ONLY}")
    if (addr.version == 6) != (family == socket.AF_INET6):
        want = "IPv6 (::1)" if family == socket.AF_INET6 else "IPv4 (127.0.0.0/8)"
        raise SpecError("sources", text, f"the destination is {want}; use a source of that family")
    return str(addr)


def check_sizes(spec: SendSpec) -> None:
    """Every size fits the family and the sequence format's header."""
    need = MIN_SIZE[spec.seq_format]
    limit = MAX_PAYLOAD[spec.destination.family]
    for item in spec.sizes:
        if item.low < need:
            raise SpecError("sizes", str(item.low),
                            f"a {spec.seq_format} datagram needs at least {need} bytes (its "
                            "header); use ", FieldRef("seq_format"), " none for smaller ones")
        if item.high > limit:
            family = "IPv6" if spec.destination.family == socket.AF_INET6 else "IPv4"
            raise SpecError("sizes", str(item.high),
                            f"the largest {family} UDP payload is {limit} bytes")


def check_fragment(spec: SendSpec) -> None:
    """The fragment size: the IP payload bytes per fragment, a multiple of 8 (the unit of
    the fragment offset field)."""
    size = spec.fragment
    if size is None:
        return
    if size < 8 or size % 8:
        raise SpecError("fragment", str(size), "must be a positive multiple of 8 (bytes of IP "
                        "payload per fragment)")


def validate(spec: SendSpec) -> SendSpec:
    """Cross-option checks that click cannot express."""
    check_sizes(spec)
    check_fragment(spec)
    if spec.stream and spec.seq_format != "wskrecv":
        raise SpecError("stream", str(spec.stream), "only wskrecv headers carry a stream id (",
                        FieldRef("seq_format"), " wskrecv)")
    return spec
