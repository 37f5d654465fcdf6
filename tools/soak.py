"""Soak run: long, steady, mixed traffic through `wskrecv event` and `wskrecv listen`.

Not a CI test: a benchmark that answers "does a long run stay flat and exact?". It starts
the installed `wskrecv event` and `wskrecv listen -n 16` (both at once, each on its own
loopback port, `--json`), then sends each the same mix at a steady rate for --duration
seconds:

- wskrecv-format datagrams of many sizes (36 B to 9000 B) from several bound loopback
  sources (127.0.0.2...), two streams each, every stream gap-free;
- some of them corrupted (body changed after the CRC-32: `corrupt`, still sequenced);
- lying wskrecv headers (body_len off by one), sockperf and iperf3 headers (not read
  under --seq-format auto), random bytes and zero-length datagrams: all `unsequenced`;
- as root, wskrecv datagrams from thousands of spoofed 127.0.0.0/8 sources (scapy-built
  IP/UDP packets on a raw socket), so the source and stream tables fill and evict.

Every 10 s it samples each receiver's RSS (/proc/PID/status VmRSS). At the end it stops
the receivers with SIGINT, reads their JSON summaries and checks them against its own
counts, exactly: received = sent - kernel_drops, corrupt and unsequenced as sent,
lost = reordered = duplicates = late = restarts = 0 when nothing was dropped, no API
violations, no leaked indications. Exit 0 when everything holds, 1 otherwise.

    python tools/soak.py [--duration 600] [--rate 2000] [--spoofed 3000] [--out soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from wskrecv import payload  # noqa: E402

SIZES = (36, 64, 200, 512, 1400, 4000, 9000)
# One cycle of the mix: what each slot sends (spoof falls back to "wskrecv" when not root).
PATTERN = (
    ["wskrecv"] * 9 + ["corrupt", "lying", "sockperf", "iperf3", "garbage", "empty"]
    + ["spoof"] * 5
)
RECEIVERS = {"event": ["event"], "listen": ["listen", "-n", "16"]}


def rss_kib(pid: int) -> Optional[int]:
    """The process's resident set, KiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Traffic:
    """Builds the mix for one receiver and keeps the counts the summary must match."""

    def __init__(self, port: int, sources: int, spoofed: int, seed: int) -> None:
        self.port = port
        self.rng = random.Random(seed)
        self.socks = []
        for i in range(sources):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f"127.0.0.{2 + i}", 0))
            self.socks.append(s)
        self.seqs: dict[tuple[int, int], int] = {}
        self.counts = {"sent": 0, "sequenced": 0, "corrupt": 0, "unsequenced": 0,
                       "spoofed": 0, "bytes": 0}
        self.raw: Optional[socket.socket] = None
        self.spoof_packets: list[bytearray] = []
        self.spoof_seq: list[int] = []
        if spoofed and os.geteuid() == 0:
            self._craft_spoofed(spoofed)
        self.i = 0

    def _craft_spoofed(self, n: int) -> None:
        """n IP/UDP packets from distinct 127.x.y.z sources, built once with scapy; the
        sequence is patched in place (UDP checksum 0: none, legal for IPv4)."""
        from scapy.layers.inet import IP, UDP

        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        for k in range(n):
            src = f"127.{10 + k // 65536 % 200}.{k // 256 % 256}.{k % 256 or 1}"
            body = payload.build(7, 0, 0, b"s" * 28)
            pkt = IP(src=src, dst="127.0.0.1") / UDP(sport=1024 + k % 60000, dport=self.port,
                                                      chksum=0) / bytes(body)
            self.spoof_packets.append(bytearray(bytes(pkt)))
            self.spoof_seq.append(0)

    def _wskrecv(self, source: int, stream: int, size: int, corrupt: bool = False) -> bytes:
        key = (source, stream)
        seq = self.seqs.get(key, 0)
        self.seqs[key] = seq + 1
        body = bytes([seq & 0xFF]) * (size - payload.HEADER_LEN)
        data = payload.build(stream, seq, time.time_ns(), body)
        if corrupt:
            data[-1] ^= 0xFF
        return bytes(data)

    def send_one(self) -> None:
        kind = PATTERN[self.i % len(PATTERN)]
        self.i += 1
        c = self.counts
        source = self.rng.randrange(len(self.socks))
        size = SIZES[self.i % len(SIZES)]
        if kind == "spoof" and self.raw is not None:
            k = self.rng.randrange(len(self.spoof_packets))
            pkt = self.spoof_packets[k]
            struct.pack_into("!QQ", pkt, 28 + 12, self.spoof_seq[k], time.time_ns())
            self.spoof_seq[k] += 1
            self.raw.sendto(pkt, ("127.0.0.1", 0))
            c["sent"] += 1
            c["sequenced"] += 1
            c["spoofed"] += 1
            c["bytes"] += len(pkt) - 28
            return
        if kind in ("wskrecv", "spoof"):
            data = self._wskrecv(source, source % 2 + self.i % 2, size)
            c["sequenced"] += 1
        elif kind == "corrupt":
            data = self._wskrecv(source, 9, max(size, 64), corrupt=True)
            c["sequenced"] += 1
            c["corrupt"] += 1
        elif kind == "lying":
            data = bytearray(payload.build(3, self.i, 0, b"x" * 40))
            struct.pack_into("!I", data, 28, 41)  # body_len one more than there is
            data = bytes(data)
            c["unsequenced"] += 1
        elif kind == "sockperf":
            data = bytes(payload.build_sockperf(self.i, size))
            c["unsequenced"] += 1
        elif kind == "iperf3":
            data = struct.pack("!III", int(time.time()), 0, self.i) + b"\0" * 50
            c["unsequenced"] += 1
        elif kind == "garbage":
            data = self.rng.randbytes(self.rng.randrange(1, 2000))
            if data[:4] == payload.MAGIC:
                data = b"x" + data
            c["unsequenced"] += 1
        else:  # empty
            data = b""
            c["unsequenced"] += 1
        self.socks[source].sendto(data, ("127.0.0.1", self.port))
        c["sent"] += 1
        c["bytes"] += len(data)

    def close(self) -> None:
        for s in self.socks:
            s.close()
        if self.raw is not None:
            self.raw.close()


