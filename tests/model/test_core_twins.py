"""The compiled counting kernel against its pure-Python twin (the specification): the same
random and hostile lists, counted both ways, must give identical snapshots and tables.

Hostile means: garbage, headers whose lengths lie, sequences and send times of 0 and
2**64-1, 32-bit counters wrapping, thousands of senders and streams through small tables
(eviction), every datagram size from 0 to 65507, missing and out-of-step timestamps. CI
also runs this module against an AddressSanitizer/UBSan build (tests/test_sanitizers.py).
"""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wskrecv import core as cores
from wskrecv import payload
from wskrecv.payload import FORMATS
from wskrecv.stats import Recorder
from wskrecv.stats.counting import Counter
from wskrecv.stats.snapshot import Snapshot

NATIVE = cores.native()
pytestmark = [pytest.mark.skipif(NATIVE is None, reason="the native core is not built here"),
              pytest.mark.usefixtures("native_core")]


U64 = (1 << 64) - 1
NOW = 1_700_000_000_000_000_000
EDGES = [0, 1, 2, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 63) - 1, 1 << 63, U64 - 1, U64]

u64 = st.one_of(st.sampled_from(EDGES), st.integers(0, U64), st.integers(0, 300))
u32 = st.one_of(st.sampled_from([0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 2, (1 << 32) - 1]),
                st.integers(0, (1 << 32) - 1), st.integers(0, 100))


def _wskrecv(stream: int, seq: int, send: int, body: bytes, lie: int, corrupt: bool) -> bytes:
    d = payload.build(stream, seq, send, body)
    if corrupt and body:
        d[-1] ^= 0x5A
    if lie == 1:  # body_len that does not add up
        struct.pack_into("!I", d, 28, len(body) + 1)
    elif lie == 2:  # header_len below 36
        struct.pack_into("!H", d, 6, 20)
    elif lie == 3:  # header_len beyond the 36 bytes, body_len not compensating
        struct.pack_into("!H", d, 6, 40)
    elif lie == 4:  # wrong version
        d[4] = 2
    elif lie == 5:  # header_len longer than 36 (an extension), lengths adding up
        d = bytearray(d[:6]) + struct.pack("!H", 40) + d[8:36] + b"EXT!" + d[36:]
        struct.pack_into("!I", d, 28, len(body))
    return bytes(d)


wskrecv_datagrams = st.builds(
    _wskrecv, st.integers(0, 3) | st.sampled_from([(1 << 32) - 1]), u64,
    st.one_of(u64, st.integers(NOW - 10**9, NOW + 10**6)), st.binary(max_size=40),
    st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5]), st.booleans(),
)
sockperf_datagrams = st.builds(
    lambda seq, lie, pad: payload.SOCKPERF.pack(seq, 0, 14 + pad + lie) + bytes(pad),
    u64, st.sampled_from([0, 0, 0, 1]), st.integers(0, 30),
)
iperf3_datagrams = st.builds(
    lambda sec, usec, count, wide, pad: (
        payload.IPERF3_64.pack(sec, usec, count) if wide
        else payload.IPERF3.pack(sec, usec, count & 0xFFFFFFFF)
    ) + bytes(pad),
    u32, st.one_of(st.integers(0, 999_999), st.sampled_from([1_000_000, (1 << 32) - 1])), u64,
    st.booleans(), st.integers(0, 20),
)
garbage = st.one_of(
    st.binary(max_size=80),
    st.builds(lambda n, b: bytes([b]) * n, st.integers(0, 65507), st.integers(0, 255)),
    st.builds(lambda rest: b"WSKR" + rest, st.binary(max_size=60)),
)
datagrams = st.one_of(wskrecv_datagrams, wskrecv_datagrams, sockperf_datagrams, iperf3_datagrams, garbage)
remotes = st.one_of(
    st.sampled_from([("127.0.0.1", 5000), ("127.0.0.2", 6000), ("::1", 7000, 0, 0)]),
    st.builds(lambda i: (f"10.{i >> 8 & 255}.{i & 255}.1", 1024 + i), st.integers(0, 5000)),
)
stamps = st.one_of(st.none(), st.integers(NOW - 10**9, NOW + 10**3), st.sampled_from([0, (1 << 63) - 1]))
item = st.tuples(datagrams, remotes, stamps)
step = st.one_of(
    st.tuples(st.just("list"), st.lists(item, max_size=64), st.integers(NOW - 10**6, NOW + 10**9)),
    st.tuples(st.just("one"), item, st.integers(NOW - 10**6, NOW + 10**9)),
    # A datagram the receive buffer truncated (MSG_TRUNC): its header may still count.
    st.tuples(st.just("truncated"), st.tuples(datagrams, remotes, stamps, st.integers(0, 40)),
              st.integers(NOW - 10**6, NOW + 10**9)),
    st.tuples(st.just("snapshot"), st.booleans(), st.just(0)),
    # An iperf3 server switching formats between tests, and announcing where streams start.
    st.tuples(st.just("switch"), st.sampled_from(FORMATS), st.just(0)),
    st.tuples(st.just("expect"), st.tuples(remotes, st.integers(0, 3)), st.sampled_from([0, 1, 5])),
)


