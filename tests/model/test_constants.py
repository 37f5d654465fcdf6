"""Every WSK/Winsock constant the model uses, against the values in the headers.

The expected values are copied from the headers themselves, not from memory: wsk.h (WDK
km/wsk.h), ws2def.h (WSK_SO_BASE, MSG_*), ws2ipdef.h (IP_PKTINFO, IPV6_PKTINFO),
mstcpip.h (SIO_TIMESTAMPING = _WSAIOW(IOC_VENDOR, 235), TIMESTAMPING_FLAG_*,
SO_TIMESTAMP) and ntstatus.h.
"""

from __future__ import annotations

import pytest

from wskrecv.wsk import status as s


def _wsaiow(family: int, n: int) -> int:
    """_WSAIOW(x, y) = IOC_IN | (x) | (y), IOC_IN = 0x80000000, IOC_VENDOR = 0x18000000."""
    return 0x80000000 | family | n


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # wsk.h
        ("WSK_FLAG_AT_DISPATCH_LEVEL", 0x00000008),
        ("WSK_FLAG_DATAGRAM_SOCKET", 0x00000004),
        ("SO_WSK_SECURITY", 0x4000 + 1),
        ("SO_WSK_EVENT_CALLBACK", 0x4000 + 2),  # WSK_SO_BASE+2, not 7
        ("WSK_EVENT_RECEIVE_FROM", 0x00000100),
        ("WSK_EVENT_DISABLE", 0x80000000),
        ("WSK_SET_STATIC_EVENT_CALLBACKS", 7),
        ("WskSetOption", 0),
        ("WskGetOption", 1),
        ("WskIoctl", 2),
        # ws2def.h
        ("WSK_SO_BASE", 0x4000),
        ("SOL_SOCKET", 0xFFFF),
        ("AF_INET", 2),
        ("AF_INET6", 23),
        ("IPPROTO_IP", 0),
        ("IPPROTO_IPV6", 41),
        # ws2ipdef.h
        ("IP_PKTINFO", 19),
        ("IPV6_PKTINFO", 19),
        # mstcpip.h
        ("SIO_TIMESTAMPING", _wsaiow(0x18000000, 235)),
        ("TIMESTAMPING_FLAG_RX", 0x1),
        ("TIMESTAMPING_FLAG_TX", 0x2),
        ("SO_TIMESTAMP", 0x300A),
    ],
)
def test_constant_has_the_header_value(name: str, value: int) -> None:
    assert getattr(s, name) == value


def test_sio_timestamping_is_the_documented_number() -> None:
    assert s.SIO_TIMESTAMPING == 2550137067 == 0x980000EB


def test_so_wsk_event_callback_is_not_the_static_callbacks_control_code() -> None:
    assert s.SO_WSK_EVENT_CALLBACK == 0x4002 != s.WSK_SET_STATIC_EVENT_CALLBACKS


@pytest.mark.parametrize(
    ("flag", "value"),
    [("MSG_TRUNC", 0x0100), ("MSG_CTRUNC", 0x0200), ("MSG_BCAST", 0x0400), ("MSG_MCAST", 0x0800)],
)
def test_control_flags_are_the_windows_values(flag: str, value: int) -> None:
    assert getattr(s, flag) == value


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("SUCCESS", 0x00000000),
        ("PENDING", 0x00000103),
        ("TIMEOUT", 0x00000102),
        ("EVENT_PENDING", 0x40000013),
        ("BUFFER_OVERFLOW", 0x80000005),
        ("INVALID_PARAMETER", 0xC000000D),
        ("MORE_PROCESSING_REQUIRED", 0xC0000016),
        ("NO_MEMORY", 0xC0000017),
        ("INSUFFICIENT_RESOURCES", 0xC000009A),
        ("FILE_FORCED_CLOSED", 0xC00000B6),
        ("CANCELLED", 0xC0000120),
        ("DATA_NOT_ACCEPTED", 0xC000021B),
        ("NETWORK_UNREACHABLE", 0xC000023C),
        ("HOST_UNREACHABLE", 0xC000023D),
        ("PORT_UNREACHABLE", 0xC000023F),
    ],
)
def test_ntstatus_has_the_ntstatus_h_value(member: str, value: int) -> None:
    assert s.NTSTATUS[member] == value
