"""Every entry point of the compiled core called with hostile Python arguments: wrong
types, None, huge and negative integers, uninitialised objects of every native type,
objects whose every special method raises, too many and too few arguments.

Nothing may crash. Where one argument of a valid call is made hostile, the native core
raises what its pure-Python twin raises (the same exception type; where the twin accepts
what C cannot hold, a 200-bit sequence say, any Python exception will do). With several
hostile arguments at once the two may complain about different ones: then only a clean
Python exception is asked for. Methods and attributes of objects that were never
initialised (`__new__` without `__init__`) raise as the twin's do.

CI also runs this module against an AddressSanitizer/UBSan build (tests/test_sanitizers.py),
where an out-of-bounds access or a use after free aborts the run.
"""

from __future__ import annotations

import copy
import socket
import struct
import zlib
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wskrecv import core as cores
from wskrecv import payload
from wskrecv.capture import formats, packets
from wskrecv.capture.scan import TALLY_SIZE
from wskrecv.capture.scan import scan as scan_capture
from wskrecv.provider import mmsg
from wskrecv.stats import counting, sequence, sources
from wskrecv.wsk._state import INDICATION_ROWS, IndicationEvent
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.indication import IndicationSource, PythonIndication, WskDatagramIndication
from wskrecv.wsk.verifier import Verifier

NATIVE = cores.native()
MODULE = cores.native_module()
pytestmark = [pytest.mark.skipif(NATIVE is None, reason="the native core is not built here"),
              pytest.mark.usefixtures("native_core")]
NOW = 1_700_000_000_000_000_000
REMOTE = ("127.0.0.1", 4000)
DATAGRAM = bytes(payload.build(0, 7, NOW - 1000, b"body"))


