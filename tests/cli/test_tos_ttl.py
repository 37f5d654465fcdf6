"""The packet's own fields (issue 24): `--tos-ttl` counts each received TOS byte (DSCP,
ECN; IPv6 traffic class) and TTL (hop limit) per value in the summary and JSON, `--dump`
shows them per datagram, and `wskrecv send --tos/--ttl` sets them. Real loopback sockets."""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Optional

import pytest

from tests.conftest import Wskrecv, skip_no_ipv6
from tests.harness import receive, wskrecv
from wskrecv import payload
from wskrecv.generator.udp import IPV6_TCLASS
from wskrecv.provider.mmsg import IP_RECVTOS, IP_RECVTTL, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS
from wskrecv.tos import describe, parse_tos

PLAN = [(0xB8, 7, 4), (0x8B, 64, 3), (0x00, 200, 2)]  # (TOS, TTL, datagrams) per sender


def sender(family: int, tos: int, ttl: int) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    v6 = family == socket.AF_INET6
    s.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP,
                 IPV6_TCLASS if v6 else socket.IP_TOS, tos)
    s.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP,
                 socket.IPV6_UNICAST_HOPS if v6 else socket.IP_TTL, ttl)
    return s


def send_plan(address: tuple, family: int) -> None:
    for tos, ttl, n in PLAN:
        with sender(family, tos, ttl) as s:
            for i in range(n):
                s.sendto(bytes(payload.build(0, i, 0, b"")), address[:2])


@pytest.mark.parametrize("bind", ["127.0.0.1", pytest.param("::1", marks=skip_no_ipv6)])
@pytest.mark.parametrize("command", ["listen", "event"])
def test_each_value_is_counted_as_sent(command: str, bind: str, receive_core: object) -> None:
    """On each receive core: its reader parses the control messages."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    total = sum(n for _, _, n in PLAN)
    r = receive(command, "--tos-ttl", "--count", str(total), "--timeout", "20", bind=bind,
                then=lambda res: send_plan(res.address, family))
    assert r.status == 0, r.stderr
    s = r.summary
    assert s["tos"] == [{"value": t, "dscp": t >> 2, "ecn": t & 3, "datagrams": n}
                        for t, _, n in sorted(PLAN)]
    assert s["ttl"] == [{"value": ttl, "datagrams": n} for _, ttl, n in sorted(PLAN, key=lambda p: p[1])]
    assert all(o["tos"] is not None for o in r.of_type("interval")) or not r.of_type("interval")


def test_without_tos_ttl_nothing_is_asked_or_reported() -> None:
    r = receive("listen", "--count", "3", "--timeout", "20",
                then=lambda res: send_plan(res.address, socket.AF_INET))
    assert r.status == 0 and r.summary["tos"] is None and r.summary["ttl"] is None


def test_dump_shows_each_datagrams_tos_and_ttl() -> None:
    r = receive("listen", "--dump", "--count", "9", "--timeout", "20",
                then=lambda res: send_plan(res.address, socket.AF_INET))
    assert r.status == 0, r.stderr
    got = [(d["tos"], d["ttl"]) for d in r.of_type("datagram")]
    assert got == [(t, ttl) for t, ttl, n in PLAN for _ in range(n)]
    human = receive("listen", "--dump", "--count", "9", "--timeout", "20", json_mode=False,
                    then=lambda res: send_plan(res.address, socket.AF_INET))
    assert " tos 0xb8 ttl 7 " in human.stdout and " tos 0x00 ttl 200 " in human.stdout
    assert "tos          0xb8 DSCP 46 EF, ECN Not-ECT: 4" in human.stderr


def test_the_human_summary_names_dscp_and_ecn() -> None:
    r = receive("event", "--tos-ttl", "--count", "9", "--timeout", "20", json_mode=False,
                then=lambda res: send_plan(res.address, socket.AF_INET))
    lines = {line[:12].strip(): line[13:] for line in r.stderr.splitlines() if line[:3] in ("tos", "ttl")}
    assert lines["tos"].startswith("0xb8 DSCP 46 EF, ECN Not-ECT: 4, 0x8b DSCP 34 AF41, ECN CE: 3")
    assert lines["ttl"].startswith("7: 4, 64: 3, 200: 2")


def test_workers_sum_their_counts() -> None:
    with Wskrecv("event", "--workers", "2", "--tos-ttl", "--count", "9", "--timeout", "20") as rx:
        send_plan((rx.address, rx.port), socket.AF_INET)
        status, objs, err = rx.finish()
    assert status == 0, err
    (s,) = [o for o in objs if o["type"] == "summary"]
    assert {t["value"]: t["datagrams"] for t in s["tos"]} == {t: n for t, _, n in PLAN}


def _fields_of(data: bytes, anc: list) -> tuple[Optional[int], Optional[int]]:
    tos = ttl = None
    for level, kind, value in anc:
        if (level, kind) in ((socket.IPPROTO_IP, socket.IP_TOS), (socket.IPPROTO_IPV6, IPV6_TCLASS)):
            tos = value[0] if len(value) < 4 else struct.unpack("@i", value[:4])[0]
        elif (level, kind) in ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, 52)):
            ttl = struct.unpack("@i", value[:4])[0]
    return tos, ttl


@pytest.mark.parametrize("raw", [False, True], ids=["udp", "raw"])
@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=skip_no_ipv6)])
def test_send_sets_tos_and_ttl(host: str, raw: bool) -> None:
    if raw and os.geteuid() != 0:
        pytest.skip("raw IP needs root (CAP_NET_RAW)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as rx:
        rx.bind((host, 0))
        if family == socket.AF_INET6:
            rx.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
            rx.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        else:
            rx.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
            rx.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        port = rx.getsockname()[1]
        r = wskrecv("send", host, str(port), "-c", "2", "--tos", "AF41+CE", "--ttl", "9",
                    *(["--raw"] if raw else []))
        assert r.status == 0, r.stderr
        rx.settimeout(10)
        got = [_fields_of(*rx.recvmsg(2048, 256)[:2]) for _ in range(2)]
    assert got == [(parse_tos("AF41+CE"), 9)] * 2 == [(0x8B, 9)] * 2


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("0xb8", 0xB8), ("184", 184), ("ef", 0xB8),
                                             ("CS1", 32), ("le", 4), ("AF11+ECT(0)", 0x2A),
                                             ("voice-admit+ce", 0xB3)])
def test_tos_names_and_numbers(text: str, value: int) -> None:
    assert parse_tos(text) == value


@pytest.mark.parametrize("bad", ["256", "-1", "EX", "EF+XX", "0x100", ""])
def test_a_bad_tos_is_one_line_naming_the_option(bad: str) -> None:
    r = wskrecv("send", "127.0.0.1", "9", "-c", "1", "--tos", bad)
    assert r.status == 2 and "--tos" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_describe() -> None:
    assert describe(0xB8) == "0xb8 DSCP 46 EF, ECN Not-ECT"
    assert describe(0x03) == "0x03 DSCP 0 CS0, ECN CE"
    assert describe(0x3C) == "0x3c DSCP 15, ECN Not-ECT"
    assert json.dumps(describe(0)) == '"0x00 DSCP 0 CS0, ECN Not-ECT"'