def recorders(seq_format: str, **kw: Any) -> tuple[Recorder, Recorder]:
    assert NATIVE is not None
    kw.setdefault("clock_ns", lambda: NOW)  # the snapshots' wall-clock time, alike
    return (Recorder("event", seq_format=seq_format, counter=Counter, **kw),
            Recorder("event", seq_format=seq_format, counter=NATIVE.counter, **kw))


def tables(rec: Recorder) -> tuple:
    """Everything the tables hold, in their order (eviction depends on it)."""
    c = rec.counts
    streams = [(key, t.base, t.high, t.seen, t.reordered, t.duplicates, t.late, t.restarts,
                t.jitter_ns, t.last_transit, t.probe, t.mark, t.lost, t.expected, t.datagrams,
                (t.latency.counts, t.latency.max, t.latency.sum) if t.latency else None, t.bytes)
               for key, t in c.streams.streams.items()]
    r = c.streams.retired
    retired = (r.lost, r.reordered, r.duplicates, r.late, r.expected, r.sequenced, r.restarts)
    owd, app = c.latency(False)
    return (list(c.sources.rows.items()), c.sources.seen, c.sources.evicted, streams, retired,
            c.streams.seen, c.streams.evicted, owd.counts, owd.max, owd.sum, app.counts, app.max,
            app.sum,
            list(c.size_counts), c.size_min, c.size_max, c.corrupt, c.unsequenced,
            c.reply_requests)


def run(steps: list, seq_format: str, **kw: Any) -> None:
    py, native = recorders(seq_format, **kw)
    t = 0.0
    for kind, arg, now in steps:
        if kind == "list":
            cols = list(zip(*arg)) if arg else [(), (), ()]
            for rec in (py, native):
                rec.record_many(list(cols[0]), list(cols[1]), list(cols[2]), now)
        elif kind == "one":
            for rec in (py, native):
                rec.record(arg[0], arg[1], arg[2], False, now)
        elif kind == "truncated":
            data, remote, stamp, cut = arg
            for rec in (py, native):
                rec.record(data[: max(0, len(data) - cut)], remote, stamp, True, now)
        elif kind == "switch":
            for rec in (py, native):
                rec.use_seq_format(arg)
        elif kind == "expect":
            for rec in (py, native):
                rec.streams.expect(arg[0], arg[1], now)
        else:
            t += 1.0
            # Every stream's row, or the worst few (the ranking must pick the same ones).
            limit = None if arg else 3
            a: Snapshot = py.snapshot(t, 0, {}, None, advance=arg, streams_limit=limit)
            b: Snapshot = native.snapshot(t, 0, {}, None, advance=arg, streams_limit=limit)
            assert a == b
    assert tables(py) == tables(native)
    a, b = (rec.snapshot(t + 1, 0, {}, None, streams_limit=None) for rec in (py, native))
    assert a == b and len(a.stream_rows) == a.streams_tracked


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(st.sampled_from(FORMATS), st.lists(step, max_size=25))
def test_both_kernels_count_random_and_hostile_lists_identically(seq_format: str, steps: list) -> None:
    run(steps, seq_format, window=16, max_streams=8, max_sources=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["auto", "iperf3", "iperf3-64", "sockperf"]), st.lists(step, max_size=12))
