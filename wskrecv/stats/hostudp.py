"""The host's UDP counters (/proc/net/snmp and /proc/net/snmp6), as deltas over a run.

These count every UDP socket on the host, not only ours: `rcvbuf_errors` are datagrams
dropped because some socket's queue was full, `in_csum_errors` datagrams with a bad UDP
checksum, `no_ports` datagrams for a port nobody listens on. IPv4 and IPv6 are added up.
Where the files cannot be read (not Linux, a restricted container) there are no counters.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Callable, Optional

SNMP = "/proc/net/snmp"
SNMP6 = "/proc/net/snmp6"

# JSON name -> the counter's name in /proc/net/snmp (snmp6 prefixes "Udp6").
FIELDS = {
    "in_datagrams": "InDatagrams",
    "in_errors": "InErrors",
    "rcvbuf_errors": "RcvbufErrors",
    "in_csum_errors": "InCsumErrors",
    "no_ports": "NoPorts",
}


def parse_snmp(text: str) -> dict[str, int]:
    """The `Udp:` counters of /proc/net/snmp (a header line, then a values line)."""
    lines = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
    if len(lines) < 2:
        return {}
    names, values = lines[0][1:], lines[1][1:]
    return {k: int(v) for k, v in zip(names, values) if v.lstrip("-").isdigit()}


# One "Udp6Name value" line of /proc/net/snmp6 (the name padded with spaces, then a tab).
_UDP6 = re.compile(r"^Udp6(\w+)[ \t]+(\d+)[ \t]*$", re.M | re.A)


def parse_snmp6(text: str) -> dict[str, int]:
    """The `Udp6*` counters of /proc/net/snmp6 (one "name value" per line), unprefixed.
    Only the lines from the first `Udp6` on are searched: the file has ninety lines of
    other protocols before them, and this runs in every interval report."""
    start = text.find("Udp6")
    if start < 0:
        return {}
    return {name: int(value) for name, value in _UDP6.findall(text, text.rfind("\n", 0, start) + 1)}


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def read_counters(snmp: str = SNMP, snmp6: str = SNMP6) -> Optional[dict[str, int]]:
    """The host's UDP counters now (IPv4 + IPv6), by JSON name; None when unreadable."""
    v4 = _read(snmp)
    if v4 is None:
        return None
    raw4 = parse_snmp(v4)
    if not raw4:
        return None
    text6 = _read(snmp6)
    raw6 = parse_snmp6(text6) if text6 is not None else {}
    return {name: raw4.get(proc, 0) + raw6.get(proc, 0) for name, proc in FIELDS.items()}


class HostUdp:
    """Remembers the counters at the start of a run and reports how far they moved."""

    def __init__(
        self, snmp: str = SNMP, snmp6: str = SNMP6, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.paths = (snmp, snmp6)
        self.clock = clock
        self.start = read_counters(*self.paths)
        self._last: Optional[dict[str, int]] = None
        self._last_t = 0.0

    def delta(self, max_age: float = 0.0) -> Optional[Mapping[str, int]]:
        """Counter increases since the start; None when the counters cannot be read.
        With `max_age`, a reading younger than that many seconds is reused (display frames
        come several times a second; the files take a tenth of a millisecond to read)."""
        if self.start is None:
            return None
        t = self.clock()
        if self._last is not None and max_age > 0 and t - self._last_t < max_age:
            return self._last
        now = read_counters(*self.paths)
        if now is None:
            return None
        self._last = {k: now[k] - self.start.get(k, 0) for k in now}
        self._last_t = t
        return self._last
