"""Honest numbers (issue 13): what a run left unread, the rate while datagrams came,
per-interval loss, the real length of truncated datagrams, records that say which
datagram they are, and the host's counters kept apart from the socket's own. In this
process (tests/harness.py): what a test sends from the start line is all queued before the
run reads anything, as if the receiver were stopped."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import pytest

from tests.harness import Result, receive, send_to
from wskrecv import payload

pytestmark = pytest.mark.network


def wskrecv_datagrams(n: int, size: int = 64, stream: int = 1) -> list[bytes]:
    return [bytes(payload.build(stream, i, 0, b"x" * (size - payload.HEADER_LEN))) for i in range(n)]


@pytest.mark.parametrize(("command", "args"), [("listen", ()), ("listen", ("-n", "1")),
                                               ("event", ()), ("event", ("--pend",))])
def test_datagrams_left_in_the_queue_are_counted_unread(command: str, args: tuple) -> None:
    r = receive(command, *args, "-c", "10", send=wskrecv_datagrams(50))
    status, summary = r.status, r.objs[-1]
    assert status == 0 and summary["received"] == 10
    assert summary["unread_at_exit"] == 40 and summary["unread_complete"] is True
    assert summary["lost"] == 0 and summary["loss_pct"] == 0
    assert summary["loss_at_exit_pct"] == pytest.approx(80.0)  # 40 of 50 never read


def test_max_loss_counts_unread_datagrams_and_tail_drops() -> None:
    r = receive("listen", "-c", "1", "--rcvbuf", "4096", "--max-loss", "1",
                send=wskrecv_datagrams(300, 1000))
    status, summary, err = r.status, r.objs[-1], r.stderr
    # The queue took a few; the kernel dropped the rest, all after the last read: no
    # sequence gap will ever show them, yet they were lost.
    assert summary["received"] == 1
    assert summary["kernel_drops"] > 0
    assert summary["kernel_drops_after_last_read"] == summary["kernel_drops"]
    assert summary["unread_at_exit"] + summary["kernel_drops"] == 299
    assert status == 4 and "unread at exit or dropped after the last read" in err


@pytest.mark.parametrize("command", ["listen", "event"])
def test_max_loss_counts_kernel_drops_of_unsequenced_traffic(command: str) -> None:
    """Datagrams without a sequence: a burst the kernel mostly drops, then one more once
    the first are read (so the drops come before the last read). No gap can show them, and
    the run said lost 0, loss 0%, whatever --max-loss (a --workers run: 36,092 drops)."""
    def more_once_read(r: Result, line: str) -> None:
        if '"type":"interval"' in line and not r.notes and json.loads(line)["received"]:
            r.notes.append(line)
            send_to(r.address, [b"v" * 1000])  # type: ignore[arg-type]

    r = receive(command, "--rcvbuf", "4096", "--timeout", "1", "--interval", "0.05",
                "--max-loss", "1", "--seq-format", "none", send=[b"u" * 1000] * 300,
                each_line=more_once_read)
    s = r.summary
    assert s["kernel_drops"] > 0 and s["kernel_drops_after_last_read"] == 0
    assert s["received"] + s["kernel_drops"] + s["unread_at_exit"] == 301 and s["lost"] == 0
    assert s["loss_at_exit_pct"] == pytest.approx(100.0 * (301 - s["received"]) / 301)
    assert r.status == 4
    assert "dropped by the kernel (queue full) without a sequence gap to show it" in r.stderr


def test_the_human_summary_shows_unread_first_and_host_counters_apart() -> None:
    err = receive("listen", "-c", "2", json_mode=False, send=[b"a", b"b", b"c"]).stderr
    lines = err.splitlines()
    at = {line.split()[0]: i for i, line in enumerate(lines) if line.strip()}
    assert "unread       1 datagram still queued at exit" in err
    assert "kernel drops 0 (this socket; 0 after the last read)" in err
    host = next(line for line in lines if line.startswith("host UDP"))
    assert "(all sockets on this host)" in host
    assert at["kernel"] < at["unread"] < at["host"]  # the socket's own figures first


def test_the_summary_rate_is_over_first_to_last_datagram() -> None:
    # The run goes on idle for a while before and after: that must not dilute the rate.
    r = receive("listen", "-c", "3", "-i", "0", send=[b"1"],
                then=lambda r: send_to(r.address, [b"2", b"3"]))  # type: ignore[arg-type]
    status, s = r.status, r.objs[-1]
    assert status == 0 and s["rate_over"] == "first to last datagram"
    assert 0 <= s["first_s"] <= s["last_s"] <= s["duration_s"]
    span = s["last_s"] - s["first_s"]
    # (first_s and last_s are rounded to the microsecond)
    assert s["datagrams_per_s"] == pytest.approx(2 / span, rel=0.05)
    assert s["datagrams_per_s"] > s["received"] / s["duration_s"]
    assert s["first_time"].endswith("Z") and s["first_time"] <= s["last_time"]


def test_interval_objects_carry_that_intervals_loss() -> None:
    seqs = [0, 1, 2, 5, 6]  # 3 and 4 lost
    r = receive("listen", "-c", "5", "-i", "0.01",
                send=[bytes(payload.build(1, s, 0, b"x" * 28)) for s in seqs])
    status, objs = r.status, r.objs
    intervals = [o for o in objs if o["type"] == "interval"]
    assert status == 0 and objs[-1]["lost"] == 2
    assert all({"interval_lost", "interval_expected", "interval_loss_pct"} <= set(o)
               for o in intervals)
    assert sum(o["interval_lost"] for o in intervals) <= 2


def test_a_truncated_datagram_keeps_its_real_length_and_its_sequence(tmp_path: Path) -> None:
    cap = tmp_path / "t.pcap"
    data = wskrecv_datagrams(1, 1000, stream=7)[0]
    r = receive("listen", "--buffer-size", "512", "-c", "1", "--dump", "--pcap", str(cap),
                send=[data])
    status, summary = r.status, r.objs[-1]
    (rec,) = r.of_type("datagram")
    assert status == 0 and rec["truncated"] and rec["length"] == 512 and rec["orig_len"] == 1000
    assert (rec["stream"], rec["sequence"]) == (7, 0)
    assert rec["dst"] == "127.0.0.1" and rec["dport"] == r.address[1]  # type: ignore[index]
    # Still sequenced, not corrupt: its header fits in the 512 bytes.
    assert summary["unsequenced"] == 0 and summary["corrupt"] == 0 and summary["truncated"] == 1
    raw = cap.read_bytes()
    caplen, wire = struct.unpack_from("<II", raw, 24 + 8)
    assert (caplen, wire) == (20 + 8 + 512, 20 + 8 + 1000)
    ip = raw[24 + 16:]
    total_len = struct.unpack_from("!H", ip, 2)[0]
    udp_len, udp_sum = struct.unpack_from("!HH", ip, 20 + 4)
    assert (total_len, udp_len, udp_sum) == (1028, 1008, 0)  # real lengths, no checksum


def test_dump_records_say_which_datagram_they_are() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as src:
        src.bind(("127.0.0.1", 0))
        run = receive("event", "-c", "2", "--dump", send=wskrecv_datagrams(2, stream=3),
                      source=src)
    recs = run.of_type("datagram")
    assert run.status == 0
    assert [(r["stream"], r["sequence"]) for r in recs] == [(3, 0), (3, 1)]
    assert all(r["dst"] == "127.0.0.1" and r["dport"] == run.address[1] for r in recs)  # type: ignore[index]
    assert all(r["orig_len"] == r["length"] == 64 for r in recs)


def test_a_human_dump_line_says_which_datagram_and_its_real_length() -> None:
    r = receive("listen", "--buffer-size", "512", "-c", "1", "--dump", json_mode=False,
                send=wskrecv_datagrams(1, 1000, stream=7))
    port = r.address[1]  # type: ignore[index]
    assert f"> 127.0.0.1:{port} 512 bytes TRUNC (of 1000) stream 7 seq 0 " in r.stdout


def test_the_rmem_max_cap_is_explained_to_an_unprivileged_user() -> None:
    import subprocess

    from tests.conftest import WSKRECV, unprivileged

    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    if rmem_max >= 64 << 20:
        pytest.skip("net.core.rmem_max already allows the default 64 MiB")
    r = subprocess.run([*unprivileged(), WSKRECV, "listen", "-b", "127.0.0.1", "-p", "0", "-t", "0.1",
                        "--json"], capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode == 0, r.stderr
    start = __import__("json").loads(r.stdout.splitlines()[0])
    assert start["rmem_max"] == rmem_max
    assert "net.core.rmem_max" in start["rcvbuf_note"] and "sysctl -w" in start["rcvbuf_note"]
