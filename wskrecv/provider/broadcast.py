"""The host's IPv4 broadcast addresses, so the model can flag MSG_BCAST.

A datagram's destination comes with it (IP_PKTINFO); whether that address is a broadcast
address only the routing tables know (127.255.255.255 on loopback, each subnet's
all-ones address). Linux lists them in /proc/net/fib_trie as `/32 link BROADCAST`
entries; where that file is unreadable only 255.255.255.255 is known.
"""

from __future__ import annotations

from typing import Optional

FIB_TRIE = "/proc/net/fib_trie"
LIMITED = "255.255.255.255"


def parse_fib_trie(text: str) -> frozenset[str]:
    """The addresses /proc/net/fib_trie marks BROADCAST (its `|-- ADDRESS` line is
    followed by `/32 link BROADCAST`)."""
    found = {LIMITED}
    address: Optional[str] = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|-- "):
            address = stripped[4:].strip()
        elif address is not None and stripped.endswith("BROADCAST"):
            found.add(address)
    return frozenset(found)


def broadcast_addresses(path: str = FIB_TRIE) -> frozenset[str]:
    """This host's broadcast addresses (read once per receive command)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return parse_fib_trie(f.read())
    except OSError:
        return frozenset({LIMITED})


__all__ = ["broadcast_addresses", "parse_fib_trie"]
