"""The end of an iperf3 test in iperf3's own words: one line per stream and a [SUM] line,
laid out as `iperf3 -s` prints its receiver report for a `-P` test (iperf_locale.c's
report_bw_udp_header, report_bw_udp_format and report_sum_bw_udp_format; numbers as its
unit_snprintf writes them: adaptive units, at most four digits). Scripts that read an
iperf3 server's report read this one too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HEADER = "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams"
SEPARATOR = "- - - - - - - - - - - - - - - - - - - - - - - - -"

_BYTE_LABELS = ("Byte", "KByte", "MByte", "GByte", "TByte")
_BIT_LABELS = ("bit", "Kbit", "Mbit", "Gbit", "Tbit")


def units(value: float, bits: bool) -> str:
    """iperf3's adaptive unit_snprintf ('A' for bytes in 1024s, 'a' for bits in 1000s):
    '1.25 MByte', '1.05 Mbit' (the caller adds the plural s)."""
    base, labels = (1000.0, _BIT_LABELS) if bits else (1024.0, _BYTE_LABELS)
    if bits:
        value *= 8
    conv = 0
    while value >= base and conv < len(labels) - 1:
        value /= base
        conv += 1
    if value < 9.995:
        text = f"{value:4.2f}"
    elif value < 99.95:
        text = f"{value:4.1f}"
    else:
        text = f"{value:4.0f}"
    return f"{text} {labels[conv]}"


def _line(label: str, seconds: float, nbytes: int, jitter_ms: float, lost: int, packets: int
          ) -> str:
    rate = nbytes / seconds if seconds > 0 else 0.0
    lost_pct = 100.0 * lost / packets if packets > 0 else 0.0
    return (f"{label} {0.0:6.2f}-{seconds:<6.2f} sec  {units(nbytes, False)}s  "
            f"{units(rate, True)}s/sec  {jitter_ms:5.3f} ms  {lost}/{packets} "
            f"({lost_pct:.2g}%)  receiver")


def stream_lines(streams: Sequence[dict[str, Any]], seconds: float) -> list[str]:
    """The report: the header, a line per stream (`id`, `bytes`, `jitter_ms`,
    `lost_packets`, `packets` each), and with more than one stream the [SUM] line (jitter:
    the streams' mean, as iperf3's)."""
    lines = [HEADER]
    for s in streams:
        lines.append(_line(f"[{s['id']:3d}]", seconds, s["bytes"], s["jitter_ms"],
                           s["lost_packets"], s["packets"]))
    if len(streams) > 1:
        jitter = sum(s["jitter_ms"] for s in streams) / len(streams)
        lines.append(_line("[SUM]", seconds, sum(s["bytes"] for s in streams), jitter,
                           sum(s["lost_packets"] for s in streams),
                           sum(s["packets"] for s in streams)))
    return lines


__all__ = ["HEADER", "SEPARATOR", "stream_lines", "units"]
