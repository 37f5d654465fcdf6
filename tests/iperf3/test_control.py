"""The control connection's state machine, fed whole, byte by byte, and with junk."""

from __future__ import annotations

import json
import struct

import pytest

from wskrecv.iperf3 import protocol as p
from wskrecv.iperf3.control import (
    ClientResults,
    ClientTerminated,
    ConnectionClosed,
    CookieReceived,
    Done,
    LocalProtocolError,
    ParamsReceived,
    ProtocolError,
    ServerConnection,
    TestEnded,
)

COOKIE = b"abcdefghijklmnopqrstuvwxyz2345672345\0"
PARAMS = {"udp": True, "time": 1, "parallel": 2, "len": 1400, "client_version": "3.12"}


def events(conn: ServerConnection) -> list:
    out = []
    while (e := conn.next_event()) is not None:
        out.append(e)
    return out


def feed(conn: ServerConnection, data: bytes, piecewise: bool) -> list:
    if piecewise:
        got = []
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            got += events(conn)
        return got
    conn.receive_data(data)
    return events(conn)


@pytest.mark.parametrize("piecewise", [False, True], ids=["whole", "byte-by-byte"])
def test_a_whole_test_as_the_reference_client_speaks_it(piecewise: bool) -> None:
    conn = ServerConnection()
    assert feed(conn, COOKIE, piecewise) == [CookieReceived(COOKIE[:-1].decode())]
    assert conn.data_to_send() == p.state_byte(p.PARAM_EXCHANGE) == b"\x09"
    assert feed(conn, p.frame_json(PARAMS), piecewise) == [ParamsReceived(PARAMS)]
    conn.create_streams()
    assert conn.data_to_send() == b"\x0a"
    conn.start_test()
    assert conn.data_to_send() == b"\x01\x02"
    assert feed(conn, b"\x04", piecewise) == [TestEnded()]
    conn.exchange_results()
    assert conn.data_to_send() == b"\x0d"
    client = {"cpu_util_total": 1, "streams": [{"id": 1, "packets": 10}]}
    assert feed(conn, p.frame_json(client), piecewise) == [ClientResults(client)]
    conn.send_results({"streams": []})
    out = conn.data_to_send()
    (n,) = struct.unpack("!I", out[:4])
    assert json.loads(out[4 : 4 + n]) == {"streams": []}
    assert out[4 + n :] == b"\x0e"  # DISPLAY_RESULTS
    assert feed(conn, b"\x10", piecewise) == [Done()]
    assert conn.state == "done"


def test_client_results_sent_before_exchange_results_are_kept() -> None:
    conn = ServerConnection()
    conn.receive_data(COOKIE + p.frame_json(PARAMS))
    events(conn)
    conn.create_streams()
    conn.start_test()
    conn.receive_data(b"\x04" + p.frame_json({"streams": []}))
    assert events(conn) == [TestEnded()]
    conn.exchange_results()
    assert events(conn) == [ClientResults({"streams": []})]


def test_refusal_is_server_error_with_both_numbers() -> None:
    conn = ServerConnection()
    conn.receive_data(COOKIE + p.frame_json({"tcp": True}))
    events(conn)
    conn.data_to_send()
    conn.refuse(p.IEPROTOCOL)
    assert conn.data_to_send() == b"\xfe" + struct.pack("!ii", 131, 0)
    assert conn.state == "closed"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 20, "not an iperf3 cookie"),
        (b"A" * 36 + b"\0", "not an iperf3 cookie"),
        (COOKIE + struct.pack("!I", 1 << 31), "over the limit"),
        (COOKIE + struct.pack("!I", 3) + b"{x}", "does not parse"),
        (COOKIE + struct.pack("!I", 2) + b"[]", "not an object"),
        (COOKIE + struct.pack("!I", 2) + b"\xff\xfe", "does not parse"),
    ],
    ids=["http", "uppercase", "huge-length", "bad-json", "array", "bad-utf8"],
)
def test_junk_is_a_protocol_error_naming_it(data: bytes, words: str) -> None:
    conn = ServerConnection()
    conn.receive_data(data)
    got = [e for e in events(conn) if not isinstance(e, CookieReceived)]
    assert len(got) == 1 and isinstance(got[0], ProtocolError)
    assert words in got[0].message
    assert conn.state == "closed"
    conn.receive_data(b"more")  # ignored once closed
    assert events(conn) == []