def test_both_kernels_agree_with_the_default_tables(seq_format: str, steps: list) -> None:
    run(steps, seq_format)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([16, 64]), st.booleans(),
       st.lists(st.tuples(st.one_of(u64, st.integers(0, 200)), st.one_of(st.none(), st.integers(-U64, U64))),
                min_size=1, max_size=200))
def test_both_trackers_follow_any_sequence(window: int, wrap32: bool, seqs: list) -> None:
    from wskrecv.stats.sequence import StreamTracker, Wrap32Tracker

    assert NATIVE is not None
    mod = cores.native_module()
    py_cls, c_cls = (Wrap32Tracker, mod.Wrap32Tracker) if wrap32 else (StreamTracker, mod.StreamTracker)
    first = seqs[0][0] & 0xFFFFFFFF if wrap32 else seqs[0][0]
    a, b = py_cls(first, window, seqs[0][1]), c_cls(first, window, seqs[0][1])
    for seq, transit in seqs[1:]:
        seq = seq & 0xFFFFFFFF if wrap32 else seq
        a.see(seq, transit)
        b.see(seq, transit)
        fields = ("base", "high", "seen", "reordered", "duplicates", "late", "restarts", "jitter_ns",
                  "last_transit", "probe", "lost", "expected", "datagrams", "distinct", "window")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]


@pytest.mark.parametrize("seq_format", ["auto", "iperf3"])
def test_thousands_of_senders_through_small_tables(seq_format: str) -> None:
    rng = random.Random(11)
    steps: list = []
    for i in range(60):
        batch = []
        for _ in range(64):
            k = rng.randrange(5000)
            remote = (f"127.{k >> 8 & 255}.{k & 255}.9", 1000 + k % 7)
            if seq_format == "iperf3":
                d = payload.IPERF3.pack(1, 5, (rng.randrange(3) + i * 64) & 0xFFFFFFFF)
            else:
                d = bytes(payload.build(k % 3, rng.randrange(10), NOW - rng.randrange(10**6), b"z" * (k % 9)))
            batch.append((d, remote, NOW - rng.randrange(10**5)))
        steps.append(("list", batch, NOW + i))
        if i % 7 == 0:
            steps.append(("snapshot", True, 0))
    run(steps, seq_format, window=16, max_streams=32, max_sources=32)


def test_every_datagram_size_is_counted_alike() -> None:
    sizes = list(range(0, 65508, 97)) + [0, 1, 35, 36, 37, 65507]
    steps: list = [("list", [(bytes(n), ("127.0.0.1", 9), None) for n in sizes[i:i + 64]], NOW)
                   for i in range(0, len(sizes), 64)]
    run(steps, "auto")


def test_kernel_crc_is_zlibs() -> None:
    import zlib

    mod = cores.native_module()
    rng = random.Random(5)
    for n in list(range(0, 40)) + [1000, 65507]:
        data = bytes(rng.getrandbits(8) for _ in range(n))
        assert mod.crc32(data) == zlib.crc32(data)


def test_unknown_format_is_refused_by_both() -> None:
    assert NATIVE is not None
    for make in (Counter, NATIVE.counter):
        with pytest.raises(ValueError):
            make("nope", 16, 8, 8)


def table_state(sources: Any, streams: Any) -> tuple:
    """Everything both tables show, in their order."""
    trackers = [(key, t.base, t.high, t.seen, t.late, t.restarts, t.jitter_ns, t.mark, t.lost, t.expected,
                 t.datagrams, type(t).__name__) for key, t in streams.streams.items()]
    r, t = streams.retired, streams.totals()
    fields = ("lost", "reordered", "duplicates", "late", "expected", "sequenced", "restarts")
    return (list(sources.rows.items()), sources.seen, sources.evicted, sources.max_sources, trackers,
            [getattr(r, f) for f in fields], [getattr(t, f) for f in fields], streams.mean_jitter_ns(),
            streams.seen, streams.evicted, streams.max_streams, streams.window)


