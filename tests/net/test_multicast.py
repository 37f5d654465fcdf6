"""Multicast and devices (issue 24): `--join` (IPv4, IPv6, on a dual-stack socket),
`--join-source` (source-specific), `--iface` and `--bind-dev`, between two network
namespaces the test makes, joined by a veth pair (root: `ip netns add`; skipped with the
reason elsewhere); and the usage errors, which need no namespace.

A sender and a receiver must sit in different namespaces: a packet that arrives with a
source address of its own host is dropped as martian."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import WSKRECV
from tests.harness import wskrecv

pytestmark = pytest.mark.network

IP = shutil.which("ip") or ""
V4_SENDERS = ("10.200.0.1", "10.200.0.3")
V6_SENDERS = ("fd00:200::1", "fd00:200::3")
V6_SENDER = V6_SENDERS[0]
GROUP4, GROUP6 = "239.1.2.3", "ff15::1234"
SSM6 = "ff35::1234"  # IPv6 source-specific groups are ff3x::/32

SENDER = """
import socket, sys
from wskrecv import payload
group, port, src, n, stream = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
v6 = ":" in group
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
if v6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("va"))
else:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
s.bind((src, 0))
for i in range(n):
    s.sendto(bytes(payload.build(stream, i, 0, b"mc")), (group, port))
