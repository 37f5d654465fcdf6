"""The client's test parameters (iperf_api.c send_parameters): what wskrecv serves and what
it refuses, with the iperf3 error the client will print.

wskrecv is a receiver: it serves UDP tests in which the client sends (`iperf3 -c HOST -u`,
with -P, -l, -b, -t, -n, -k, -O...). It refuses, through iperf3's own SERVER_ERROR path:
TCP and SCTP tests, reverse (-R) and bidirectional (--bidir) tests, and authenticated
tests (--username), which need the server's RSA key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from wskrecv.iperf3.protocol import IEAUTHTEST, IENUMSTREAMS, IEPROTOCOL, IEUDPBLOCKSIZE, IEUNIMP
from wskrecv.output.format import nbytes, plural
from wskrecv.shown import shown

MAX_STREAMS = 128  # iperf.h
MIN_UDP_BLOCKSIZE = 16  # two 32-bit ints and a 64-bit int (iperf.h)
MAX_UDP_BLOCKSIZE = 65535 - 8 - 20
VERSION_SHOWN = 64  # characters of the client's version string kept (escaped)


@dataclass(frozen=True)
class Refusal:
    """Why a test is refused: the iperf3 error numbers and wskrecv's own words."""

    i_errno: int
    errno: int
    reason: str


def _int(params: dict[str, Any], key: str, default: int = 0) -> int:
    value = params.get(key, default)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value == value and abs(value) < 2**63:
        return int(value)
    return default


def _float(params: dict[str, Any], key: str) -> float:
    value = params.get(key, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return float(min(max(value, 0.0), 1e12))
    return 0.0


@dataclass(frozen=True)
class TestParams:
    """The parameters wskrecv uses from the client's JSON (absent keys read as iperf3's
    defaults: false, 0)."""

    __test__ = False  # not a pytest class

    protocol: str  # "udp", "tcp" or "sctp"
    parallel: int
    blksize: int
    bandwidth: int  # bits/s, 0 = unlimited
    time: float  # seconds (0 with -n/-k)
    omit: float  # seconds not counted at the start (-O)
    reverse: bool
    bidirectional: bool
    counters_64bit: bool
    get_server_output: bool
    authenticated: bool
    client_version: str
    num: int = 0  # -n: bytes the client sends, then ends (0: not set)
    blockcount: int = 0  # -k: datagrams the client sends, then ends
    window: int = 0  # -w: the socket buffer the client asks the server for (bytes)

    @classmethod
    def parse(cls, params: dict[str, Any]) -> TestParams:
        if params.get("udp"):
            protocol = "udp"
        elif params.get("sctp"):
            protocol = "sctp"
        else:
            protocol = "tcp"  # iperf3 sends "tcp": true, or nothing for TCP in old clients
        version = params.get("client_version")
        return cls(
            protocol=protocol,
            parallel=_int(params, "parallel", 1),
            blksize=_int(params, "len"),
            bandwidth=_int(params, "bandwidth"),
            time=_float(params, "time"),
            omit=_float(params, "omit"),
            reverse=bool(params.get("reverse")),
            bidirectional=bool(params.get("bidirectional")),
            counters_64bit=bool(params.get("udp_counters_64bit")),
            get_server_output=bool(params.get("get_server_output")),
            authenticated="authtoken" in params,
            # The peer's own words: escaped and bounded before anything shows them.
            client_version=shown(version, VERSION_SHOWN) if isinstance(version, str) else "",
            num=max(0, _int(params, "num")),
            blockcount=max(0, _int(params, "blockcount")),
            window=max(0, _int(params, "window")),
        )

    @property
    def seq_format(self) -> str:
        """The payload format wskrecv reads the streams' sequences with."""
        return "iperf3-64" if self.counters_64bit else "iperf3"

    def refusal(self) -> Optional[Refusal]:
        """Why wskrecv cannot serve this test, or None."""
        if self.protocol != "udp":
            return Refusal(IEPROTOCOL, 0, f"{self.protocol.upper()} test: wskrecv serves UDP "
                           "tests only (iperf3 -u)")
        if self.reverse or self.bidirectional:
            which = "reverse (-R)" if self.reverse else "bidirectional (--bidir)"
            return Refusal(IEUNIMP, 0, f"{which} test: wskrecv only receives")
        if self.authenticated:
            return Refusal(IEAUTHTEST, 0, "authenticated test (--username): not supported")
        if not 1 <= self.parallel <= MAX_STREAMS:
            return Refusal(IENUMSTREAMS, 0, f"{self.parallel} parallel streams (1-{MAX_STREAMS})")
        if self.blksize and not MIN_UDP_BLOCKSIZE <= self.blksize <= MAX_UDP_BLOCKSIZE:
            return Refusal(IEUDPBLOCKSIZE, 0, f"datagram length {self.blksize}")
        return None

    def describe(self) -> str:
        """A few words for the log: UDP, 4 streams, 64-byte datagrams, 20 Mbit/s, 2 s."""
        parts = [self.protocol.upper(), plural(self.parallel, "stream")]
        if self.blksize:
            parts.append(f"{self.blksize}-byte datagrams")
        if self.bandwidth:
            parts.append(f"{self.bandwidth / 1e6:g} Mbit/s")
        # How the client ends the test: -n bytes, -k datagrams, else -t seconds.
        if self.num:
            parts.append(f"until {nbytes(self.num)} sent (-n)")
        elif self.blockcount:
            parts.append(f"until {plural(self.blockcount, 'datagram')} sent (-k)")
        elif self.time:
            parts.append(f"{self.time:g} s")
        if self.omit:
            parts.append(f"omit {self.omit:g} s")
        if self.counters_64bit:
            parts.append("64-bit counters")
        if self.client_version:
            parts.append(f"client {self.client_version}")
        return ", ".join(parts)
