"""Number formatting shared by the human reporters."""

from __future__ import annotations

from typing import Any, Optional

from wskrecv.addresses import plain_host
from wskrecv.shown import shown


def si(value: float, unit: str = "", base: float = 1000.0) -> str:
    """1234567 -> '1.23 M' (+unit); small numbers stay plain."""
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < base or prefix == "T":
            if prefix == "":
                text = f"{value:.0f}" if value == int(value) else f"{value:.2f}"
                return f"{text} {unit}".rstrip()
            return f"{value:.2f} {prefix}{unit}"
        value /= base
    raise AssertionError("unreachable")


def nbytes(value: float) -> str:
    """Bytes with binary prefixes: 1536 -> '1.50 KiB'."""
    for prefix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or prefix == "TiB":
            return f"{value:.0f} B" if prefix == "B" else f"{value:.2f} {prefix}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(n: int, word: str) -> str:
    """A count and its noun in English: '1 datagram', '2 datagrams', '0 bytes'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def ms(ns: Optional[float]) -> str:
    """Nanoseconds as milliseconds in at most 5 characters: 12345 -> '0.012',
    2046000 -> '2.05', 11900000 -> '11.9'."""
    if ns is None:
        return "-"
    value = ns / 1e6
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def duration(ns: Optional[float]) -> str:
    """Nanoseconds in the unit that suits them: '412 ns', '41.2 µs', '1.34 ms', '2.05 s'."""
    if ns is None:
        return "-"
    for unit, scale in (("ns", 1.0), ("µs", 1e3), ("ms", 1e6)):
        if abs(ns) < 1000 * scale:
            value = ns / scale
            return f"{value:.0f} {unit}" if value >= 100 or unit == "ns" else f"{value:.3g} {unit}"
    return f"{ns / 1e9:.3g} s"


def pct(value: float) -> str:
    """A percentage with enough decimals to show small loss: 0.0012 -> '0.001%'."""
    if value == 0:
        return "0%"
    if value >= 10:
        return f"{value:.1f}%"
    if value >= 0.01:
        return f"{value:.2f}%"
    return f"{value:.2g}%"


def address(host: str, port: int) -> str:
    """host:port, with brackets around IPv6 hosts; an IPv4-mapped IPv6 address (a
    dual-stack socket's IPv4 sender) as plain IPv4."""
    host = plain_host(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ordinal(n: int) -> str:
    """English ordinals: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 102nd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def iperf3_text(status: Any, short: bool = False) -> str:
    """The iperf3 server's state in a few words: idle, or the test's id (its cookie; the
    first 8 characters when `short`) and streams."""
    if not status.get("test"):
        return f"iperf3 {status.get('state', 'idle')}"
    n = len(status.get("streams") or ())
    test = shown(status["test"][:8] if short else status["test"])  # the peer's cookie
    return f"iperf3 {status['state']} {test} ({plural(n, 'stream')})"

