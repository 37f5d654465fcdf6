"""Captures to replay, built in memory: raw IPv4 frames (link type 101) carrying wskrecv's
payload header, one stream, one millisecond apart, as `--pcap` and tcpdump would have
them; and the summary fields a replay must reproduce."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from tests.capture import builders
from wskrecv import payload

PORT = 9000
T0 = 1_700_000_000_000_000_000  # the first datagram's capture time (ns)

# The figures a replay of a run's own --pcap gives exactly (timing aside).
COUNTS = ("received", "bytes", "truncated", "lost", "reordered", "duplicates", "late", "corrupt",
          "unsequenced", "loss_pct", "reorder_pct", "streams_tracked", "streams_seen",
          "restarts", "sizes", "sources", "sources_seen")


def frame(data: bytes, sport: int = 40000, dport: int = PORT, src: str = "127.0.0.1",
          dst: str = "127.0.0.1") -> bytes:
    """An IPv4 frame (no link header) of a UDP datagram (checksum 0: none, legal in IPv4)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + udp


def datagrams(n: int, size: int = 64) -> list[bytes]:
    """n payloads with wskrecv's header: stream 1, sequences 0..n-1."""
    return [bytes(payload.build(1, seq, T0 + seq * 1_000_000, b"." * max(0, size - 32)))
            for seq in range(n)]


def capture(path: Path, n: int, size: int = 64, gap_ns: int = 1_000_000,
            dport: int = PORT) -> Path:
    """A pcap of n datagrams to `dport`, `gap_ns` apart."""
    frames = [(T0 + i * gap_ns, frame(d, dport=dport)) for i, d in enumerate(datagrams(n, size))]
    path.write_bytes(builders.pcap(frames, 101))
    return path


__all__ = ["COUNTS", "PORT", "T0", "capture", "datagrams", "frame"]
