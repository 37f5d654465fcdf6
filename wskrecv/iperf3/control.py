"""The server side of one iperf3 control connection, without I/O (h11's shape).

Feed what the TCP socket delivered with `receive_data(bytes)` (b"" for end of file), take
what to write with `data_to_send()`, and act on `next_event()`. The server's decisions
(refuse or create streams, start, exchange results) are method calls; each is legal only
in the state the protocol puts it in, and every transition lives in `_TRANSITIONS`.

    cookie --(37 bytes; sends PARAM_EXCHANGE)--> params --(length + JSON)--> decide
    decide --refuse()--> closed          decide --create_streams()--> streams
    streams --start_test()--> running --(TEST_END)--> ended
    ended --exchange_results()--> client_results --(length + JSON)--> server_results
    server_results --send_results()--> display --(IPERF_DONE)--> done

A peer that misbehaves (a cookie that is not one, a length over the limit, JSON nested
too deep, JSON that does not parse or is not an object, a state byte the protocol does not
allow now) ends the connection with a `ProtocolError` event naming what it did;
CLIENT_TERMINATE and end of file end it with `ClientTerminated` / `ConnectionClosed`.
Memory is bounded: at most `max_json` bytes plus a header are ever buffered (parameters:
MAX_PARAMS, as iperf3), and so is the parser's recursion (MAX_DEPTH levels).
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional, Union

from wskrecv.iperf3.protocol import (
    CLIENT_TERMINATE,
    COOKIE_SIZE,
    CREATE_STREAMS,
    DISPLAY_RESULTS,
    EXCHANGE_RESULTS,
    IPERF_DONE,
    LENGTH,
    PARAM_EXCHANGE,
    SERVER_TERMINATE,
    TEST_END,
    TEST_RUNNING,
    TEST_START,
    error_message,
    frame_json,
    state_byte,
    state_name,
)

MAX_JSON = 256 * 1024  # the longest JSON object accepted (the client's results)
MAX_PARAMS = 8 * 1024  # the longest parameters object, as iperf3's MAX_PARAMS_JSON_STRING
# The deepest nesting of arrays and objects accepted: iperf3's own messages nest 3 deep
# (results: object, streams array, stream object); Python's parser recurses once a level.
MAX_DEPTH = 32
_COOKIE = re.compile(rb"[a-z0-9]{36}\0")  # iperf3 draws from [a-z2-7]; be lenient
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes and all
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_PAIR = re.compile(rb"[\[{][\]}]")  # an opening bracket and the closing one after it


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects deeper than `limit`, found without
    parsing it (brackets inside strings do not count), in at most `limit` + 1 passes over
    its brackets. Brackets that do not pair up count as too deep: the parser would follow
    every opening one down before it found the text invalid."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        brackets, pairs = _PAIR.subn(b"", brackets)  # the innermost level goes
        if not pairs:
            return True
    return bool(brackets)


@dataclass(frozen=True)
class CookieReceived:
    """Fired when the client's cookie (its test id) arrived; PARAM_EXCHANGE is queued."""

    cookie: str


@dataclass(frozen=True)
class ParamsReceived:
    """Fired when the client's test parameters arrived: refuse() or create_streams()."""

    params: dict[str, Any]


