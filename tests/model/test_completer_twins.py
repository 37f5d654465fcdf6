"""listen's native completions (csrc/completer.c, wskrecv/hosting/native.py) against the
Python code they stand for.

Two sockets, built as the receive commands build them (WskRegister, the built-in IRP
client hosted on its socket, a recorder counting with the native counter), differ only
in the socket's completer. The same random sequences of deliveries (any size, truncated
or not, IPv4 and IPv6 senders, broadcast and multicast destinations, kernel times or
none), cancellations, socket failures, stops and disturbances of the client's state
(what makes a request leave the steady state: another buffer, another Offset or Length,
a released view, another routine on a request of its own) are applied to both, and
after every step they must show identical IRPs, buffers, addresses, ControlFlags, queue
order, socket counts, verifier verdicts, client counts and recorder snapshots, and raise
the same exceptions. CI also runs this module against an AddressSanitizer/UBSan build
(tests/test_sanitizers.py).
"""

from __future__ import annotations

import itertools
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wskrecv import core as cores
from wskrecv import payload
from wskrecv.client import STATUS_MORE_PROCESSING_REQUIRED, IoCancelIrp
from wskrecv.config import ReceiveConfig
from wskrecv.hosting.native import native_completer
from wskrecv.session.assembly import make_app
from wskrecv.stats import Recorder
from wskrecv.wsk import Verifier, wsk_register
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.irp import io_allocate_irp, io_set_completion_routine
from wskrecv.wsk.types import SockAddr, ULongRef, WskBuf

NATIVE = cores.native()
pytestmark = [pytest.mark.skipif(NATIVE is None, reason="the native core is not built here"),
              pytest.mark.usefixtures("native_core")]

BUFFER = 48  # the contexts' buffers: datagrams longer than this are truncated
V4 = ("127.0.0.1", 5000)
V6 = ("::1", 7000, 3, 1)
# One tuple per destination, as providers hand them out (the socket remembers the last).
LOCALS = [None, ("127.0.0.1", 1), ("10.0.0.255", 2), ("239.1.1.1", 3), ("ff02::1", 4)]