def _raw_udp(sport: int, dport: int, body: bytes) -> bytes:
    """An IPv4/UDP packet (no checksums: the scanner does not check them)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                       bytes([10, 0, 0, 2])) + udp


# Two pcap records of raw IP (little-endian, microseconds): a datagram to port 5000, one
# to port 6000, and a record cut short.
PCAP_RECORDS = b"".join(struct.pack("<IIII", 1, 2, len(p), len(p)) + p
                        for p in (_raw_udp(1, 5000, b"hello"), _raw_udp(2, 6000, b"other"))) + b"\x01\x00"


class Boom(Exception):
    """What every special method of `Evil` raises: it must come out of both cores."""


class Evil:
    """An argument whose every protocol raises."""

    def _boom(self, *args: object) -> Any:
        raise Boom()

    __eq__ = __lt__ = __gt__ = __le__ = __ge__ = __hash__ = __index__ = _boom  # type: ignore[assignment]
    __int__ = __len__ = __bool__ = __getitem__ = __iter__ = __float__ = _boom  # type: ignore[assignment]
    __getattr__ = __sub__ = __rsub__ = __and__ = __rand__ = __or__ = __ror__ = _boom  # type: ignore[assignment]


def _uninitialised() -> list[Any]:
    if MODULE is None:
        return []
    classes = [cls for cls in vars(MODULE).values() if isinstance(cls, type)]
    return [cls.__new__(cls) for cls in [*classes, cores.native_indication(MODULE)]]


HOSTILE: list[Any] = [
    None, True, False, 0, 1, -1, 7, 2**31, 2**63 - 1, 2**63, 2**64, 2**127, 2**200, -(2**200), 1.5,
    float("nan"), "x", "auto", "iperf3", "", "a\0b", b"", b"x" * 40, bytearray(b"WSKR"), memoryview(b"abc"),
    [], [b"x"], [None], [REMOTE], [1, 2], (), REMOTE, ("::1", 1, 0, 0), (REMOTE, 0), ("x",), {}, {1: 2},
    object(), Evil(), [Evil()], (Evil(), 1), Datagram(b"d", REMOTE, None, 5),
    [Datagram(b"d", REMOTE, None, 5)], IndicationSource(Verifier()),
    WskDatagramIndication.__new__(WskDatagramIndication), PythonIndication.__new__(PythonIndication),
    *_uninitialised(),
]


def hostile(positions: list[int]) -> list[Any]:
    return [HOSTILE[i] for i in positions]


# Values are drawn by position and looked up in the test: hypothesis would compare, hash
# and show them itself (Evil's raise; an empty indication cannot show itself).
position = st.integers(0, len(HOSTILE) - 1)


def outcome(call: Callable[..., Any], *args: Any) -> Optional[type]:
    """The exception type `call(*args)` raised, or None."""
    try:
        call(*args)
    except Exception as exc:  # noqa: BLE001 - which exception is the point
        return type(exc)
    return None


def crc32_of(data: Any) -> int:
    """_core.crc32's twin: zlib's, of one argument."""
    return zlib.crc32(data)


# (what, twin, native, valid arguments): each is called as obj(*args), `obj` made fresh.
def entry_points() -> list[tuple[str, Callable[[], Any], Callable[[], Any], list[Any]]]:
    assert MODULE is not None
    m = MODULE
    out: list[tuple[str, Callable[[], Any], Callable[[], Any], list[Any]]] = []

    def add(what: str, twin: Callable[[], Any], native: Callable[[], Any], args: list[Any]) -> None:
        out.append((what, twin, native, args))

    trackers = (("StreamTracker", sequence.StreamTracker), ("Wrap32Tracker", sequence.Wrap32Tracker))
    for name, py_cls in trackers:
        c_cls = getattr(m, name)
        add(name, lambda p=py_cls: p, lambda c=c_cls: c, [5, 16, 100])
        add(f"{name}.see", lambda p=py_cls: p(5, 16, 100).see, lambda c=c_cls: c(5, 16, 100).see, [7, 200])
    add("SourceTable", lambda: sources.SourceTable, lambda: m.SourceTable, [2])
    add("SourceTable.new", lambda: sources.SourceTable(2).new, lambda: m.SourceTable(2).new, [REMOTE, 64])
    add("StreamTable", lambda: sequence.StreamTable, lambda: m.StreamTable, [2, 16, True])

    def full_table(cls: Any) -> Any:  # two streams (full), one expected
        table = cls(2, 16)
        table.new((REMOTE, 0), 1)
        table.new((("127.0.0.2", 1), 0), 1, 5)
        table.expect(("127.0.0.3", 2, 0, 0), 1, 5)
        return table

    add("StreamTable.new", lambda: full_table(sequence.StreamTable).new,
        lambda: full_table(m.StreamTable).new, [(("127.0.0.3", 2), 1), 7, 100])
    add("StreamTable.expect", lambda: full_table(sequence.StreamTable).expect,
        lambda: full_table(m.StreamTable).expect, [REMOTE, 0, 5])
    add("StreamTable.use_wrap32", lambda: full_table(sequence.StreamTable).use_wrap32,
        lambda: full_table(m.StreamTable).use_wrap32, [True])
    add("Counter", lambda: counting.Counter, lambda: m.Counter, ["auto", 16, 2, 2])
    add("Counter.add", lambda: counting.Counter("auto", 16, 2, 2).add,
        lambda: m.Counter("auto", 16, 2, 2).add, [DATAGRAM, REMOTE, NOW, NOW + 1000, False])
    add("Counter.add_list", lambda: counting.Counter("auto", 16, 2, 2).add_list,
        lambda: m.Counter("auto", 16, 2, 2).add_list,
        [[DATAGRAM, b"x"], [REMOTE, REMOTE], [NOW, None], NOW + 1000])
    add("Counter.latency", lambda: counting.Counter().latency, lambda: m.Counter().latency, [True])
    add("Counter.use_seq_format", lambda: counting.Counter().use_seq_format,
        lambda: m.Counter().use_seq_format, ["iperf3"])
    add("crc32", lambda: crc32_of, lambda: m.crc32, [b"abc"])
    pure, native = cores.pure(), NATIVE
    assert native is not None

    def chain_of(side: str) -> list[Any]:
        source = IndicationSource(Verifier())
        return (pure if side == "twin" else native).chain(
            [Datagram(b"a", REMOTE, None, 5), Datagram(b"b", REMOTE, ("127.0.0.1", 1), None)], source)

    add("chain", lambda: pure.chain, lambda: native.chain,
        lambda side: [[Datagram(b"a", REMOTE, None, 5), Datagram(b"bc", ("::1", 2, 0, 0), None, None)],
                      IndicationSource(Verifier())])
    add("settle", lambda: pure.settle, lambda: native.settle,
        lambda side: [chain_of(side), INDICATION_ROWS[IndicationEvent.ACCEPT], True])
    add("walk", lambda: pure.walk, lambda: native.walk, lambda side: [chain_of(side)[0]])
    add("scan_capture", lambda: scan_capture, lambda: m.scan_capture,
        [PCAP_RECORDS, 0, formats.PCAP, False, ((packets.RAW, 1000, 0),), 0, None, 10, {}, [], [], [], [],
         [0] * TALLY_SIZE])
    return out


ENTRY_POINTS = entry_points() if MODULE is not None else []


def fresh(valid: Any, side: str) -> list[Any]:
    """The valid arguments, made afresh for one side: a copy, or what the side's own
    builder makes (an indication list is settled and walked by the core that built it)."""
    return valid(side) if callable(valid) else copy.deepcopy(valid)
NAMES = [e[0] for e in ENTRY_POINTS]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(ENTRY_POINTS))), st.integers(0, 5), position)
def test_one_hostile_argument_raises_what_the_twin_raises(which: int, at: int, value: int) -> None:
    """A valid call with one argument replaced (or one too many)."""
    what, twin, native, valid = ENTRY_POINTS[which]
    calls = []
    for side in ("twin", "native"):  # each its own copy: some entry points fill their lists
        args = fresh(valid, side)
        if at < len(args):
            args[at] = HOSTILE[value]
        else:
            args.append(HOSTILE[value])
        calls.append(args)
    expected = outcome(twin(), *calls[0])
    got = outcome(native(), *calls[1])
    if expected is not None:
        assert got is expected, f"{what}, HOSTILE[{value}] at {at}: twin {expected.__name__}, native {got}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(ENTRY_POINTS))), st.lists(position, max_size=6))
def test_any_hostile_arguments_raise_cleanly(which: int, positions: list[int]) -> None:
    _, _, native, _ = ENTRY_POINTS[which]
    outcome(lambda: native()(*hostile(positions)))


def test_every_valid_call_works_in_both() -> None:
    """The calls the hostile ones start from are valid (else the test above proves little)."""
    for what, twin, native, valid in ENTRY_POINTS:
        assert outcome(twin(), *fresh(valid, "twin")) is None, what
        assert outcome(native(), *fresh(valid, "native")) is None, what
        fewer = outcome(native(), *fresh(valid, "native")[:-1])
        assert fewer is outcome(twin(), *fresh(valid, "twin")[:-1]), what


# Every method and attribute, on objects made with __new__ and never initialised.
SURFACE = {
    "StreamTracker": (["see", "unsee_first"],
                      ["base", "high", "seen", "reordered", "duplicates", "late", "restarts", "jitter_ns",
                       "last_transit", "probe", "mark", "window", "distinct", "datagrams", "lost",
                       "expected"]),
    "SourceTable": (["new"], ["rows", "seen", "evicted", "max_sources"]),
    "StreamTable": (["new", "expect", "use_wrap32", "totals", "mean_jitter_ns"],
                    ["streams", "retired", "seen", "evicted", "max_streams", "window"]),
    "Counter": (["add", "add_list", "latency", "use_seq_format"],
                ["received", "bytes", "corrupt", "unsequenced", "size_min", "size_max", "size_counts",
                 "sources", "streams"]),
    "MmsgReader": (["read"],
                   ["sock", "batch", "buffer_size", "drops_seen", "truncated", "control_truncated"]),
}
SURFACE["Wrap32Tracker"] = SURFACE["StreamTracker"]
TWINS = {"StreamTracker": sequence.StreamTracker, "Wrap32Tracker": sequence.Wrap32Tracker,
         "SourceTable": sources.SourceTable, "StreamTable": sequence.StreamTable, "Counter": counting.Counter,
         "MmsgReader": mmsg.MmsgReader}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SURFACE)), st.data())
def test_uninitialised_objects_raise_as_their_twins(name: str, data: st.DataObject) -> None:
    assert MODULE is not None
    if not hasattr(MODULE, name):
        return
    twin, native = TWINS[name].__new__(TWINS[name]), getattr(MODULE, name).__new__(getattr(MODULE, name))
    methods, attributes = SURFACE[name]
    for _ in range(data.draw(st.integers(1, 4))):
        if data.draw(st.booleans()):
            method = data.draw(st.sampled_from(methods))
            args = hostile(data.draw(st.lists(position, max_size=5)))
            expected = outcome(getattr(twin, method), *args)
            got = outcome(getattr(native, method), *args)
        else:
            attribute = data.draw(st.sampled_from(attributes))
            expected, got = outcome(getattr, twin, attribute), outcome(getattr, native, attribute)
            assert got is expected, f"{name}.{attribute}: twin {expected}, native {got}"
            outcome(setattr, native, attribute, HOSTILE[data.draw(position)])
            outcome(delattr, native, attribute)
            continue
        assert got is not None, f"{name}.{method} ran on an object never initialised"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SURFACE)), st.lists(position, max_size=5), st.data())
def test_init_again_with_hostile_arguments_leaves_a_usable_object(
    name: str, positions: list[int], data: st.DataObject
) -> None:
    """__init__ called again on a live object either works or raises; the object stays
    safe to use afterwards."""
    assert MODULE is not None
    if name == "MmsgReader":
        return  # test_the_reader
    cls = getattr(MODULE, name)
    obj = cls(*([5, 16] if "Tracker" in name else []))
    outcome(lambda: obj.__init__(*hostile(positions)))
    methods, attributes = SURFACE[name]
    for attribute in attributes:
        outcome(getattr, obj, attribute)
    for method in methods:
        outcome(getattr(obj, method), *hostile(data.draw(st.lists(position, max_size=5))))


class Family:
    """A socket look-alike: `family` says AF_INET, `fileno()` returns whatever it is given."""

    family = socket.AF_INET

    def __init__(self, fd: Any) -> None:
        self.fd = fd

    def fileno(self) -> Any:
        return self.fd


def made(make: Callable[..., Any], *args: Any) -> Any:
    """What `make(*args)` returned, or the type of the exception it raised."""
    try:
        return make(*args)
    except Exception as exc:  # noqa: BLE001 - which exception is the point
        return type(exc)


def test_the_reader() -> None:
    """Hostile sockets, sizes and read counts, on a socket with datagrams queued; one
    hostile argument at a time raises as the twin does."""
    assert MODULE is not None
    if not mmsg.available():
        pytest.skip("no recvmmsg here")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unix:
        rx.bind(("127.0.0.1", 0))
        rx.setblocking(False)
        closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        closed.close()
        socks = [rx, closed, unix, None, 0, -1, "x", Evil(), Family(rx.fileno()), Family(-1), Family("x"),
                 Family(2**40), Family(Evil()), Family(closed.fileno())]
        batches = [None, -1, 0, 1, 4, 1025, 2**31, 2**64, "x", 1.5, Evil()]
        buffer_sizes = [None, -1, 0, 1, 2048, (1 << 20) + 1, 2**64, "x", Evil()]
        calls = ([(s, 4, 2048) for s in socks] + [(rx, b, 2048) for b in batches] +
                 [(rx, 4, n) for n in buffer_sizes])
        one_bad = len(calls)
        calls += [(s, b, n) for s in socks[:4] for b in batches for n in buffer_sizes]
        calls += [(rx, 1024, 1), (rx, 1, 1 << 20)]
        for i, call in enumerate(calls):
            twin, native = made(mmsg.MmsgReader, *call), made(MODULE.MmsgReader, *call)
            if i < one_bad and isinstance(twin, type):
                assert native is twin, f"MmsgReader{call!r}: twin {twin}, native {native}"
            for reader in (twin, native):
                if isinstance(reader, type):
                    continue
                tx.sendto(b"hostile", rx.getsockname())
                for max_n in (None, -1, 0, 1, 3, 2**64, -(2**64), "x", 1.5, Evil()):
                    expected = outcome(twin.read, max_n) if not isinstance(twin, type) else None
                    got = outcome(reader.read, max_n)
                    if expected is not None and reader is native:
                        assert got is expected, f"read({max_n!r}): twin {expected}, native {got}"
