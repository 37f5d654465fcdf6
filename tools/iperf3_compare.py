"""Loss side by side: iperf3's own server, `wskrecv event --iperf3` and `wskrecv listen
--iperf3` (its default depth), the same real iperf3 client against each.

Not a CI test: a benchmark. It starts the three servers once (each on its own loopback
port, serving test after test), then, round after round, runs every client run
(`iperf3 -c 127.0.0.1 -u -b RATE -l SIZE -t SECONDS -w WINDOW --json`) against each
server in turn, the order rotating from one run to the next, and records what the
client's JSON says the server received and lost. The table gives each server's median
loss over the rounds (and the range). `-w` is the receive buffer every server applies to
its socket for the test, as iperf3 -s does (SO_RCVBUF: the kernel grants twice the value
asked, capped by net.core.rmem_max); the default, 106496, is the 208 KB an unprivileged
iperf3 -s gets by default.

    python tools/iperf3_compare.py [--runs 3G:1400,500M:64] [--rounds 5] [--seconds 2]
                                   [--window 106496] [--out compare.json]
    python tools/iperf3_compare.py --sweep [--sizes 64:25,1400] [--start 100] [--max 6400]

--sweep is the other question, at what rate each server starts to lose: for each size,
from --start Mbit/s doubling up, one test per server per rate, until every server lost
more than --stop percent or the client could not send much faster than at the rate
before.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Optional

SERVERS = {
    "iperf3 -s": lambda port: ["iperf3", "-s", "-p", str(port)],
    "event --iperf3": lambda port: [
        "wskrecv", "event", "--iperf3", "-b", "127.0.0.1", "-p", str(port), "-q"],
    "listen --iperf3": lambda port: [
        "wskrecv", "listen", "--iperf3", "-b", "127.0.0.1", "-p", str(port), "-q"],
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


def one_test(port: int, rate: str, size: int, seconds: float, window: int) -> dict[str, Any]:
    """One iperf3 client run against the server on `port`: what its JSON says."""
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-u", "-b", rate, "-l", str(size),
            "-t", str(seconds), "-w", str(window), "--json"]
    out: dict[str, Any] = {}
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


class Servers:
    """The three servers, each on its own port, for the life of the block."""

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Servers:
        for name, make in SERVERS.items():
            self.ports[name] = free_port()
            self.procs.append(subprocess.Popen(make(self.ports[name]), stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
            wait_listening(self.ports[name])
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def parse_runs(text: str) -> list[tuple[str, int]]:
    """"3G:1400,500M:64" -> [("3G", 1400), ("500M", 64)]."""
    runs = []
    for spec in text.split(","):
        rate, _, size = spec.partition(":")
        runs.append((rate, int(size)))
    return runs


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """Every run against every server, `args.rounds` times; the raw results."""
    names = list(SERVERS)
    runs = parse_runs(args.runs)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        f"{rate}:{size}": {n: [] for n in names} for rate, size in runs}
    turn = 0
    with Servers() as servers:
        for r in range(args.rounds):
            for rate, size in runs:
                order = names[turn % len(names):] + names[:turn % len(names)]
                turn += 1
                for n in order:
                    res = one_test(servers.ports[n], rate, size, args.seconds, args.window)
                    results[f"{rate}:{size}"][n].append(res)
                    print(json.dumps({"round": r + 1, "run": f"-b {rate} -l {size}", "server": n,
                                      **res}), file=sys.stderr, flush=True)
    return {"window": args.window, "seconds": args.seconds, "rounds": args.rounds,
            "results": results}


def side_by_side_table(doc: dict[str, Any]) -> str:
    names = list(SERVERS)
    lines = [f"{doc['rounds']} rounds of {doc['seconds']:g} s per test, every server with the "
             f"client's -w {doc['window']}; median loss (min-max)", "",
             "| client | sent (median) | " + " | ".join(f"{n} lost" for n in names) + " |",
             "|" + " --- |" * (2 + len(names))]
    for run, by_server in doc["results"].items():
        rate, size = run.split(":")
        cells, sent = [], []
        for n in names:
            ok = [x for x in by_server[n] if "error" not in x]
            if not ok:
                cells.append("error: " + (by_server[n][0]["error"][:40] if by_server[n] else "none"))
                continue
            pct = [x["lost_pct"] for x in ok]
            sent += [x["sent"] / doc["seconds"] for x in ok]
            cells.append(f"{statistics.median(pct):.2f}% ({min(pct):.2f}-{max(pct):.2f})")
        rate_k = f"{statistics.median(sent) / 1000:.0f}k dg/s" if sent else "-"
        lines.append(f"| -b {rate} -l {size} | {rate_k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    """From --start Mbit/s doubling up, per size: the rate at which each server loses."""
    names = list(SERVERS)
    rows = []
    with Servers() as servers:
        for spec in args.sizes.split(","):
            size_text, _, first = spec.partition(":")
            size = int(size_text)
            rate, prev_sent, turn = int(first) if first else args.start, 0.0, 0
            while rate <= args.max:
                order = names[turn % 3:] + names[:turn % 3]
                turn += 1
                results = {n: one_test(servers.ports[n], f"{rate}M", size, args.seconds, args.window)
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
    return {"window": args.window, "seconds": args.seconds, "rows": rows}


def sweep_table(doc: dict[str, Any]) -> str:
    names = list(SERVERS)
    head = "| size | rate asked | client sent | " + " | ".join(f"{n}: lost" for n in names) + " |"
    lines = [f"{doc['seconds']:g} s per test, every server with the client's -w {doc['window']}",
             "", head, "|" + " --- |" * (3 + len(names))]
    for row in doc["rows"]:
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


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="3G:1400,500M:64", help="RATE:SIZE,... (iperf3's -b and -l)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--window", type=int, default=106496, help="the client's -w: every "
                    "server's receive buffer (the kernel grants twice this)")
    ap.add_argument("--sweep", action="store_true", help="climb rates instead (see below)")
    ap.add_argument("--sizes", default="64:25,1400", help="--sweep: SIZE[:FIRST_MBIT_S],...")
    ap.add_argument("--start", type=int, default=100, help="--sweep: first rate, Mbit/s")
    ap.add_argument("--max", type=int, default=6400, help="--sweep: highest rate, Mbit/s")
    ap.add_argument("--stop", type=float, default=1.0, help="--sweep: stop a size once every "
                    "server lost more than this percent")
    ap.add_argument("--out", help="write every measurement as JSON")
    args = ap.parse_args(argv)
    for tool in ("iperf3", "wskrecv"):
        if shutil.which(tool) is None:
            print(f"{tool} is not on PATH", file=sys.stderr)
            return 1
    if args.sweep:
        doc = sweep(args)
        print(sweep_table(doc))
    else:
        doc = side_by_side(args)
        print(side_by_side_table(doc))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