class World:
    """A socket with listen's client on it, counted into a recorder; `native` decides
    whether the socket has the completer."""

    def __init__(self, native: bool, outstanding: int) -> None:
        registration = wsk_register(Verifier())
        sock = registration.capture_provider_npi().socket(indications=NATIVE)
        sock.broadcast_addresses = frozenset({"10.0.0.255"})
        sock.bind(("127.0.0.1", 9))
        clock = itertools.count(1_700_000_000_000_000_000, 1_000).__next__
        self.recorder = Recorder("irp", counter=NATIVE.counter, clock_ns=clock)
        config = ReceiveConfig(mode="irp", outstanding=outstanding, buffer_size=BUFFER)
        self.host = make_app(config, sock, self.recorder, registration)
        self.sock = sock
        self.client = self.host.client
        self.native = 0  # requests the completer completed
        if native:
            completer = native_completer(NATIVE.completer, sock, self.host)
            assert completer is not None

            def counted(requests: Any, backlog: Any) -> int:
                done = completer(requests, backlog)
                self.native += done
                return done

            sock.completer = counted
        self.host.start()
        self.extra: list[Any] = []  # requests of another routine (not the client's)

    # -- what a test does to it ------------------------------------------------------

    def apply(self, op: tuple) -> Optional[str]:
        """One step; the exception it raised, by name (None: none)."""
        try:
            getattr(self, "op_" + op[0])(*op[1:])
        except Exception as exc:  # compared, not judged: both worlds must raise it
            return f"{type(exc).__name__}: {exc}"
        return None

    def op_deliver(self, dgrams: list[Datagram]) -> None:
        self.sock.deliver(list(dgrams))

    def op_cancel(self, i: int) -> None:
        ctxs = self.client.contexts
        IoCancelIrp(ctxs[i % len(ctxs)].irp)

    def op_fail(self) -> None:
        self.sock.fail()

    def op_stop(self) -> None:
        self.host.stop()

    def op_stopping(self) -> None:
        self.client.stopping = True

    def op_disturb(self, i: int, kind: int) -> None:
        ctx = self.client.contexts[i % len(self.client.contexts)]
        if kind == 0:
            ctx.buf.mdl = bytearray(BUFFER)  # another MDL: its view is made again
        elif kind == 1:
            ctx.buf.length = BUFFER // 2
        elif kind == 2:
            ctx.buf.offset = 4
            ctx.buf.length = BUFFER - 4
        elif kind == 3 and ctx.buf._view is not None:
            ctx.buf._view.release()  # reading it raises (ValueError), in either code
        elif kind == 4:
            ctx.remote = None if ctx.remote is not None else SockAddr()

    def op_other(self) -> None:
        """A request of another routine, with buffers of its own (pending: taken in turn)."""
        irp = io_allocate_irp()
        io_set_completion_routine(irp, lambda _d, _irp, _ctx: STATUS_MORE_PROCESSING_REQUIRED, None)
        buf = WskBuf(bytearray(16))
        self.extra.append((irp, buf))
        self.sock.receive_from(buf, 0, None, None, None, ULongRef(), irp)

    # -- what it shows -----------------------------------------------------------------

    def shape(self) -> dict[str, Any]:
        ctxs = self.client.contexts
        irps = [c.irp for c in ctxs] + [e[0] for e in self.extra]
        index = {id(x): i for i, x in enumerate(irps)}

        def who(obj: Any) -> Any:
            return None if obj is None else index.get(id(obj), "?")

        def routine(irp: Any) -> Any:
            r = irp.completion_routine
            if r is None:
                return None
            return "client" if getattr(r, "__self__", None) is self.client else "other"

        out: dict[str, Any] = {}
        for i, irp in enumerate(irps):
            out[f"irp{i}"] = (irp.state, irp.io_status.status, type(irp.io_status.status),
                              irp.io_status.information, irp.cancel,
                              irp.cancel_routine == self.sock._cancel if irp.cancel_routine else None,
                              routine(irp), who(getattr(irp.context, "irp", None)),
                              irp.invoke_always, irp.verifier is self.sock.verifier,
                              None if irp.request is None else tuple(map(id_of(self), irp.request)))
        for i, c in enumerate(ctxs):
            b = c.buf
            view = b._view
            try:
                view_state = None if view is None else (view.obj is b.mdl)
            except ValueError:
                view_state = "released"
            out[f"ctx{i}"] = (bytes(b.mdl), b.offset, b.length, who(b.owner), view_state,
                              None if c.remote is None else
                              (c.remote.family, c.remote.host, c.remote.port, c.remote.flowinfo,
                               c.remote.scope_id),
                              c.control_flags.value, who(c.control_flags.owner))
        out["requests"] = [who(irp) for irp in self.sock._requests]
        out["backlog"] = [d for d in self.sock._backlog]
        out["socket"] = (self.sock.state, self.sock._broken, self.sock._failure_told,
                         self.sock._last_local, self.sock._last_cast,
                         {k: getattr(self.sock.counts, k) for k in type(self.sock.counts).__slots__})
        verifier = self.sock.verifier
        out["verifier"] = (dict(verifier.counts), dict(getattr(verifier, "cautions", {})))
        out["client"] = (self.client.broadcast, self.client.multicast, self.client.failed,
                         self.client.last_failure, self.client.stopping)
        out["recorder"] = (self.recorder.truncated,
                           self.recorder.snapshot(1.0, 0, {}, None, advance=False, streams_limit=None))
        return out


def id_of(world: World) -> Any:
    """A request's parts by what they are in `world` (a context's buffer...), not by id."""
    names: dict[int, str] = {}
    for i, c in enumerate(world.client.contexts):
        names[id(c.buf)] = f"buf{i}"
        names[id(c.control_flags)] = f"flags{i}"
        if c.remote is not None:
            names[id(c.remote)] = f"remote{i}"
    for i, (_irp, buf) in enumerate(world.extra):
        names[id(buf)] = f"extra{i}"
    return lambda obj: None if obj is None else names.get(id(obj), type(obj).__name__)


def _data(size: int, seq: int, headed: bool) -> bytes:
    if headed and size >= payload.HEADER_LEN:
        return bytes(payload.build(1, seq, 1_700_000_000_000_000_000, b"x" * (size - payload.HEADER_LEN)))
    return bytes(range(256))[:size] * 1 if size <= 256 else b"y" * size


