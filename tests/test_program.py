"""The program's assembly on an in-memory provider: kept datagrams flow one way, from the
recorder's queue to the outputs, on the runner's thread (no traffic: only the wake-up socket)."""

from __future__ import annotations

import threading

from wskrecv import payload
from wskrecv.bench.targets import NullReporter
from wskrecv.errors import Ending
from wskrecv.program import ReceiveConfig, build_runner
from wskrecv.provider.memory import MemoryProvider
from wskrecv.stats import Recorder
from wskrecv.stats.recorder import DumpRecord

SRC = ("127.0.0.1", 40000)


def test_the_recorder_queues_kept_datagrams_and_calls_nothing() -> None:
    rec = Recorder("irp", keep_datagrams=True)
    rec.record(memoryview(b"abc"), SRC, 5, True, local="127.0.0.2")
    rec.record(b"de", SRC, None, False)
    assert rec.take_dumped() == [
        DumpRecord(b"abc", SRC, True, 5, "127.0.0.2"),
        DumpRecord(b"de", SRC, False, None, None),
    ]
    assert rec.take_dumped() == []
    assert Recorder("irp").take_dumped() == []  # nothing kept unless asked


def test_kept_datagrams_reach_every_sink_in_order_from_the_runner_thread() -> None:
    """event --pend --dump: the worker thread records; only the runner writes outputs."""
    n = 300
    provider = MemoryProvider()
    for seq in range(n):
        provider.push(bytes(payload.build(1, seq, 0, b"x" * 8)), remote=SRC)
    config = ReceiveConfig(mode="event", pend=True, dump=True, count=n, timeout=60.0)
    seen: list[tuple[int, DumpRecord]] = []
    also: list[DumpRecord] = []
    runner = build_runner(provider, config, NullReporter(), sinks=[
        lambda rec: seen.append((threading.get_ident(), rec)), also.append,
    ])
    result = runner.run({"mode": "event"})
    assert result.ending is Ending.COMPLETE and result.reason == "count reached"
    assert {ident for ident, _ in seen} == {threading.get_ident()}
    headers = [payload.parse_wskrecv(rec.data) for _, rec in seen]
    assert [h.sequence for h in headers if h is not None] == list(range(n))
    assert also == [rec for _, rec in seen]