def start_receiver(name: str, wskrecv: str) -> tuple[subprocess.Popen, int]:
    cmd = [wskrecv, *RECEIVERS[name], "-b", "127.0.0.1", "-p", "0", "--json", "-i", "60",
           "--no-live"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    start = json.loads(proc.stdout.readline())
    return proc, int(start["port"])


def check(name: str, summary: dict[str, Any], sent: dict[str, int]) -> list[str]:
    """What the summary gets wrong against the sender's counts (empty: all exact)."""
    problems = []
    drops = summary["kernel_drops"]

    def expect(field: str, want: int) -> None:
        if summary[field] != want:
            problems.append(f"{name}: {field} {summary[field]} != {want}")

    expect("received", sent["sent"] - drops)
    expect("violations", 0)
    if drops == 0:
        expect("bytes", sent["bytes"])
        expect("corrupt", sent["corrupt"])
        expect("unsequenced", sent["unsequenced"])
        for field in ("lost", "reordered", "duplicates", "late", "restarts"):
            expect(field, 0)
    if summary.get("leaked", 0):
        problems.append(f"{name}: leaked {summary['leaked']}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--rate", type=int, default=2000, help="datagrams/s to each receiver")
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument("--spoofed", type=int, default=3000, help="spoofed sources (root)")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--wskrecv", default="wskrecv")
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    procs = {name: start_receiver(name, args.wskrecv) for name in RECEIVERS}
    traffic = {name: Traffic(port, args.sources, args.spoofed, seed)
               for seed, (name, (_, port)) in enumerate(procs.items())}
    samples: list[dict[str, Any]] = []
    stop = threading.Event()

    def sampler() -> None:
        t0 = time.monotonic()
        while not stop.wait(args.sample):
            row = {"t": round(time.monotonic() - t0)}
            row.update({n: rss_kib(p.pid) for n, (p, _) in procs.items()})
            samples.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    tick = 0.01
    per_tick = args.rate * tick
    owed = 0.0
    t0 = time.monotonic()
    next_t = t0
    while time.monotonic() - t0 < args.duration:
        owed += per_tick
        n = int(owed)
        owed -= n
        for _ in range(n):
            for t in traffic.values():
                t.send_one()
        next_t += tick
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - t0
    time.sleep(1.0)  # let the receivers drain what is queued
    stop.set()
    problems: list[str] = []
    result: dict[str, Any] = {"duration_s": round(elapsed, 1), "rate": args.rate,
                              "rss_kib": samples, "receivers": {}}
    for name, (proc, _) in procs.items():
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        summary = json.loads(out.strip().splitlines()[-1])
        sent = traffic[name].counts
        problems += check(name, summary, sent)
        if proc.returncode != 0:
            problems.append(f"{name}: exit {proc.returncode}")
        keep = ("received", "bytes", "kernel_drops", "violations", "lost", "reordered",
                "duplicates", "late", "restarts", "corrupt", "unsequenced", "streams",
                "streams_seen", "streams_evicted", "sources_seen", "sources_evicted",
                "leaked", "exit_status")
        result["receivers"][name] = {"sent": sent,
                                     "summary": {k: summary.get(k) for k in keep}}
    for t in traffic.values():
        t.close()
    result["problems"] = problems
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
