"""Whether a bound socket's local address still belongs to this host.

Linux tells a UDP socket nothing when the address it is bound to is removed from its
interface (or the interface goes away): the socket stays bound and simply never receives
again. The runner asks `address_gone` once per interval instead: binding a throwaway
socket to the same address fails with EADDRNOTAVAIL once the address is gone.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Optional


def address_gone(local: tuple) -> Optional[str]:
    """Why `local` (a getsockname() result) no longer works, or None while it does (and
    for wildcard addresses, which cannot go away)."""
    host = local[0]
    try:
        if ipaddress.ip_address(host.split("%")[0]).is_unspecified:
            return None
    except ValueError:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = (host, 0, 0, local[3]) if family == socket.AF_INET6 and len(local) > 3 else (host, 0)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind(where)
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            return f"the local address {host} was removed from this host"
    return None
