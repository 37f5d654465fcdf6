"""The capture reader on files built in memory from scapy's frames: every link type, pcap
in either byte order and resolution, pcapng with several sections and interfaces, IP
fragments, snap-length cuts, files cut short or corrupt. No network. Each test runs with
both cores' batch scanners (receive_core)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether, Loopback, LoopbackOpenBSD

from tests.capture import builders as b
from wskrecv import core as cores
from wskrecv.capture import CaptureError, CaptureReader, open_capture_file
from wskrecv.capture.reader import Datagram

# What these tests check is computed by the receive core: they run on each (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_core")

T0 = 1_700_000_000_123_456_789


def read(data: bytes, port: int = 0, chunk: int = 1 << 20) -> tuple[list[Datagram], CaptureReader]:
    reader = CaptureReader(io.BytesIO(data), "test.cap", port, cores.current().scan, chunk=chunk)
    return list(reader.datagrams()), reader


def udp4(payload: bytes, sport: int = 4000, dport: int = 5000, src: str = "10.0.0.1",
         dst: str = "10.0.0.2") -> Any:
    return IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload


def udp6(payload: bytes, sport: int = 4000, dport: int = 5000) -> Any:
    return IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=sport, dport=dport) / payload


V4 = (("10.0.0.1", 4000), ("10.0.0.2", 5000))
V6 = (("fd00::1", 4000, 0, 0), ("fd00::2", 5000, 0, 0))

# Each link type's frames around the same IP packets: (linktype, wrap(ip packet) -> frame).
LINKS = {
    1: lambda p: bytes(Ether() / p),
    101: bytes,
    0: lambda p: bytes(Loopback(type=2 if p.version == 4 else 30) / p),
    108: lambda p: bytes(LoopbackOpenBSD(type=2 if p.version == 4 else 24) / p),
    113: lambda p: bytes(CookedLinux(proto=0x0800 if p.version == 4 else 0x86DD) / p),
    276: lambda p: bytes(CookedLinuxV2(proto=0x0800 if p.version == 4 else 0x86DD) / p),
}


@pytest.mark.parametrize("linktype", sorted(LINKS))
def test_every_link_type_gives_the_datagrams_with_their_addresses_and_times(linktype: int) -> None:
    wrap = LINKS[linktype]
    frames = [(T0, wrap(udp4(b"four"))), (T0 + 1000, wrap(udp6(b"six"))),
              (T0 + 2000, wrap(IP(src="10.0.0.1", dst="10.0.0.2") / TCP() / b"tcp")),
              (T0 + 3000, wrap(udp4(b"elsewhere", dport=9)))]
    got, reader = read(b.pcap(frames, linktype))
    assert [(d.time_ns, d.src, d.dst, d.data, d.wire_length) for d in got] == [
        (T0, *V4, b"four", 4), (T0 + 1000, *V6, b"six", 3), (T0 + 3000, V4[0], ("10.0.0.2", 9),
                                                               b"elsewhere", 9)]
    assert reader.frames == 4 and reader.skipped()["not_udp"] == 1
    got, reader = read(b.pcap(frames, linktype), port=5000)
    assert [d.data for d in got] == [b"four", b"six"]
    assert reader.skipped()["other_port"] == 1


def test_ethernet_padding_vlan_tags_and_frames_that_are_not_ip() -> None:
    short = bytes(Ether() / udp4(b"x"))  # padded to 60 bytes on the wire
    padded = short + b"\0" * (60 - len(short))
    frames = [(T0, padded), (T0 + 1, bytes(Ether() / Dot1Q(vlan=7) / Dot1Q(vlan=8) / udp6(b"qinq"))),
              (T0 + 2, bytes(Ether() / ARP())), (T0 + 3, bytes(Ether())[:10])]
    got, reader = read(b.pcap(frames, 1))
    assert [d.data for d in got] == [b"x", b"qinq"]
    assert reader.skipped()["not_ip"] == 1 and reader.skipped()["malformed"] == 1


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_in_either_byte_order_and_resolution(big: bool, nano: bool) -> None:
    frames = [(T0 + i * 1_000_000, bytes(udp4(bytes([i])))) for i in range(3)]
    got, reader = read(b.pcap(frames, 101, big=big, nano=nano))
    expected = [t if nano else t // 1000 * 1000 for t, _ in frames]
    assert [d.time_ns for d in got] == expected and reader.format == "pcap"


def test_pcapng_sections_interfaces_resolutions_and_block_kinds() -> None:
    eth = bytes(Ether() / udp4(b"eth"))
    raw = bytes(udp6(b"raw"))
    data = b"".join([
        b.shb(big=True),
        b.idb(1, big=True, tsresol=9),  # interface 0: Ethernet, nanoseconds
        b.idb(101, big=True, tsresol=0x80 | 20, tsoffset=100),  # 1: raw IP, 2^-20 s, +100 s
        b.epb(0, T0, eth, big=True),
        b.epb(1, 3 << 20, raw, big=True),  # 3 s after the epoch, plus the offset
        b.block(0xBAD, b"an unknown block is skipped", big=True),
        b.opb(0, T0 + 5, eth, big=True),
        b.isb(0, 42, big=True),
        b.shb(),  # a new section, little-endian: interfaces start again
        b.idb(113),  # microseconds by default
        b.epb(0, T0 // 1000, bytes(CookedLinux(proto=0x0800) / udp4(b"sll"))),
        b.spb(eth),  # no time of its own: the last one's
    ])
    got, reader = read(data)
    assert [(d.data, d.time_ns) for d in got] == [
        (b"eth", T0), (b"raw", 103_000_000_000), (b"eth", T0 + 5), (b"sll", T0 // 1000 * 1000)]
    assert reader.format == "pcapng" and reader.drops == {0: 42}
    assert reader.frames == 5  # the simple packet block's frame is Ethernet on an SLL interface


def test_ipv4_and_ipv6_fragments_are_reassembled_whatever_their_order() -> None:
    big4 = udp4(bytes(range(256)) * 8)
    pieces4 = [bytes(f) for f in fragment(big4, fragsize=512)]
    big6 = IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment() / UDP(sport=4000, dport=5000) \
        / (b"six" * 700)
    pieces6 = [bytes(f) for f in fragment6(big6, 1280)]
    assert len(pieces4) > 2 and len(pieces6) > 1
    order = pieces4[::-1] + pieces6
    got, reader = read(b.pcap([(T0 + i, f) for i, f in enumerate(order)], 101))
    assert [d.data for d in got] == [bytes(range(256)) * 8, b"six" * 700]
    assert got[0].time_ns == T0 + len(pieces4) - 1  # when its last piece came
    assert reader.fragments.reassembled == 2 and reader.skipped()["fragments_incomplete"] == 0


def test_fragments_that_overlap_or_never_complete_are_counted_not_delivered() -> None:
    pieces = [bytes(f) for f in fragment(udp4(b"y" * 3000), fragsize=1000)]
    frames = [pieces[0], pieces[1], pieces[1], pieces[2],  # a piece twice: overlapping
              *[bytes(f) for f in fragment(udp4(b"z" * 3000, sport=1), fragsize=1000)][:2]]
    got, reader = read(b.pcap([(T0 + i, f) for i, f in enumerate(frames)], 101))
    assert got == [] and reader.skipped()["fragments_incomplete"] == 2


def test_a_datagram_cut_by_the_snap_length_is_truncated_and_a_cut_header_malformed() -> None:
    whole = bytes(Ether() / udp4(b"p" * 100))
    frames = [(T0, whole[:60]), (T0 + 1, whole[:30]), (T0 + 2, whole)]
    got, reader = read(b.pcap(frames, 1, wire={0: len(whole), 1: len(whole)}))
    assert [(len(d.data), d.wire_length, d.truncated) for d in got] == [(18, 100, True), (100, 100, False)]
    assert reader.skipped()["malformed"] == 1


def test_ipv6_extension_headers_are_walked() -> None:
    frame = bytes(IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrDestOpt() / UDP(sport=4000, dport=5000)
                  / b"ext")
    got, _ = read(b.pcap([(T0, frame)], 101))
    assert [(d.src, d.data) for d in got] == [(V6[0], b"ext")]


def test_a_file_cut_inside_a_record_reads_the_whole_ones_and_says_how_much_is_missing() -> None:
    data = b.pcap([(T0 + i, bytes(udp4(b"q" * 50))) for i in range(3)], 101)
    got, reader = read(data[:-20])
    assert len(got) == 2
    assert reader.problem == ("test.cap: cut short: the last record has 74 of its 94 bytes "
                              "(20 missing); the whole records before it were read")
    got, reader = read(data[:-(78 + 10)])  # inside the last record's header
    assert len(got) == 2 and "6 stray bytes" in (reader.problem or "")


def test_a_corrupt_record_length_stops_the_reading_there() -> None:
    data = bytearray(b.pcap([(T0 + i, bytes(udp4(b"q"))) for i in range(3)], 101))
    data[24 + 16 + 29 + 8:24 + 16 + 29 + 12] = (1 << 30).to_bytes(4, "little")
    got, reader = read(bytes(data))
    assert len(got) == 1 and "corrupt at byte 69" in (reader.problem or "")
    assert reader.cut_bytes == len(data) - 69


def test_pcapng_cut_short_and_a_block_whose_lengths_differ() -> None:
    data = b.shb() + b.idb(101) + b"".join(b.epb(0, i, bytes(udp4(b"n"))) for i in range(3))
    got, reader = read(data[:-8])
    assert len(got) == 2 and "cut short" in (reader.problem or "")
    bad = bytearray(data)
    bad[-4] ^= 0xFF
    got, reader = read(bytes(bad))
    assert len(got) == 2 and "two lengths differ" in (reader.problem or "")


@pytest.mark.parametrize("content, message", [
    (b"", "test.cap is empty"),
    (b"GET / HTTP/1.1\r\n\r\n" * 3, "test.cap is not a pcap or pcapng capture"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "test.cap: the pcap header is cut short (6 of 24 bytes)"),
])
def test_what_is_not_a_capture_is_said_naming_the_file(content: bytes, message: str) -> None:
    with pytest.raises(CaptureError) as info:
        read(content)
    assert str(info.value) == message


def test_an_unknown_link_type_names_it_and_what_is_read() -> None:
    with pytest.raises(CaptureError, match=r"test.cap: link type 147 is not a link type wskrecv "
                                           r"reads \(Ethernet \(1\), "):
        read(b.pcap([(T0, b"x")], 147))
    got = b.shb() + b.idb(101) + b.idb(147) + b.epb(0, 1, bytes(udp4(b"ok"))) + b.epb(1, 2, b"?")
    reader = CaptureReader(io.BytesIO(got), "ng.cap", 0, cores.current().scan)
    with pytest.raises(CaptureError, match=r"ng.cap: link type 147 \(interface 1\)"):
        list(reader.datagrams())


def test_small_reads_give_the_same_datagrams() -> None:
    frames = [(T0 + i, LINKS[1](udp4(bytes([i]) * i))) for i in range(40)]
    for data in (b.pcap(frames, 1), b.shb() + b.idb(1, tsresol=9)
                 + b"".join(b.epb(0, t, f) for t, f in frames)):
        whole, _ = read(data)
        for chunk in (1, 7, 64):
            assert read(data, chunk=chunk)[0] == whole


def test_files_gzip_and_missing(tmp_path: Any) -> None:
    import gzip

    path = tmp_path / "run.pcap.gz"
    path.write_bytes(gzip.compress(b.pcap([(T0, bytes(udp4(b"gz")))], 101)))
    with open_capture_file(str(path)) as reader:
        assert [d.data for d in reader.datagrams()] == [b"gz"]
    with pytest.raises(CaptureError, match="nothing.pcap: No such file or directory"):
        open_capture_file(str(tmp_path / "nothing.pcap"))
