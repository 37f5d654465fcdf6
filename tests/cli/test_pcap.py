"""`--pcap`: the capture holds exactly the datagrams the summary counts, however the run ends.
In this process (tests/harness.py), but for a run a signal ends."""

from __future__ import annotations

import io
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

from tests.conftest import Wskrecv, read_line, receive_argv, skip_no_ipv6
from tests.harness import receive, send_to, wskrecv
from wskrecv.cli import cli

# Every command with the shared receive options (listen, event, ...), found by introspection.
RECEIVE_COMMANDS = sorted(
    name for name, cmd in cli.commands.items() if any(p.name == "pcap" for p in cmd.params)
)


def summary_of(objs: list[dict]) -> dict:
    (summary,) = [o for o in objs if o["type"] == "summary"]
    return summary


def wait_received(w: Wskrecv, n: int) -> None:
    """Read interval lines until the receiver reports `n` datagrams counted."""
    while True:
        line = read_line(w.proc.stdout, 10)
        assert line, w.proc.stderr.read()
        if f'"received":{n},' in line:
            return


@pytest.mark.parametrize("command", RECEIVE_COMMANDS)
def test_ipv4_capture_has_addresses_ports_payloads_and_kernel_times(command: str, tmp_path: Path) -> None:
    cap = tmp_path / "v4.pcap"
    payloads = [b"first", b"", b"x" * 1400]
    argv = receive_argv(command)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as src:
        src.bind(("127.0.0.1", 0))
        source = src.getsockname()
        # To 127.0.0.3: the destination comes from packet info, not the bound 0.0.0.0.
        r = receive(*argv, "--count", "3", "--pcap", str(cap), bind="0.0.0.0",
                    then=lambda r: send_to(("127.0.0.3", r.address[1]), payloads, src))  # type: ignore[index]
    status, objs, err = r.status, r.after_start, r.stderr
    assert status == 0, err
    packets = rdpcap(str(cap))
    assert len(packets) == summary_of(objs)["received"] == 3
    for pkt, payload in zip(packets, payloads):
        assert (pkt[IP].src, pkt[UDP].sport) == source
        assert (pkt[IP].dst, pkt[UDP].dport) == ("127.0.0.3", r.address[1])
        assert bytes(pkt[UDP].payload) == payload
    times = [float(p.time) for p in packets]
    assert times == sorted(times) and times[0] > 1_600_000_000


@skip_no_ipv6
@pytest.mark.parametrize("command", RECEIVE_COMMANDS)
def test_ipv6_capture(command: str, tmp_path: Path) -> None:
    cap = tmp_path / "v6.pcap"
    r = receive(*receive_argv(command), "--count", "2", "--pcap", str(cap), bind="::1", send=[b"one", b"two"])
    status = r.status
    assert status == 0
    packets = rdpcap(str(cap))
    assert [bytes(p[UDP].payload) for p in packets] == [b"one", b"two"]
    assert all(p[IPv6].src == p[IPv6].dst == "::1" and p[UDP].dport == r.address[1] for p in packets)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_capture_is_complete_after_a_signal(signum: int, tmp_path: Path) -> None:
    cap = tmp_path / "sig.pcap"
    with Wskrecv("listen", "--interval", "0.05", "--outstanding", "4", "--pcap", str(cap)) as w:
        w.send([b"%d" % i for i in range(50)])
        wait_received(w, 50)
        w.signal(signum)
        status, objs, _ = w.finish()
    assert status == 0
    packets = rdpcap(str(cap))
    assert len(packets) == summary_of(objs)["received"] == 50
    assert [bytes(p[UDP].payload) for p in packets] == [b"%d" % i for i in range(50)]


def test_capture_after_a_deadline_holds_what_arrived(tmp_path: Path) -> None:
    cap = tmp_path / "deadline.pcap"
    r = receive("listen", "--count", "5", "--timeout", "0.5", "--pcap", str(cap), send=[b"a", b"b"])
    status, objs = r.status, r.after_start
    assert status == 3
    assert len(rdpcap(str(cap))) == summary_of(objs)["received"] == 2


