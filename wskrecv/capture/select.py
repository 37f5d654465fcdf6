"""Which datagrams of a capture to replay (`--replay-filter`): a small part of tcpdump's
filter language, on the UDP datagrams the reader found.

    EXPR   := TERM ("and" TERM)*
    TERM   := ["src" | "dst"] ("host" ADDR | "net" ADDR/LEN | "port" N) | "udp"

A term without `src` or `dst` matches either end; `udp` matches every datagram. The reader
itself takes a destination port (its fast path), so a `dst port N` term is handed to it
(`dst_port`) and the rest is checked here, per datagram, on the socket addresses the
reader gives: (host, port) and (host, port, flowinfo, scope) tuples.

Errors say which word is wrong (ValueError); the command turns them into usage errors.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
_ENDS = ("src", "dst")
_WHAT = ("host", "net", "port")
MAX_TERMS = 64  # a longer expression is not a filter anyone types


@dataclass(frozen=True)
class Term:
    """One test: `end` ("src", "dst" or None: either), `network` or `port`."""

    end: Optional[str]
    network: Optional[Network] = None
    port: Optional[int] = None

    def matches(self, src: tuple, dst: tuple) -> bool:
        ends = (src, dst) if self.end is None else ((src,) if self.end == "src" else (dst,))
        return any(self._one(address) for address in ends)

    def _one(self, address: tuple) -> bool:
        if self.port is not None:
            return address[1] == self.port
        assert self.network is not None
        try:
            ip = ipaddress.ip_address(address[0])
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None and self.network.version == 4:
            ip = mapped
        return ip.version == self.network.version and ip in self.network

    def __str__(self) -> str:
        end = f"{self.end} " if self.end else ""
        if self.port is not None:
            return f"{end}port {self.port}"
        assert self.network is not None
        if self.network.prefixlen == self.network.max_prefixlen:
            return f"{end}host {self.network.network_address}"
        return f"{end}net {self.network}"


@dataclass(frozen=True)
class Selection:
    """The datagrams an expression keeps: every term holds (`and`)."""

    terms: tuple[Term, ...] = ()

    @property
    def dst_port(self) -> int:
        """A destination port every kept datagram has (the reader's fast path), or 0."""
        for term in self.terms:
            if term.end == "dst" and term.port is not None:
                return term.port
        return 0

    @property
    def rest(self) -> tuple[Term, ...]:
        """The terms the reader's destination port does not already check."""
        port = self.dst_port
        return tuple(t for t in self.terms if not (t.end == "dst" and t.port == port))

    def matches(self, src: tuple, dst: tuple) -> bool:
        return all(term.matches(src, dst) for term in self.terms)

    def __str__(self) -> str:
        return " and ".join(str(t) for t in self.terms) or "udp"


def to_port(port: int) -> Selection:
    """What a replay takes without --replay-filter: datagrams to `port` (0: every one)."""
    return Selection((Term("dst", port=port),) if port else ())


def parse(text: str) -> Selection:
    """EXPR (see the module docstring) as a Selection; ValueError naming what is wrong."""
    words = text.lower().split()
    if not words:
        raise ValueError("an empty filter: give one, or leave --replay-filter out")
    terms: list[Term] = []
    i = 0
    while True:
        term, i = _term(words, i)
        if term is not None:
            terms.append(term)
        if len(terms) > MAX_TERMS:
            raise ValueError(f"more than {MAX_TERMS} terms")
        if i == len(words):
            return Selection(tuple(terms))
        if words[i] != "and":
            raise ValueError(f"expected `and` before {words[i]!r} (terms join with `and` only)")
        i += 1
        if i == len(words):
            raise ValueError("nothing after the last `and`")


def _term(words: list[str], i: int) -> tuple[Optional[Term], int]:
    word = words[i]
    if word == "udp":
        return None, i + 1
    end = None
    if word in _ENDS:
        end = word
        i += 1
        if i == len(words):
            raise ValueError(f"`{end}` needs host ADDR, net ADDR/LEN or port N after it")
        word = words[i]
    if word not in _WHAT:
        raise ValueError(f"{word!r} is not a filter term (host, net, port, udp; "
                         "optionally after src or dst)")
    if i + 1 == len(words):
        raise ValueError(f"`{word}` needs a value after it")
    value = words[i + 1]
    if word == "port":
        if not value.isdigit() or not 0 <= int(value) <= 65535:
            raise ValueError(f"port {value!r}: a port is a number from 0 to 65535")
        return Term(end, port=int(value)), i + 2
    try:
        network = ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        raise ValueError(f"{word} {value!r}: not an IP address"
                         + (" or network (ADDR/LEN)" if word == "net" else "")) from None
    if word == "host" and network.prefixlen != network.max_prefixlen:
        raise ValueError(f"host {value!r} is a network: say `net {value}`")
    return Term(end, network=network), i + 2


__all__ = ["Selection", "Term", "parse", "to_port"]