transits = st.one_of(st.none(), st.integers(-U64, U64))
table_op = st.one_of(
    st.tuples(st.just("source"), remotes, st.integers(0, 70000)),
    st.tuples(st.just("stream"), st.tuples(remotes, st.integers(0, 3)), u64, transits),
    st.tuples(st.just("expect"), remotes, st.integers(0, 3), u64),
    st.tuples(st.just("wrap32"), st.booleans()),
    st.tuples(st.just("see"), st.integers(0, 100), u64, transits),
    st.tuples(st.just("mark"), st.integers(0, 100), st.integers(0, 1000)),
)


@settings(max_examples=200, deadline=None)
@given(st.integers(-1, 6), st.integers(-1, 6), st.sampled_from([1, 16]), st.booleans(),
       st.lists(table_op, max_size=40))
def test_both_tables_keep_the_same_rows_streams_and_evictions(
    max_sources: int, max_streams: int, window: int, wrap32: bool, ops: list
) -> None:
    """The source and stream tables driven directly, through their whole API, with tiny
    bounds (eviction at every other step)."""
    from wskrecv.stats.sequence import StreamTable
    from wskrecv.stats.sources import SourceTable

    mod = cores.native_module()
    twins = [(SourceTable(max_sources), StreamTable(max_streams, window, wrap32)),
             (mod.SourceTable(max_sources), mod.StreamTable(max_streams, window, wrap32))]
    for op in ops:
        for sources, streams in twins:
            live = list(streams.streams.values())
            if op[0] == "source":
                sources.new(op[1], op[2])
            elif op[0] == "stream":
                streams.new(op[1], op[2], op[3])
            elif op[0] == "expect":
                streams.expect(op[1], op[2], op[3])
            elif op[0] == "wrap32":
                streams.use_wrap32(op[1])
            elif live and op[0] == "see":
                live[op[1] % len(live)].see(op[2], op[3])
            elif live:
                live[op[1] % len(live)].mark = op[2]
        assert table_state(*twins[0]) == table_state(*twins[1])


def test_the_native_tables_hand_out_copies_and_views() -> None:
    """Each native table owns its data: `rows` is a copy, `streams` a read-only view."""
    assert NATIVE is not None
    counter = NATIVE.counter("auto", 16, 8, 8)
    counter.add(bytes(payload.build(0, 1, NOW, b"x")), ("127.0.0.1", 9), None, NOW)
    rows = counter.sources.rows
    rows[("127.0.0.1", 9)][0] = 99
    rows[("10.0.0.1", 1)] = [1, 1]
    assert counter.sources.rows == {("127.0.0.1", 9): [1, 37]}
    with pytest.raises(TypeError):
        counter.streams.streams[("x", 1)] = None  # type: ignore[index]
    assert len(counter.streams.streams) == 1


def _counted_while_the_columns_empty(counter: Any) -> tuple:
    """add_list over 6 datagrams whose remotes collide in the sources table: the second
    sender's lookup compares it with the first, and that == empties the three columns
    (lists the caller still holds)."""
    datas = [bytes(payload.build(1, seq, 0, b"x")) for seq in range(6)]

    class Remote:
        def __init__(self, name: str) -> None:
            self.name = name

        def __hash__(self) -> int:
            return 7  # one bucket for both

        def __eq__(self, other: object) -> bool:
            for column in (datas, remotes, stamps):
                column.clear()
            return self is other

    a, b = Remote("a"), Remote("b")
    remotes = [a, a, b, b, a, b]
    stamps = [None] * 6
    c = counter("auto", 16, 8, 8)
    c.add_list(datas, remotes, stamps, NOW)
    return c.received, c.bytes, sorted(r[0] for r in c.sources.rows.values())


def test_columns_a_remote_empties_while_counted_are_read_as_they_were() -> None:
    """A remote's == may run any code: both kernels count the columns as they were when
    the call began (the compiled one read a list's items borrowed, past a shrunk end)."""
    assert NATIVE is not None
    assert _counted_while_the_columns_empty(Counter) == _counted_while_the_columns_empty(NATIVE.counter)