def test_count_leaves_later_datagrams_out_of_the_capture(tmp_path: Path) -> None:
    cap = tmp_path / "count.pcap"
    r = receive("listen", "--count", "4", "--outstanding", "8", "--pcap", str(cap), "--dump",
                send=[bytes([i]) for i in range(20)])
    status, objs = r.status, r.after_start
    dumped = [bytes.fromhex(o["data"]) for o in objs if o["type"] == "datagram"]
    captured = [bytes(p[UDP].payload) for p in rdpcap(str(cap))]
    assert status == 0 and captured == dumped == [bytes([i]) for i in range(4)]


def test_a_truncated_datagram_is_captured_as_received(tmp_path: Path) -> None:
    cap = tmp_path / "trunc.pcap"
    r = receive("listen", "--count", "1", "--buffer-size", "10", "--pcap", str(cap),
                send=[b"0123456789ABCDEF"])
    status, objs = r.status, r.after_start
    assert status == 0 and summary_of(objs)["truncated"] == 1
    (pkt,) = rdpcap(str(cap))
    assert bytes(pkt[UDP].payload) == b"0123456789"


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_tcpdump_reads_the_capture(tmp_path: Path) -> None:
    cap = tmp_path / "td.pcap"
    r = receive("listen", "--count", "3", "--pcap", str(cap), send=[b"abc", b"defg", b"hijkl"])
    assert r.status == 0
    port = r.address[1]  # type: ignore[index]
    td = subprocess.run(
        ["tcpdump", "-nn", "-vv", "-r", str(cap)], capture_output=True, text=True, timeout=30
    )
    assert td.returncode == 0, td.stderr
    lines = [line for line in td.stdout.splitlines() if f"> 127.0.0.1.{port}:" in line]
    assert len(lines) == 3
    assert all("[udp sum ok]" in line for line in lines)
    assert [line.rsplit("length ", 1)[1] for line in lines] == ["3", "4", "5"]


def test_pcap_to_stdout_is_a_valid_capture_and_dump_lines_move_to_stderr() -> None:
    r = receive("listen", "-c", "2", "--pcap", "-", "--dump", json_mode=False,
                send=[b"to", b"stdout"])
    assert r.status == 0, r.stderr
    assert f"127.0.0.1:{r.address[1]}" in r.stderr.splitlines()[0]  # type: ignore[index]
    packets = rdpcap(io.BytesIO(r.out))
    assert [bytes(p[UDP].payload) for p in packets] == [b"to", b"stdout"]
    assert "7374646f7574" in r.stderr  # the --dump line for b"stdout", on stderr


def test_pcap_to_stdout_with_json_is_a_usage_error() -> None:
    r = wskrecv("listen", "--port", "0", "--pcap", "-", "--json")
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert "--pcap -" in line and "--json" in line


@pytest.mark.parametrize("where", ["missing-dir/x.pcap", "."])
def test_unwritable_capture_path_exits_one_and_leaves_no_file(where: str, tmp_path: Path) -> None:
    target = tmp_path / where
    r = wskrecv("listen", "--bind", "127.0.0.1", "--port", "0", "--pcap", str(target))
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"wskrecv: error: cannot write capture {target}: ")
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "missing-dir").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_capture_that_cannot_be_flushed_exits_one(tmp_path: Path) -> None:
    """Room for the file's header and no more (/dev/full fails at once now, before
    anything is received): the record written at the end fails, after the summary."""
    import json
    import subprocess

    from tests.cli.test_output_faults import small_disk
    from tests.conftest import WSKRECV, free_udp_port, popen, read_line

    cap, port = tmp_path / "cap.pcap", free_udp_port()
    with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", str(port), "--count", "1",
                "--pcap", str(cap), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True, preexec_fn=small_disk(24)) as proc:
        assert '"type":"start"' in read_line(proc.stdout, 20)
        _send_one(port)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert json.loads(out.splitlines()[-1])["received"] == 1  # the summary still came out
    last = err.strip().splitlines()[-1]
    assert last == f"wskrecv: error: cannot write capture {cap}: File too large"


def _send_one(port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", port))


def test_a_failed_bind_creates_no_capture_file(tmp_path: Path) -> None:
    target = tmp_path / "never.pcap"
    r = wskrecv("listen", "--bind", "192.0.2.1", "--port", "0", "--pcap", str(target))
    assert r.returncode == 1 and "cannot bind" in r.stderr
    assert not target.exists()
