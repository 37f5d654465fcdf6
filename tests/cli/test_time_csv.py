"""Wall-clock time in the outputs (issue 24): `start_time` and each interval's `time` in
JSON, `--timestamps` before every human line, `--csv` rows in iperf2's -y C layout; and
the usage errors around them. In-process runs on real loopback sockets (tests/harness.py)."""

from __future__ import annotations

import os
import re
import socket
import time
from datetime import datetime, timezone

import pytest

from tests.harness import receive, wskrecv
from wskrecv import payload

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def seqs(stream: int, numbers: list[int]) -> list[bytes]:
    return [bytes(payload.build(stream, q, time.time_ns(), b"t" * 28)) for q in numbers]


def parsed(text: str) -> datetime:
    assert RFC3339.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def test_json_start_and_every_interval_carry_the_wall_clock_time() -> None:
    before = datetime.now(timezone.utc)
    r = receive("event", "--duration", "0.3", "-i", "0.05", send=seqs(0, list(range(20))))
    after = datetime.now(timezone.utc)
    assert r.status == 0, r.stderr
    start = parsed(r.start["start_time"])
    assert before.replace(microsecond=0) <= start <= after
    times = [parsed(o["time"]) for o in r.of_type("interval")]
    assert len(times) >= 2 and times == sorted(times)
    assert start <= times[0] and times[-1] <= after


def test_timestamps_begin_every_human_line() -> None:
    r = receive("listen", "--duration", "0.2", "-i", "0.05", "--timestamps=<%Y> ",
                send=seqs(0, [0, 1, 3]), json_mode=False)
    assert r.status == 0, r.stderr
    lines = r.stderr.splitlines()
    year = time.strftime("<%Y> ")
    assert lines and all(line.startswith(year) for line in lines), lines
    assert any(line[len(year):].startswith("[") for line in lines)  # interval lines too
    assert any("summary" in line for line in lines)


def test_a_bare_timestamps_is_iperf3s_default_and_leaves_the_next_word_alone() -> None:
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                            "examples", "deep_queue.py")
    r = receive("run", "--timestamps", examples, "--count", "2", "--timeout", "20",
                send=seqs(0, [0, 1]), json_mode=False)
    assert r.status == 0, r.stderr
    first = r.stderr.splitlines()[0]
    # "%c " in the C locale: "Mon Dec  7 04:04:39 2026 wskrecv run: ..."
    assert re.match(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} wskrecv ", first), first


@pytest.mark.parametrize(("args", "named"), [
    (["--csv", "--json"], "--csv and --json"),
    (["--csv", "--dump"], "--csv and --dump"),
    (["--csv", "--pcap", "-"], "--csv and --pcap -"),
    (["--timestamps=" + "x" * 300], "--timestamps"),
    (["--timestamps=bad\0format"], "--timestamps"),
])
def test_bad_combinations_are_one_line_naming_the_options(args: list[str], named: str) -> None:
    r = wskrecv("listen", "-p", "0", *args)
    assert r.status == 2
    assert named in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def rows(text: str) -> list[list[str]]:
    out = [line.split(",") for line in text.splitlines()]
    assert all(len(row) == 14 for row in out), text
    return out


def test_csv_rows_in_iperf2s_layout(receive_core: object) -> None:
    """On each receive core: the rows are its counts."""
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for s in senders:
        s.bind(("127.0.0.1", 0))
    ports = [str(s.getsockname()[1]) for s in senders]

    def send(result: object) -> None:
        address = result.address  # type: ignore[attr-defined]
        for s, plan in zip(senders, ([0, 1, 2, 4, 3, 5], [0, 1, 5, 6])):
            for d in seqs(0, plan):
                s.sendto(d, address)

    try:
        r = receive("event", "--csv", "--per-stream", "--duration", "0.3", "-i", "0.05",
                    json_mode=False, then=send)
    finally:
        for s in senders:
            s.close()
    assert r.status == 0, r.stderr
    table = rows(r.stdout)
    # The run's own rows end the output: all the traffic (id -1), then each stream.
    total, *streams = table[-3:]
    stamp, local, lport, raddr, rport, ident, interval = total[:7]
    assert re.fullmatch(r"\d{14}", stamp) and (local, raddr, rport, ident) == (
        "127.0.0.1", "", "", "-1")
    assert interval.startswith("0.0-") and int(lport) == r.address[1]
    # bytes, bits/s, jitter ms, lost, total, lost %, out of order
    assert (int(total[7]), total[10], total[11], total[13]) == (10 * 64, "3", "13", "1")
    assert float(total[12]) == pytest.approx(100 * 3 / 13, abs=1e-3)
    by_port = {row[4]: row for row in streams}
    assert set(by_port) == set(ports) and all(row[3] == "127.0.0.1" for row in streams)
    assert (by_port[ports[0]][10], by_port[ports[0]][11], by_port[ports[0]][13]) == ("0", "6", "1")
    assert (by_port[ports[1]][10], by_port[ports[1]][11], by_port[ports[1]][13]) == ("3", "7", "0")
    # Interval rows before them: a row for all and one per stream each time; their
    # datagrams add up to the run's.
    intervals = table[:-3]
    assert intervals and sum(int(row[7]) for row in intervals if row[5] == "-1") == 10 * 64
