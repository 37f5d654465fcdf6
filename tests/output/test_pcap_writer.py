"""The pcap writer, byte for byte, read back with scapy (no network)."""

from __future__ import annotations

import errno
import io
import os
import struct
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

from wskrecv.errors import OsFailure
from wskrecv.output.pcap import (
    LINKTYPE_RAW,
    MAGIC_NS,
    PcapWriter,
    internet_checksum,
    ones_complement_sum,
    open_capture,
)


def write(*records: tuple) -> bytes:
    out = io.BytesIO()
    w = PcapWriter(out, close_stream=False)
    for r in records:
        w.write(*r)
    w.close()
    return out.getvalue()


def read(raw: bytes) -> list:
    return list(rdpcap(io.BytesIO(raw)))


def test_rfc1071_checksum_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_complement_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D


@pytest.mark.parametrize(
    "data", [b"", b"\0\0", b"\xff\xff", b"\xff\xff\xff\xff", b"\x01", bytes(range(256)) * 7]
)
def test_big_integer_sum_matches_the_word_loop(data: bytes) -> None:
    padded = data + b"\0" * (len(data) & 1)
    total = 0
    for i in range(0, len(padded), 2):
        total += padded[i] << 8 | padded[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    assert ones_complement_sum(data) == total


def test_global_header_is_nanosecond_pcap_with_raw_ip() -> None:
    raw = write()
    magic, major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert (magic, major, minor, linktype) == (MAGIC_NS, 2, 4, LINKTYPE_RAW)
    assert snaplen >= 65535 + 48 and len(raw) == 24


def test_ipv4_record_has_real_addresses_ports_checksums_and_timestamp() -> None:
    ts = 1_700_000_000_123_456_789
    raw = write((b"payload", ("127.0.0.1", 40000), ("127.0.0.3", 5001), ts))
    (pkt,) = read(raw)
    assert IP in pkt and UDP in pkt
    assert (pkt[IP].src, pkt[IP].dst) == ("127.0.0.1", "127.0.0.3")
    assert (pkt[UDP].sport, pkt[UDP].dport) == (40000, 5001)
    assert bytes(pkt[UDP].payload) == b"payload"
    assert pkt[IP].len == 20 + 8 + 7 and pkt[UDP].len == 8 + 7
    # scapy recomputes both checksums when they are deleted: they must be the same.
    rebuilt = IP(bytes(pkt[IP]))
    del rebuilt.chksum
    del rebuilt[UDP].chksum
    rebuilt = IP(bytes(rebuilt))
    assert rebuilt.chksum == pkt[IP].chksum and rebuilt[UDP].chksum == pkt[UDP].chksum
    sec, nsec = struct.unpack("<II", raw[24:32])
    assert sec * 10**9 + nsec == ts


def test_ipv6_record_has_a_valid_udp_checksum() -> None:
    raw = write((b"six" * 11, ("::1", 1234), ("::1", 5001), 10**18))
    (pkt,) = read(raw)
    assert IPv6 in pkt and (pkt[IPv6].src, pkt[IPv6].dst) == ("::1", "::1")
    assert pkt[IPv6].plen == 8 + 33 and pkt[UDP].dport == 5001
    rebuilt = IPv6(bytes(pkt[IPv6]))
    del rebuilt[UDP].chksum
    assert IPv6(bytes(rebuilt))[UDP].chksum == pkt[UDP].chksum != 0


def test_ipv4_mapped_and_scoped_addresses_are_written_as_on_the_wire() -> None:
    raw = write(
        (b"a", ("::ffff:127.0.0.1", 1), ("::ffff:127.0.0.2", 2), 1),
        (b"b", ("fe80::1%lo", 3), ("fe80::2%lo", 4), 2),
    )
    v4, v6 = read(raw)
    assert (v4[IP].src, v4[IP].dst) == ("127.0.0.1", "127.0.0.2")
    assert (v6[IPv6].src, v6[IPv6].dst) == ("fe80::1", "fe80::2")


def test_a_destination_of_the_other_family_becomes_unspecified() -> None:
    # A dual-stack socket bound to :: without packet info knows no IPv4 destination.
    (pkt,) = read(write((b"x", ("127.0.0.1", 1), ("::", 5001), 1)))
    assert pkt[IP].dst == "0.0.0.0" and pkt[UDP].dport == 5001


def test_a_truncated_datagram_has_caplen_below_len() -> None:
    raw = write((b"0123456789", ("127.0.0.1", 1), ("127.0.0.1", 2), 5, 100))
    caplen, length = struct.unpack("<II", raw[32:40])
    assert caplen == 20 + 8 + 10 and length == 20 + 8 + 100
    (pkt,) = read(raw)
    assert pkt[IP].len == 128 and pkt[UDP].len == 108
    assert pkt[UDP].chksum == 0  # not computable over a payload we do not have (IPv4: "none")


def test_zero_length_and_largest_datagrams() -> None:
    big = bytes(range(256)) * 255 + bytes(187)  # 65467 bytes
    empty, large = read(write((b"", ("127.0.0.1", 1), ("127.0.0.1", 2), 1), (big, ("::1", 1), ("::1", 2), 2)))
    assert bytes(empty[UDP].payload) == b"" and empty[UDP].len == 8
    assert bytes(large[UDP].payload) == big


def test_writes_after_close_are_dropped_and_close_is_idempotent() -> None:
    out = io.BytesIO()
    w = PcapWriter(out, close_stream=False)
    w.close()
    w.write(b"late", ("127.0.0.1", 1), ("127.0.0.1", 2), 1)
    w.close()
    assert len(out.getvalue()) == 24 and w.records == 0


def test_unwritable_path_is_an_os_failure_and_creates_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "missing" / "x.pcap"
    with pytest.raises(OsFailure, match=r"cannot write capture .*x\.pcap: No such file or directory"):
        open_capture(str(target))
    assert not target.parent.exists()
    with pytest.raises(OsFailure, match="Is a directory"):
        open_capture(str(tmp_path))


class _FillingDisk(io.BytesIO):
    """A file on a disk with `room` bytes left: writes beyond it are partial, then fail
    with ENOSPC (as os.write on a full file system)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: Any) -> int:
        left = self.room - self.tell()
        if left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(bytes(data)[:left])


@pytest.mark.parametrize("room", [30, 200, 1000, 5000, 65536 + 77])
def test_a_capture_on_a_disk_that_fills_up_ends_on_a_whole_record(room: int) -> None:
    stream = _FillingDisk(room)
    writer = PcapWriter(stream, close_stream=False)
    with pytest.raises(OSError):
        for i in range(2000):
            writer.write(b"%04d" % i + b"z" * 60, ("127.0.0.1", 1000), ("127.0.0.1", 2000), 10**9)
        writer.flush()
    data = stream.getvalue()
    assert len(data) <= room
    if len(data) >= 24:
        offset = 24  # the global header, then whole records only
        while offset < len(data):
            caplen = struct.unpack_from("<I", data, offset + 8)[0]
            offset += 16 + caplen
        assert offset == len(data)
    else:
        assert data == b""  # not even the header fitted
    with pytest.raises(OSError):  # and it stays failed: nothing is appended after a gap
        writer.write(b"late", ("127.0.0.1", 1000), ("127.0.0.1", 2000), 10**9)
        writer.flush()
