"""A network engineer's habits (issue 13): addresses as they are typed and shown, refused
sends, one count per source. In this process (tests/harness.py): the sends run from the
receiver's start line."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import skip_no_ipv6
from tests.harness import Result, address_in, receive, wskrecv

pytestmark = pytest.mark.network


def _send(*args: str, expect: int = 0) -> tuple[dict, str]:
    r = wskrecv("send", *args, "--json")
    assert r.returncode == expect, r.stderr
    (line,) = r.stdout.splitlines()
    return json.loads(line), r.stderr


def _closed_port() -> int:
    """A loopback port nobody listens on (bound for a moment, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_send_nobody_receives_is_refused_and_exits_1() -> None:
    report, err = _send("127.0.0.1", str(_closed_port()), "-c", "50", expect=1)
    assert report["sent"] == 50 and report["refused"] == 50
    assert "every datagram was refused" in err
    r = wskrecv("send", "127.0.0.1", str(_closed_port()), "-c", "5")
    assert r.returncode == 1 and "5 refused (nothing listening?)" in r.stderr


def test_a_send_somebody_receives_refuses_nothing() -> None:
    def send(r: Result) -> None:
        r.notes.append(_send("127.0.0.1", str(r.address[1]), "-c", "20")[0])  # type: ignore[index]

    r = receive("listen", "-c", "20", then=send)
    (report,) = r.notes
    assert r.status == 0 and report["refused"] == 0 and r.objs[-1]["received"] == 20


def test_several_sources_each_send_the_count_from_their_real_address() -> None:
    def send(r: Result) -> None:
        r.notes.append(_send("127.0.0.1", str(r.address[1]), "--src", "127.0.0.2",  # type: ignore[index]
                             "--src", "127.0.0.3", "-c", "100")[0])

    r = receive("listen", "-c", "200", then=send)
    (report,) = r.notes
    assert report["sent"] == 200 and r.status == 0
    summary = r.objs[-1]
    by_source = {f"{s['address']}:{s['port']}": s["datagrams"] for s in summary["sources"]}
    # The report names the real source address and port, the receiver saw each send 100.
    assert by_source == {report["sources"][0]: 100, report["sources"][1]: 100}
    assert all(not s.endswith(":0") for s in report["sources"])


def test_host_port_in_one_argument() -> None:
    r = receive("listen", "-c", "3",
                then=lambda r: _send(f"127.0.0.1:{r.address[1]}", "-c", "3"))  # type: ignore[index]
    assert r.status == 0 and r.objs[-1]["received"] == 3
    r = wskrecv("send", "127.0.0.1:9", "10")
    assert r.returncode == 2 and "give one" in r.stderr


@skip_no_ipv6
def test_bracketed_ipv6_is_accepted_wherever_an_address_is_taken() -> None:
    def send(r: Result) -> None:
        port = r.address[1]  # type: ignore[index]
        _send("[::1]", str(port), "-c", "2")
        _send(f"[::1]:{port}", "-c", "1", "--src", "[::1]")
        _send("::1", str(port), "-c", "1")

    r = receive("listen", "-c", "4", bind="[::1]", then=send)
    assert r.address == ("::1", r.start["port"])
    assert r.status == 0 and r.objs[-1]["received"] == 4


def test_one_of_a_thing_is_singular() -> None:
    def send(r: Result) -> None:
        r.notes.append(wskrecv("send", "127.0.0.1", str(r.address[1]), "-c", "1", "-s", "1",  # type: ignore[index]
                               "--seq-format", "none"))

    run = receive("listen", "-c", "1", "--dump", json_mode=False, then=send)
    (sent,) = run.notes
    assert run.status == 0 and "sent 1 datagram," in sent.stderr
    assert "received     1 datagram," in run.stderr
    assert " 1 byte " in run.stdout


@skip_no_ipv6
def test_the_default_bind_is_dual_stack_and_shows_ipv4_plainly(tmp_path) -> None:  # noqa: ANN001
    cap = tmp_path / "d.pcap"

    def send(start: str) -> None:
        address, port = address_in(start)
        assert address == "::"
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.sendto(b"hello", (host, port))

    r = wskrecv("listen", "-p", "0", "-c", "2", "--json", "--dump", "--pcap", str(cap),
                on_start=send)
    out, objs = r.stdout, r.objs
    dumps = [o for o in objs if o["type"] == "datagram"]
    summary = objs[-1]
    assert r.status == 0 and summary["received"] == 2
    assert sorted(d["src"] for d in dumps) == ["127.0.0.1", "::1"]
    assert sorted(s["address"] for s in summary["sources"]) == ["127.0.0.1", "::1"]
    assert "::ffff:" not in out
    # The capture agrees: the IPv4 datagram is an IPv4 packet from 127.0.0.1.
    raw = cap.read_bytes()
    first = raw[24 + 16:]
    versions = set()
    offset = 24
    while offset < len(raw):
        caplen = int.from_bytes(raw[offset + 8:offset + 12], "little")
        versions.add(raw[offset + 16] >> 4)
        if raw[offset + 16] >> 4 == 4:
            assert raw[offset + 16 + 12:offset + 16 + 16] == socket.inet_aton("127.0.0.1")
        offset += 16 + caplen
    assert versions == {4, 6} and first
