"""Loss side by side: iperf3's own server vs `wskrecv event --iperf3` vs
`wskrecv listen --iperf3 -n 64`, the same iperf3 client against each.

Not a CI test: a benchmark. It starts the three servers once (each on its own loopback
port, serving test after test), then for each datagram size and each rate, from
--start Mbit/s doubling up, runs `iperf3 -c 127.0.0.1 -u -b RATE -l SIZE -t SECONDS -w
RCVBUF --json` against each server in turn (the order rotates from rate to rate), and
records what the client's JSON says the server received and lost. A size stops climbing
once every server lost more than --stop percent, or the client could not send much
faster than at the previous rate.

All three receive with the same socket buffer: iperf3's server takes the client's -w,
wskrecv gets --rcvbuf. The figures depend on the machine and what else runs on it;
compare the servers within one run.

    python tools/iperf3_compare.py [--sizes 64:25,1400] [--seconds 2] [--rcvbuf 262144]
                                   [--start 100] [--max 6400] [--out compare.json]

`--sizes` lists datagram sizes, each with its own first rate after a colon if --start
does not suit it (64-byte datagrams at 100 Mbit/s are 195,000 a second: more than one
iperf3 client sends on a small machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
from typing import Any, Optional

SERVERS = {
    "iperf3 -s": lambda port, rcvbuf: ["iperf3", "-s", "-p", str(port)],
    "wskrecv event --iperf3": lambda port, rcvbuf: [
        "wskrecv", "event", "--iperf3", "-b", "127.0.0.1", "-p", str(port), "--rcvbuf",
        str(rcvbuf), "-q"],
    "wskrecv listen --iperf3 -n 64": lambda port, rcvbuf: [
        "wskrecv", "listen", "-n", "64", "--iperf3", "-b", "127.0.0.1", "-p", str(port),
        "--rcvbuf", str(rcvbuf), "-q"],
}


def free_port() -> int:
    """A port free for both TCP and UDP right now."""
    while True:
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def wait_listening(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        # The probe counts as a failed control connection; the servers carry on.
        time.sleep(0.2)
        return
    raise SystemExit(f"no server listening on port {port}")


def one_test(port: int, rate_m: int, size: int, seconds: float, rcvbuf: int) -> dict[str, Any]:
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-u", "-b", f"{rate_m}M", "-l",
            str(size), "-t", str(seconds), "-w", str(rcvbuf), "--json"]
    for attempt in range(3):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        try:
            out = json.loads(r.stdout)
        except ValueError:
            out = {"error": r.stderr.strip() or "no output"}
        if "error" not in out:
            break
        time.sleep(1 + attempt)  # the server may still be closing the previous test
    if "error" in out:
        return {"error": out["error"]}
    rx, tx = out["end"]["sum_received"], out["end"]["sum_sent"]
    return {
        "sent": tx["packets"],
        "sent_mbit_s": round(tx["bits_per_second"] / 1e6, 1),
        "packets": rx["packets"],
        "lost": rx["lost_packets"],
        "lost_pct": round(100.0 * rx["lost_packets"] / rx["packets"], 3) if rx["packets"] else 0.0,
        "received": rx["packets"] - rx["lost_packets"],
        # Sent but never reached the highest sequence the server saw: lost at the tail.
        "unseen": tx["packets"] - rx["packets"],
    }


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="64:25,1400", help="SIZE[:FIRST_MBIT_S],...")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rcvbuf", type=int, default=262144)
    ap.add_argument("--start", type=int, default=100, help="first rate, Mbit/s")
    ap.add_argument("--max", type=int, default=6400, help="highest rate, Mbit/s")
    ap.add_argument("--stop", type=float, default=1.0, help="stop a size once every server "
                    "lost more than this percent")
    ap.add_argument("--out", help="write every measurement as JSON")
    args = ap.parse_args(argv)
    for tool in ("iperf3", "wskrecv"):
        if shutil.which(tool) is None:
            print(f"{tool} is not on PATH", file=sys.stderr)
            return 1
    procs, ports = [], {}
    try:
        for name, make in SERVERS.items():
            ports[name] = free_port()
            procs.append(subprocess.Popen(make(ports[name], args.rcvbuf),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_listening(ports[name])
        rows = []
        names = list(SERVERS)
        for spec in args.sizes.split(","):
            size_text, _, first = spec.partition(":")
            size = int(size_text)
            rate, prev_sent, turn = int(first) if first else args.start, 0.0, 0
            while rate <= args.max:
                order = names[turn % 3:] + names[:turn % 3]
                turn += 1
                results = {n: one_test(ports[n], rate, size, args.seconds, args.rcvbuf)
                           for n in order}
                row = {"size": size, "rate_mbit_s": rate, "servers": results}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                ok = [r for r in results.values() if "error" not in r]
                sent = max((r["sent_mbit_s"] for r in ok), default=0.0)
                if ok and all(r["lost_pct"] > args.stop for r in ok):
                    break
                if prev_sent and sent < prev_sent * 1.2:
                    break  # the client cannot go faster: rates above are the same test
                prev_sent = sent
                rate *= 2
        print(table(rows, names, args))
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"rcvbuf": args.rcvbuf, "seconds": args.seconds, "rows": rows}, f,
                          indent=1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return 0


def table(rows: list[dict[str, Any]], names: list[str], args: argparse.Namespace) -> str:
    head = "| size | rate asked | client sent | " + " | ".join(f"{n}: lost" for n in names) + " |"
    lines = [f"{args.seconds:g} s per test, receive buffer asked {args.rcvbuf} bytes for all",
             "", head, "|" + " --- |" * (3 + len(names))]
    for row in rows:
        cells = []
        sent = []
        for n in names:
            r = row["servers"][n]
            if "error" in r:
                cells.append(f"error: {r['error'][:40]}")
                continue
            sent.append(r["sent_mbit_s"])
            cells.append(f"{r['lost']}/{r['packets']} ({r['lost_pct']:.2f}%)")
        lines.append(f"| {row['size']} B | {row['rate_mbit_s']} Mbit/s | "
                     f"{min(sent, default=0):g}-{max(sent, default=0):g} Mbit/s | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
