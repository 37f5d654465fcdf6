"""Number formatting shared by the human reporters."""

from __future__ import annotations


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