datagrams = st.builds(
    lambda size, seq, headed, remote, local, stamp: Datagram(_data(size, seq, headed), remote, local, stamp),
    st.one_of(st.integers(0, BUFFER + 16), st.sampled_from([0, BUFFER, BUFFER + 1, 200])),
    st.integers(0, 50),
    st.booleans(),
    st.sampled_from([V4, V6, ("10.0.0.7", 6000)]),
    st.sampled_from(LOCALS),
    st.one_of(st.none(), st.integers(1_700_000_000_000_000_000, 1_700_000_000_100_000_000)),
)
ops = st.one_of(
    st.tuples(st.just("deliver"), st.lists(datagrams, max_size=12)),
    st.tuples(st.just("deliver"), st.lists(datagrams, max_size=12)),
    st.tuples(st.just("deliver"), st.lists(datagrams, max_size=12)),
    st.tuples(st.just("cancel"), st.integers(0, 7)),
    st.tuples(st.just("disturb"), st.integers(0, 7), st.integers(0, 4)),
    st.tuples(st.just("other")),
    st.sampled_from([("fail",), ("stop",), ("stopping",)]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outstanding=st.integers(1, 6), steps=st.lists(ops, max_size=14))
def test_native_completions_leave_what_the_python_code_leaves(outstanding: int, steps: list) -> None:
    python, native = World(False, outstanding), World(True, outstanding)
    assert native.shape() == python.shape()
    for op in steps:
        assert native.apply(op) == python.apply(op), op
        assert native.shape() == python.shape(), op


def test_in_the_steady_state_every_request_after_its_first_completes_natively() -> None:
    world = World(True, 4)
    dgrams = [Datagram(_data(40, i, True), V4, LOCALS[1], None) for i in range(100)]
    for k in range(0, 100, 4):
        world.apply(("deliver", dgrams[k:k + 4]))
    assert world.sock.counts.completions == 100
    # Each context's first completion makes its buffer's view (the Python code's job).
    assert world.native == 96
    assert world.recorder.received == 100


def test_no_completer_for_anything_but_listens_client_on_the_native_core() -> None:
    world = World(False, 2)
    assert native_completer(None, world.sock, world.host) is None  # the pure-Python core
    assert native_completer(NATIVE.completer, world.sock, object()) is None  # not a host


def _stream_announced_mid_call(native: bool) -> tuple:
    """Five datagrams of one stream completed in one provider read (one completer call),
    with a clock that is Python code: on its third call it announces a new stream on the
    same address and id, as iperf3's control connection does (StreamTable.expect)."""
    assert NATIVE is not None
    reg = wsk_register(Verifier())
    sock = reg.capture_provider_npi().socket(indications=NATIVE)
    sock.bind(("127.0.0.1", 9))
    calls = [0]

    def clock() -> int:
        calls[0] += 1
        if calls[0] == 3:
            recorder.streams.expect(V4, 1, 0)
        return 1_700_000_000_000_000_000 + calls[0]

    recorder = Recorder("irp", counter=NATIVE.counter, clock_ns=clock)
    host = make_app(ReceiveConfig(mode="irp", outstanding=1, buffer_size=64), sock, recorder, reg)
    native_done = [0]
    if native:
        completer = native_completer(NATIVE.completer, sock, host)

        def counted(requests: Any, backlog: Any) -> int:
            n = completer(requests, backlog)
            native_done[0] += n
            return n

        sock.completer = counted
    host.start()
    # The context's first completion is the Python code's (it makes the buffer's view).
    sock.deliver([Datagram(bytes(payload.build(1, 0, 1, b"x" * 8)), V4, None, None)])
    sock.deliver([Datagram(bytes(payload.build(1, s, 1, b"x" * 8)), V4, None, None) for s in range(1, 6)])
    streams = {key: (t.datagrams, t.expected) for key, t in recorder.streams.streams.items()}
    return streams, recorder.received, native_done[0] > 0 or not native


def test_a_stream_table_changed_by_python_code_within_a_call_is_seen() -> None:
    """The completer remembers the last stream's tracker across its completions, but not
    past Python code that may change the table (a clock of the application's, a
    `_cast_of`, a remote of its own): the datagrams after the announcement start the new
    stream, as the Python code's per-completion lookups do (they went to the retired
    tracker, lost from every report)."""
    python, native = _stream_announced_mid_call(False), _stream_announced_mid_call(True)
    assert native[2], "the completer did not run"
    assert native[:2] == python[:2] == ({(V4, 1): (4, 6)}, 6)
