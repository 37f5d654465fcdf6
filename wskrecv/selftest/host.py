"""Host facts the selftest needs: kernel counters, IPv6 and raw-socket availability."""

from __future__ import annotations

import socket
from typing import Optional


def snmp_counters() -> Optional[dict[str, int]]:
    """Kernel network counters, or None where /proc/net/snmp is missing (not Linux).

    Keys: "Udp.InCsumErrors", "Ip.ReasmOKs", ... from /proc/net/snmp, and the
    /proc/net/snmp6 names as they are ("Udp6InCsumErrors", "Ip6ReasmOKs", ...).
    """
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f]
    except OSError:
        return None
    out: dict[str, int] = {}
    for head, values in zip(rows[::2], rows[1::2]):
        proto = head[0].rstrip(":")
        for name, value in zip(head[1:], values[1:]):
            try:
                out[f"{proto}.{name}"] = int(value)
            except ValueError:
                pass
    try:
        with open("/proc/net/snmp6") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    out[parts[0]] = int(parts[1])
    except (OSError, ValueError):
        pass
    return out


def have_ipv6() -> bool:
    """Whether ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