def deep(levels: int) -> bytes:
    return b'{"udp":true,"x":' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize("levels", [1000, 100_000], ids=["1000", "100000"])
def test_deeply_nested_params_are_refused_not_a_recursion_error(levels: int) -> None:
    """2 KB of brackets used to raise RecursionError out of the parser (and end the run)."""
    conn = ServerConnection()
    body = deep(levels)[:8000]  # cut short too: the brackets do not even close
    conn.receive_data(COOKIE + struct.pack("!I", len(body)) + body)
    got = [e for e in events(conn) if not isinstance(e, CookieReceived)]
    assert len(got) == 1 and isinstance(got[0], ProtocolError)
    assert got[0].message == ("unable to receive parameters from client: JSON nested more "
                              "than 32 deep")
    assert conn.state == "closed"


def test_deeply_nested_results_are_refused_and_shallow_ones_taken() -> None:
    conn = ServerConnection()
    conn.receive_data(COOKIE + p.frame_json(PARAMS))
    events(conn)
    conn.create_streams()
    conn.start_test()
    conn.receive_data(b"\x04")
    events(conn)
    conn.exchange_results()
    conn.receive_data(struct.pack("!I", len(deep(33))) + deep(33))
    (e,) = events(conn)
    assert isinstance(e, ProtocolError)
    assert e.message.startswith("unable to receive results from client: JSON nested")
    conn = ServerConnection()
    body = b'{"s":"' + b"[" * 5000 + b'","x":' + deep(30) + b"}"  # brackets in a string
    conn.receive_data(COOKIE + struct.pack("!I", len(body)) + body)
    assert isinstance(events(conn)[-1], ParamsReceived)


def test_params_are_bounded_as_iperf3_bounds_them() -> None:
    conn = ServerConnection()
    conn.receive_data(COOKIE + struct.pack("!I", 8193))
    (_, e) = events(conn)
    assert isinstance(e, ProtocolError)
    assert e.message == ("unable to receive parameters from client: JSON length 8193 over "
                         "the limit of 8192")


def test_a_state_the_protocol_does_not_allow_now() -> None:
    conn = ServerConnection()
    conn.receive_data(COOKIE + p.frame_json(PARAMS))
    events(conn)
    conn.create_streams()
    conn.receive_data(b"\x04")  # TEST_END before TEST_START
    (e,) = events(conn)
    assert isinstance(e, ProtocolError) and "TEST_END in state streams" in e.message


def test_unasked_bytes_are_bounded() -> None:
    conn = ServerConnection(max_json=1000)
    conn.receive_data(COOKIE + p.frame_json(PARAMS))
    events(conn)
    conn.receive_data(b"\x00" * 5000)  # the server has not answered: nobody reads this
    (e,) = events(conn)
    assert isinstance(e, ProtocolError) and "unasked" in e.message


def test_truncated_json_then_close_and_client_terminate() -> None:
    conn = ServerConnection()
    conn.receive_data(COOKIE + struct.pack("!I", 100) + b'{"udp": tr')
    events(conn)
    conn.receive_data(b"")
    assert events(conn) == [ConnectionClosed("params")]
    conn = ServerConnection()
    conn.receive_data(COOKIE + p.frame_json(PARAMS))
    events(conn)
    conn.create_streams()
    conn.start_test()
    conn.receive_data(b"\x0c")
    assert events(conn) == [ClientTerminated("running")]


def test_server_actions_out_of_turn_are_our_bug() -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError):
        conn.start_test()


def test_connect_replies_answer_in_the_byte_order_asked() -> None:
    assert p.CONNECT_REPLIES[b"9876"] == b"6789"  # little-endian client (x86)
    assert p.CONNECT_REPLIES[b"6789"] == b"9876"  # big-endian client
    assert p.CONNECT_REPLIES[struct.pack("<I", 123456789)] == struct.pack("<I", 987654321)
    assert [p.stream_id(i) for i in range(4)] == [1, 3, 4, 5]