"""


def _ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def namespaces() -> Iterator[tuple[str, str]]:
    """Two namespaces, A (sender: va, 10.200.0.1 and .3, fd00:200::1 and ::3) and B (receiver: vb,
    10.200.0.2, fd00:200::2; and vd, the end of a veth pair that leads nowhere)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if not IP:
        pytest.skip("the ip command (iproute2) is not installed")
    tag = uuid.uuid4().hex[:6]
    a, b = f"wskrecv-a-{tag}", f"wskrecv-b-{tag}"
    try:
        _ip("netns", "add", a)
        _ip("netns", "add", b)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot make network namespaces here: {exc}")
    try:
        _ip("link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b)
        for cmd in (["link", "set", "lo", "up"], ["link", "set", "va", "up"],
                    ["addr", "add", "10.200.0.1/24", "dev", "va"],
                    ["addr", "add", "10.200.0.3/24", "dev", "va"],
                    ["-6", "addr", "add", f"{V6_SENDERS[0]}/64", "dev", "va", "nodad"],
                    ["-6", "addr", "add", f"{V6_SENDERS[1]}/64", "dev", "va", "nodad"]):
            _ip("-n", a, *cmd)
        for cmd in (["link", "set", "lo", "up"], ["link", "set", "vb", "up"],
                    ["addr", "add", "10.200.0.2/24", "dev", "vb"],
                    ["-6", "addr", "add", "fd00:200::2/64", "dev", "vb", "nodad"],
                    ["link", "add", "vc", "type", "veth", "peer", "name", "vd"],
                    ["link", "set", "vc", "up"], ["link", "set", "vd", "up"]):
            _ip("-n", b, *cmd)
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run([IP, "netns", "del", ns], capture_output=True, timeout=30)


def receive(ns: str, *args: str, send: list[tuple[str, str, int, int]], count: int,
            timeout: str = "10") -> tuple[int, list[dict[str, Any]], str]:
    """`wskrecv event ARGS --json` in namespace `ns` on a fixed port; once it has said it
    receives, each (group, source, datagrams, stream) is sent from namespace A."""
    a = ns.replace("-b-", "-a-")
    argv = [IP, "netns", "exec", ns, WSKRECV, "event", "--port", "6000", "--json",
            "--count", str(count), "--timeout", timeout, "-i", "0", *args]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as rx:
        try:
            assert rx.stdout is not None
            start = rx.stdout.readline()
            assert start, rx.stderr.read() if rx.stderr else ""
            for group, source, n, stream in send:
                subprocess.run([IP, "netns", "exec", a, sys.executable, "-c", SENDER, group, "6000",
                                source, str(n), str(stream)], check=True, timeout=30)
            out, err = rx.communicate(timeout=30)
        finally:
            if rx.poll() is None:
                rx.kill()
    objs = [json.loads(line) for line in (start + out).splitlines() if line.strip()]
    return rx.returncode, objs, err


def summary_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (s,) = [o for o in objs if o["type"] == "summary"]
    return s


# What the receiving tests check passes through the reader (native or Python: both).
def test_an_ipv4_group_on_a_dual_stack_socket(namespaces: tuple[str, str], receive_core: Any) -> None:
    _, b = namespaces
    status, objs, err = receive(b, "--join", GROUP4, "--iface", "vb", count=5,
                                send=[(GROUP4, V4_SENDERS[0], 5, 1)])
    assert status == 0, err
    start, s = objs[0], summary_of(objs)
    assert start["joined"] == [{"group": GROUP4, "source": None, "iface": "vb"}]
    assert start["address"] == "::" and s["received"] == 5 and s["lost"] == 0
    assert s["multicast"] == 5  # the model's MSG_MCAST: the destination was the group


@pytest.mark.parametrize(("group", "bind", "sources"), [
    (GROUP4, "0.0.0.0", V4_SENDERS), (SSM6, "::", V6_SENDERS)], ids=["ipv4", "ipv6"])
def test_a_source_specific_join_hears_that_sender_only(
    namespaces: tuple[str, str], receive_core: Any, group: str, bind: str, sources: tuple[str, str]
) -> None:
    _, b = namespaces
    # The other sender goes first: a join that let it through would count its datagrams.
    status, objs, err = receive(b, "--bind", bind, "--join", group, "--join-source",
                                sources[0], "--iface", "vb", count=4,
                                send=[(group, sources[1], 6, 2), (group, sources[0], 4, 1)])
    assert status == 0, err
    s = summary_of(objs)
    assert [src["address"] for src in s["sources"]] == [sources[0]] and s["received"] == 4
    assert objs[0]["joined"] == [{"group": group, "source": sources[0], "iface": "vb"}]


def test_an_ipv6_group_and_a_bound_device(namespaces: tuple[str, str], receive_core: Any) -> None:
    _, b = namespaces
    status, objs, err = receive(b, "--join", GROUP6, "--bind-dev", "vb", count=3,
                                send=[(GROUP6, V6_SENDER, 3, 0)])
    assert status == 0, err
    assert objs[0]["bind_dev"] == "vb"
    assert objs[0]["joined"] == [{"group": GROUP6, "source": None, "iface": "vb"}]  # bind-dev's
    assert summary_of(objs)["received"] == 3


def test_an_interface_by_index_each_stream_and_the_multicast_ttl(
    namespaces: tuple[str, str], receive_core: Any
) -> None:
    """--iface takes the interface's index; each sender's stream is its own row with what
    was sent; --tos-ttl sees the multicast TTL a sender leaves alone: 1."""
    _, b = namespaces
    link = subprocess.run([IP, "-n", b, "-o", "link", "show", "vb"], check=True,
                          capture_output=True, text=True, timeout=30).stdout
    index = link.split(":", 1)[0]
    status, objs, err = receive(b, "--bind", "0.0.0.0", "--join", GROUP4, "--iface", index,
                                "--tos-ttl", count=9,
                                send=[(GROUP4, V4_SENDERS[0], 5, 1), (GROUP4, V4_SENDERS[1], 4, 2)])
    assert status == 0, err
    assert objs[0]["joined"] == [{"group": GROUP4, "source": None, "iface": "vb"}]
    s = summary_of(objs)
    rows = {(r["address"], r["stream"]): (r["received"], r["lost"], r["expected"])
            for r in s["streams"]}
    assert rows == {(V4_SENDERS[0], 1): (5, 0, 5), (V4_SENDERS[1], 2): (4, 0, 4)}
    assert s["ttl"] == [{"value": 1, "datagrams": 9}] and s["multicast"] == 9


def test_bound_to_another_device_nothing_arrives(namespaces: tuple[str, str]) -> None:
    _, b = namespaces
    status, objs, _ = receive(b, "--join", GROUP4, "--iface", "vb", "--bind-dev", "vd", count=1,
                              timeout="1", send=[(GROUP4, V4_SENDERS[0], 3, 0)])
    assert status == 3 and summary_of(objs)["received"] == 0


@pytest.mark.parametrize(("args", "says"), [
    (["--join", "10.0.0.1"], "--join 10.0.0.1: not a multicast address"),
    (["--join", "nonsense"], "--join nonsense: not an IPv4 or IPv6 address"),
    (["--join", "239.1.1.1", "--iface", "nosuch9"], "--iface nosuch9: no such interface"),
    (["--join", "239.1.1.1", "--iface", "lo"], "--iface lo: the interface does not do multicast"),
    (["--bind-dev", "nosuch9"], "--bind-dev nosuch9: no such interface"),
    (["--join-source", "10.0.0.1"], "--join-source picks the senders of the --join groups"),
    (["--iface", "lo"], "--iface picks the interface the --join groups are joined on"),
    (["--join", "239.1.1.1", "--join-source", "239.1.1.2"], "--join-source 239.1.1.2: a source"),
    (["--join", "239.1.1.1", "--join-source", "::1"], "--join-source ::1: no --join group is IPv6"),
    (["--join", GROUP6, "--bind", "127.0.0.1"], f"--join {GROUP6}: an IPv6 group needs an IPv6 socket"),
    (["--join", GROUP4, "--workers", "2"], "--join with --workers"),
])
def test_bad_multicast_options_are_one_line_naming_the_option(args: list[str], says: str) -> None:
    r = wskrecv("listen", "--port", "0", *args)
    assert r.status == 2, r.stderr
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
