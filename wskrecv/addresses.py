"""Addresses as people type them and as wskrecv shows them.

wskrecv prints IPv6 endpoints as `[::1]:5001`, so it takes them that way too: every
option or argument that takes an address accepts `[::1]` and `[::1]:PORT` as well as
`::1`, `127.0.0.1` and `127.0.0.1:PORT`. A dual-stack socket reports IPv4 senders as
IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`); `plain_host` turns them back into the
IPv4 address that was on the wire, and every output (summary, JSON, dump, pcap) shows
that form.
"""

from __future__ import annotations

import functools
from typing import Optional

from wskrecv.errors import UsageError
from wskrecv.units import INTEGER, Limit, NumberError

_PORT = Limit(INTEGER, 0, 65535)
_MAPPED = "::ffff:"


def split_host_port(text: str, what: str = "address") -> tuple[str, Optional[int]]:
    """`[v6]`, `[v6]:port`, `v4:port`, `name:port`, or a bare host (an unbracketed IPv6
    address is a bare host). A malformed one is a UsageError naming `what`."""
    text = text.strip()
    port_text: Optional[str] = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host:
            raise UsageError(f"{what} {text!r}: an IPv6 address in brackets needs its ']'")
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"{what} {text!r}: expected [ADDRESS] or [ADDRESS]:PORT")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text
    if port_text is None:
        return host, None
    try:
        return host, int(_PORT.parse(port_text))
    except NumberError as exc:
        raise UsageError(f"{what} {text!r}: port {exc}") from None


@functools.lru_cache(maxsize=4096)  # a run sees few addresses; output asks per datagram
def plain_host(host: str) -> str:
    """An IPv4-mapped IPv6 address as the IPv4 address it stands for; others unchanged."""
    if host[:7].lower() == _MAPPED and "." in host:
        return host[7:]
    return host


def plain_endpoint(address: tuple) -> tuple:
    """(host, port) with the host made plain (see plain_host)."""
    return (plain_host(address[0]), address[1])


__all__ = ["plain_endpoint", "plain_host", "split_host_port"]