@dataclass(frozen=True)
class TestEnded:
    """Fired when the client sent TEST_END: it has stopped sending; exchange_results()."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class ClientResults:
    """Fired when the client's own results arrived: send_results() with the server's."""

    results: dict[str, Any]


@dataclass(frozen=True)
class Done:
    """Fired when the client sent IPERF_DONE: the test is over, close the connection."""


@dataclass(frozen=True)
class ClientTerminated:
    """Fired when the client sent CLIENT_TERMINATE (interrupted)."""

    state: str


@dataclass(frozen=True)
class ConnectionClosed:
    """Fired when the client closed the connection before the test was done."""

    state: str


@dataclass(frozen=True)
class ProtocolError:
    """Fired when the client sent what the protocol does not allow; `message` says what."""

    message: str


Event = Union[CookieReceived, ParamsReceived, TestEnded, ClientResults, Done,
              ClientTerminated, ConnectionClosed, ProtocolError]

# What each server action needs and leads to (state before -> state after).
_TRANSITIONS = {
    "refuse": ("decide", "closed"),
    "create_streams": ("decide", "streams"),
    "start_test": ("streams", "running"),
    "exchange_results": ("ended", "client_results"),
    "send_results": ("server_results", "display"),
}
# States in which the client may send a state byte, and which ones.
_CLIENT_STATES = {
    "streams": (),
    "running": (TEST_END,),
    "display": (IPERF_DONE,),
}
_JSON_STATES = {"params": "decide", "client_results": "server_results"}
_JSON_NAMES = {"params": "parameters", "client_results": "results"}  # iperf3's words
FINAL = ("done", "closed")
# The server's turn: what the client sends meanwhile waits (bounded) until it has acted.
_SERVER_TURN = ("decide", "ended", "server_results")


class LocalProtocolError(Exception):
    """The server called an action the protocol does not allow in this state (our bug)."""


class ServerConnection:
    """One control connection, server side. `state` names where the protocol is."""

    def __init__(self, max_json: int = MAX_JSON) -> None:
        self.state = "cookie"
        self.max_json = max_json
        self.cookie: Optional[str] = None
        self._in = bytearray()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._json_len: Optional[int] = None

    # -- input ------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; b"" means it closed its side."""
        if self.state in FINAL:
            return
        if not data:
            self._fail(ConnectionClosed(self.state))
            return
        self._in += data
        self._parse()
        if self.state not in FINAL and len(self._in) > self.max_json + LENGTH.size:
            self._fail(ProtocolError(f"{len(self._in)} bytes unasked for in state {self.state}"))

    def next_event(self) -> Optional[Event]:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- server actions ---------------------------------------------------------------

    def refuse(self, i_errno: int, errno: int = 0) -> None:
        """SERVER_ERROR with iperf3's error numbers: the client prints its message for
        `i_errno` (and strerror(`errno`) for errors that carry one). Then close."""
        self._move("refuse")
        self._out += error_message(i_errno, errno)

    def terminate(self) -> None:
        """SERVER_TERMINATE: the server is going away (the client prints "the server has
        terminated"). Legal in any state but the last."""
        if self.state in FINAL:
            return
        self.state = "closed"
        self._out += state_byte(SERVER_TERMINATE)

    def abort(self, i_errno: int, errno: int = 0) -> None:
        """SERVER_ERROR with iperf3's error numbers, in any state but the last: the server
        gives up on the test (the client prints its message for `i_errno`). Then close."""
        if self.state in FINAL:
            return
        self.state = "closed"
        self._out += error_message(i_errno, errno)

    def create_streams(self) -> None:
        """CREATE_STREAMS: the client now connects its data streams."""
        self._move("create_streams")
        self._out += state_byte(CREATE_STREAMS)

    def start_test(self) -> None:
        """TEST_START and TEST_RUNNING: every stream is connected; the client sends."""
        self._move("start_test")
        self._out += state_byte(TEST_START) + state_byte(TEST_RUNNING)

    def exchange_results(self) -> None:
        """EXCHANGE_RESULTS: the client sends its results first, then reads ours."""
        self._move("exchange_results")
        self._out += state_byte(EXCHANGE_RESULTS)
        self._parse()  # the client may have sent them already

    def send_results(self, results: dict[str, Any]) -> None:
        """The server's results, then DISPLAY_RESULTS; IPERF_DONE comes back."""
        self._move("send_results")
        self._out += frame_json(results) + state_byte(DISPLAY_RESULTS)
        self._parse()

    # -- internals --------------------------------------------------------------------

    def _move(self, action: str) -> None:
        before, after = _TRANSITIONS[action]
        if self.state != before:
            raise LocalProtocolError(f"{action} in state {self.state} (needs {before})")
        self.state = after

    def _fail(self, event: Event) -> None:
        self.state = "closed"
        self._in.clear()
        self._events.append(event)

    def _parse(self) -> None:
        while self._in and self.state not in FINAL and self.state not in _SERVER_TURN:
            if self.state == "cookie":
                if len(self._in) < COOKIE_SIZE:
                    return
                raw = bytes(self._in[:COOKIE_SIZE])
                del self._in[:COOKIE_SIZE]
                if not _COOKIE.fullmatch(raw):
                    self._fail(ProtocolError(f"not an iperf3 cookie: {raw[:40]!r}"))
                    return
                self.cookie = raw[:-1].decode()
                self.state = "params"
                self._out += state_byte(PARAM_EXCHANGE)
                self._events.append(CookieReceived(self.cookie))
            elif self.state in _JSON_STATES:
                if not self._json():
                    return
            else:
                self._state_byte()

    def _json(self) -> bool:
        """Take one length-prefixed JSON object if it is all here."""
        if self._json_len is None:
            if len(self._in) < LENGTH.size:
                return False
            (n,) = LENGTH.unpack_from(self._in)
            del self._in[: LENGTH.size]
            limit = min(self.max_json, MAX_PARAMS) if self.state == "params" else self.max_json
            if n > limit:
                self._fail(ProtocolError(f"unable to receive {_JSON_NAMES[self.state]} from "
                                         f"client: JSON length {n} over the limit of {limit}"))
                return False
            self._json_len = n
        n = self._json_len
        if len(self._in) < n:
            return False
        raw = bytes(self._in[:n])
        del self._in[:n]
        self._json_len = None
        # iperf3 -s says "unable to receive parameters from client" and serves the next.
        what = f"unable to receive {_JSON_NAMES[self.state]} from client"
        if too_deep(raw):  # json.loads recurses: a deep one would raise RecursionError
            self._fail(ProtocolError(f"{what}: JSON nested more than {MAX_DEPTH} deep"))
            return False
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            self._fail(ProtocolError(f"{what}: JSON that does not parse ({exc})"))
            return False
        if not isinstance(obj, dict):
            self._fail(ProtocolError(f"{what}: JSON {type(obj).__name__}, not an object"))
            return False
        state = self.state
        self.state = _JSON_STATES[state]
        self._events.append(ParamsReceived(obj) if state == "params" else ClientResults(obj))
        return True

    def _state_byte(self) -> None:
        value = self._in[0]
        byte = value - 256 if value > 127 else value
        allowed = _CLIENT_STATES.get(self.state)
        if byte == CLIENT_TERMINATE:
            self._fail(ClientTerminated(self.state))
            return
        if allowed is None or byte not in allowed:
            self._fail(ProtocolError(f"{state_name(byte)} in state {self.state}"))
            return
        del self._in[0]
        if byte == TEST_END:
            self.state = "ended"
            self._events.append(TestEnded())
        elif byte == IPERF_DONE:
            self.state = "done"
            self._events.append(Done())
