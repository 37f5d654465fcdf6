"""`--replay FILE`: a capture's UDP datagrams fed to the client instead of a socket, on the
capture's clock. A live run's own --pcap reproduces its counts; the same replay twice
gives the same JSON, byte for byte; listen, event and run all take one; --pcap writes
what the client took; --replay-filter; bad captures and bad options. In this process
(tests/harness.py): nothing here needs a socket but the live run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.capture import builders
from tests.cli.replays import COUNTS, PORT, T0, capture, datagrams, frame
from tests.harness import receive, wskrecv
from wskrecv.capture import open_capture_file

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")


@pytest.fixture(scope="module")
def cap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture(tmp_path_factory.mktemp("replay") / "cap.pcap", 400)


def test_a_replay_of_a_live_runs_capture_gives_its_counts(tmp_path: Path) -> None:
    live = tmp_path / "live.pcap"
    sent = datagrams(300)
    sent[10], sent[11] = sent[11], sent[10]  # one reordered
    del sent[50]  # one lost
    sent.append(sent[100])  # one duplicate
    r = receive("listen", "--count", str(len(sent)), "--timeout", "60", "--pcap", str(live),
                send=sent)
    assert r.status == 0, r.stderr
    run = r.summary
    assert (run["received"], run["lost"], run["reordered"], run["duplicates"]) == (300, 1, 1, 1)
    port = str(r.address[1])  # type: ignore[index]
    for command in ("listen", "event"):
        got = wskrecv(command, "-p", port, "--replay", str(live), "--json", "-i", "0").summary
        assert {k: got[k] for k in COUNTS} == {k: run[k] for k in COUNTS}, command
        # The capture's times are the kernel times the run counted with.
        assert got["first_time"] == run["first_time"] and got["last_time"] == run["last_time"]
        assert got["latency_ms"] == run["latency_ms"] and got["jitter_ms"] == run["jitter_ms"]
        assert got["reason"] == "end of capture" and got["unread_at_exit"] == 0


def test_the_same_replay_twice_gives_the_same_json(cap: Path) -> None:
    args = ("event", "-p", str(PORT), "--replay", str(cap), "--json", "-i", "0.05", "--pend",
            "--hold", "3", "--inject", "all=0.1", "--inject", "fail-socket=0", "--seed", "11")
    first, second = wskrecv(*args), wskrecv(*args)
    assert first.status == second.status == 0, first.stderr
    assert first.out == second.out  # start, every interval, the summary: byte for byte
    # Every 50 ms of capture time, to the last release (3 ms after the last datagram).
    assert [i["t"] for i in first.of_type("interval")] == [round(0.05 * n, 3) for n in range(1, 9)]
    faults = first.summary["faults"]
    assert faults["seed"] == 11 and faults["injected"] > 0 and faults["verdict"] == "recovered"
    start = first.start
    assert start["replay"] == str(cap) and start["replay_filter"] == f"dst port {PORT}"
    assert start["seed"] == 11 and "rcvbuf" not in start


@pytest.mark.parametrize("command", [("listen",), ("listen", "-n", "1"), ("event",),
                                     ("event", "--pend", "--hold", "5"),
                                     ("run", str(EXAMPLES / "deep_queue.py"))], ids=" ".join)
def test_every_receive_style_replays(cap: Path, command: tuple[str, ...]) -> None:
    r = wskrecv(*command, "-p", str(PORT), "--replay", str(cap), "--json", "-i", "0")
    assert r.status == 0, r.stderr
    s = r.summary
    assert (s["received"], s["lost"], s["reordered"], s["violations"]) == (400, 0, 0, 0)
    assert s["first_time"] == "2023-11-14T22:13:20.000000Z"  # capture time
    assert s["last_time"] == "2023-11-14T22:13:20.399000Z"


def test_keep_every_gives_every_datagram_of_a_short_list_back_by_wskrelease(cap: Path) -> None:
    # Short lists (injected): one shorter than --keep-every has no Nth datagram to keep.
    # Released whole inside the callback and then STATUS_SUCCESS was ReleasedThenReturned;
    # handed back with STATUS_SUCCESS, they were never WskReleased. Its last is kept.
    r = wskrecv("event", "--keep-every", "2", "--hold", "1", "-p", str(PORT), "--replay",
                str(cap), "--json", "-i", "0", "--inject", "short-list=1", "--seed", "1")
    assert r.status == 0, r.stderr
    s = r.summary
    assert s["faults"]["by_kind"]["short-list"]["recovered"] == s["faults"]["injected"] > 0
    assert (s["received"], s["released"], s["violations"], s["leaked"]) == (400, 400, 0, 0)
    assert 0 < s["released_in_callback"] < 400


def test_pcap_during_a_replay_writes_what_the_client_took(tmp_path: Path, cap: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent("""\
        from wskrecv.client import *

        class Client:
            \"\"\"Takes 7 datagrams, then no more.\"\"\"

            def __init__(self):
                self.irp = IoAllocateIrp()
                self.taken = 0

            def start(self, socket):
                self.socket = socket
                self.post()

            def post(self):
                IoSetCompletionRoutine(self.irp, self.done, None)
                WskReceiveFrom(self.socket, WSK_BUF(bytearray(2048)), 0, None, None, None, None,
                               self.irp)

            def done(self, device, irp, context):
                self.taken += 1
                if self.taken < 7 and irp.io_status.status == STATUS_SUCCESS:
                    IoReuseIrp(irp, STATUS_SUCCESS)
                    self.post()
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                WskCloseSocket(self.socket)
                IoFreeIrp(self.irp)
        """))
    out = tmp_path / "took.pcap"
    r = wskrecv("run", str(client), "-p", str(PORT), "--replay", str(cap), "--json", "-i", "0",
                "--pcap", str(out))
    assert r.status == 0, r.stderr
    s = r.summary
    assert s["received"] == 7 and s["unread_at_exit"] == 393
    assert s["reason"] == "the client takes no more datagrams"
    with open_capture_file(str(out)) as reader:
        took = list(reader.datagrams())
    assert [d.data for d in took] == datagrams(7)
    assert [d.time_ns for d in took] == [T0 + i * 1_000_000 for i in range(7)]


def test_the_filter_picks_datagrams_by_address_and_port(tmp_path: Path) -> None:
    frames = []
    for i, d in enumerate(datagrams(30)):
        src = "10.0.0.1" if i % 3 == 0 else "10.0.1.2"
        frames.append((T0 + i * 1000, frame(d, sport=4000 + i % 2, dport=PORT + i % 2, src=src)))
    path = tmp_path / "mixed.pcap"
    path.write_bytes(builders.pcap(frames, 101))

    def received(*filters: str) -> int:
        r = wskrecv("event", "-p", str(PORT), "--replay", str(path), "--json", "-i", "0",
                    *filters)
        if r.status == 2:  # nothing matched
            assert "no UDP datagram matches" in r.stderr
            return 0
        assert r.status == 0, r.stderr
        return r.summary["received"]

    assert received() == 15  # to the bound port
    assert received("--replay-filter", "udp") == 30
    assert received("--replay-filter", "src host 10.0.0.1") == 10
    assert received("--replay-filter", "src net 10.0.1.0/24 and dst port 9001") == 10
    assert received("--replay-filter", "port 4001") == 15
    assert received("--replay-filter", "src port 4001 and dst port 9000") == 0


def test_a_pcapng_capture_replays_and_intervals_fall_on_capture_time(tmp_path: Path) -> None:
    path = tmp_path / "cap.pcapng"
    blocks = [builders.shb(), builders.idb(101, tsresol=9)]
    blocks += [builders.epb(0, T0 + i * 10_000_000, frame(d)) for i, d in enumerate(datagrams(50))]
    path.write_bytes(b"".join(blocks))
    r = wskrecv("listen", "-p", str(PORT), "--replay", str(path), "--json", "-i", "0.1")
    assert r.status == 0, r.stderr
    assert r.summary["received"] == 50
    intervals = r.of_type("interval")
    assert [i["received"] for i in intervals] == [10, 20, 30, 40]  # every 100 ms of capture


def test_a_capture_cut_short_replays_what_is_whole_and_says_so(tmp_path: Path) -> None:
    whole = capture(tmp_path / "whole.pcap", 20).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-30])
    r = wskrecv("listen", "-p", str(PORT), "--replay", str(cut), "--json", "-i", "0")
    assert r.status == 2
    s = r.summary
    assert s["received"] == 19 and s["reason"] == "capture cut short" and s["exit_status"] == 2
    assert r.stderr == (f"wskrecv: error: {cut}: cut short: the last record has 82 of its 112 "
                        "bytes (30 missing); the whole records before it were read\n")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "{path} is empty"),
    (b"GET / HTTP/1.1\r\n\r\n" * 4, "{path} is not a pcap or pcapng capture"),
    (builders.pcap([(0, b"x" * 40)], 147), "{path}: link type 147 is not a link type wskrecv reads "
     "(Ethernet (1), BSD loopback (0), OpenBSD loopback (108), raw IP (101), raw IPv4 (228), "
     "raw IPv6 (229), Linux cooked (SLL) (113), Linux cooked v2 (SLL2) (276))"),
    (builders.pcap([(T0, frame(b"elsewhere", dport=53))], 101),
     "{path}: no UDP datagram matches dst port 9000 (1 frames read); choose them with --port "
     "or --replay-filter"),
])
def test_a_file_with_nothing_to_replay_is_one_line_and_exit_2(tmp_path: Path, content: bytes,
                                                              message: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    r = wskrecv("listen", "-p", str(PORT), "--replay", str(path), "--json")
    assert r.status == 2 and r.out == b""
    assert r.stderr == f"wskrecv: error: {message.format(path=path)}\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--replay-filter", "udp"), "--replay-filter picks datagrams of a --replay capture"),
    (("--replay", "x.pcap", "--workers", "2"), "not with --workers"),
    (("--replay", "x.pcap", "--fd", "0"), "not with --fd"),
    (("--replay", "x.pcap", "--iperf3"), "not with --iperf3"),
    (("--replay", "x.pcap", "--live"), "not with --live"),
    (("--replay", "missing.pcap"), "missing.pcap: No such file or directory"),
])
def test_bad_replay_options_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    r = wskrecv("listen", "-p", str(PORT), *args)
    assert r.status == 2
    assert len(r.stderr.splitlines()) == 1 and message in r.stderr


@pytest.mark.parametrize(("expr", "message"), [
    ("port", "`port` needs a value after it"),
    ("port 70000", "port '70000': a port is a number from 0 to 65535"),
    ("host 10.0.0.0/8", "host '10.0.0.0/8' is a network: say `net 10.0.0.0/8`"),
    ("src", "`src` needs host ADDR, net ADDR/LEN or port N after it"),
    ("udp or port 1", "expected `and` before 'or' (terms join with `and` only)"),
    ("dst port 9000 and", "nothing after the last `and`"),
    ("proto 17", "'proto' is not a filter term (host, net, port, udp; optionally after src or "
                 "dst)"),
])
def test_a_bad_filter_says_which_word_is_wrong(cap: Path, expr: str, message: str) -> None:
    r = wskrecv("listen", "-p", str(PORT), "--replay", str(cap), "--replay-filter", expr)
    assert r.status == 2
    assert r.stderr == f"wskrecv: error: --replay-filter {expr!r}: {message}\n"
