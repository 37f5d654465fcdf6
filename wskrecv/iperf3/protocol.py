"""iperf3's wire constants and framing, as the reference implementation (esnet/iperf,
versions 3.9 and later) speaks them.

The control connection is TCP to the server's port (5201 by default). The client sends a
37-byte cookie (36 characters and a NUL); after that, the server drives the test with
one-byte states (`signed char`), and both sides exchange JSON objects prefixed with their
length as a 32-bit big-endian integer (iperf_api.c JSON_write/JSON_read). A UDP test's
data streams go to the same port number over UDP: each stream's socket first sends a
4-byte "connect" datagram and waits for the server's 4-byte reply (iperf_udp.c).

Values are those of src/iperf_api.h (states, i_errno) and src/iperf.h (UDP connect).
"""

from __future__ import annotations

import json
import struct
from typing import Any

DEFAULT_PORT = 5201
COOKIE_SIZE = 37  # 36 characters + NUL (iperf.h)

# States: one signed byte on the control connection (iperf_api.h).
TEST_START = 1
TEST_RUNNING = 2
TEST_END = 4
PARAM_EXCHANGE = 9
CREATE_STREAMS = 10
SERVER_TERMINATE = 11
CLIENT_TERMINATE = 12
EXCHANGE_RESULTS = 13
DISPLAY_RESULTS = 14
IPERF_START = 15
IPERF_DONE = 16
ACCESS_DENIED = -1
SERVER_ERROR = -2

STATE_NAMES = {
    TEST_START: "TEST_START", TEST_RUNNING: "TEST_RUNNING", 3: "RESULT_REQUEST",
    TEST_END: "TEST_END", 5: "STREAM_BEGIN", 6: "STREAM_RUNNING", 7: "STREAM_END",
    8: "ALL_STREAMS_END", PARAM_EXCHANGE: "PARAM_EXCHANGE", CREATE_STREAMS: "CREATE_STREAMS",
    SERVER_TERMINATE: "SERVER_TERMINATE", CLIENT_TERMINATE: "CLIENT_TERMINATE",
    EXCHANGE_RESULTS: "EXCHANGE_RESULTS", DISPLAY_RESULTS: "DISPLAY_RESULTS",
    IPERF_START: "IPERF_START", IPERF_DONE: "IPERF_DONE", ACCESS_DENIED: "ACCESS_DENIED",
    SERVER_ERROR: "SERVER_ERROR",
}

# i_errno values the server sends after SERVER_ERROR (iperf_api.h; explicit numbers there,
# stable across versions). The client prints iperf_strerror(i_errno): quoted beside each.
IEUNIMP = 13  # "an option you are trying to set is not implemented yet"
IEUDPBLOCKSIZE = 20  # "block size invalid (minimum = 16 bytes, maximum = 65507 bytes)"
IENUMSTREAMS = 6  # "number of parallel streams too large (maximum = 128)"
IEPROTOCOL = 131  # "protocol does not exist"
IEAUTHTEST = 142  # "test authorization failed"
IENOMSG = 144  # "idle timeout for receiving data" (the receiver's --rcv-timeout passed)

# The UDP stream handshake (iperf.h). The client writes the 32-bit value in its own byte
# order and compares the reply the same way, so the server answers in the byte order the
# connect message came in.
UDP_CONNECT_MSG = 0x36373839  # "6789" read as a big-endian integer; legacy 123456789
UDP_CONNECT_REPLY = 0x39383736  # "9876"; legacy 987654321
LEGACY_UDP_CONNECT_MSG = 123456789
LEGACY_UDP_CONNECT_REPLY = 987654321
CONNECT_SIZE = 4


def _both_orders(msg: int, reply: int) -> dict[bytes, bytes]:
    return {
        struct.pack("<I", msg): struct.pack("<I", reply),
        struct.pack(">I", msg): struct.pack(">I", reply),
    }


# connect datagram -> the reply in the same byte order
CONNECT_REPLIES: dict[bytes, bytes] = {
    **_both_orders(UDP_CONNECT_MSG, UDP_CONNECT_REPLY),
    **_both_orders(LEGACY_UDP_CONNECT_MSG, LEGACY_UDP_CONNECT_REPLY),
}

# Stream ids as iperf_add_stream assigns them, on both sides in connection order: the first
# stream is 1, the n-th (n >= 2) is n + 1 (1, 3, 4, 5, ...). Results name streams by id.


def stream_id(index: int) -> int:
    """The id iperf3 gives the stream created `index`-th (0-based)."""
    return 1 if index == 0 else index + 2


LENGTH = struct.Struct("!I")


def state_byte(state: int) -> bytes:
    """One state as the signed char iperf3 writes."""
    return struct.pack("b", state)


def frame_json(obj: Any) -> bytes:
    """A JSON object as JSON_write sends it: 4-byte big-endian length, then compact JSON."""
    body = json.dumps(obj, separators=(",", ":")).encode()
    return LENGTH.pack(len(body)) + body


def error_message(i_errno: int, errno: int = 0) -> bytes:
    """SERVER_ERROR followed by i_errno and errno, each a 32-bit big-endian integer
    (iperf_exchange_parameters on the server, iperf_handle_message_client on the client)."""
    return state_byte(SERVER_ERROR) + LENGTH.pack(i_errno & 0xFFFFFFFF) + LENGTH.pack(errno)


def state_name(state: int) -> str:
    return STATE_NAMES.get(state, f"state {state}")
