"""The program's assembly on an in-memory provider: kept datagrams flow one way, from the
recorder's queue to the outputs, on the runner's thread (no traffic: only the wake-up socket)."""

from __future__ import annotations

import threading

from wskrecv import payload
from wskrecv.bench.targets import NullReporter
from wskrecv.config import ReceiveConfig
from wskrecv.errors import Ending
from wskrecv.provider.memory import MemoryProvider
from wskrecv.session.assembly import build_runner
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


# -- listen and event run built-in clients, hosted as `wskrecv run` hosts yours -----------

def _run_builtin(config: ReceiveConfig, n: int):  # type: ignore[no-untyped-def]
    provider = MemoryProvider()
    for seq in range(n):
        provider.push(bytes(payload.build(1, seq, 0, b"x" * 8)), remote=SRC)
    runner = build_runner(provider, config, NullReporter())
    return runner, runner.run({"mode": config.mode})


def test_listen_is_the_builtin_irp_client_on_the_run_host() -> None:
    from wskrecv.builtin import IrpClient
    from wskrecv.hosting.host import ClientHost, RecorderTap
    from wskrecv.stats.modes import IrpStatistics

    runner, result = _run_builtin(ReceiveConfig(mode="irp", outstanding=8, count=50), 50)
    host = runner.app
    assert isinstance(host, ClientHost) and isinstance(host.client, IrpClient)
    assert isinstance(host.sock.tap, RecorderTap)  # counted by the host's tap, as run's
    assert result.ending is Ending.COMPLETE and result.snapshot.received == 50
    stats = result.snapshot.mode_stats
    assert isinstance(stats, IrpStatistics)
    assert stats.completions == 50 and stats.cancellations == 8 and stats.outstanding == 0
    # Its 8 IRPs were tracked from its constructor on, and all freed by its stop hook.
    assert result.snapshot.violations == 0 and host.registration.irps.live == {}
    assert not host.registration.registered  # WskDeregister: the stop hook returned
    assert all(ctx.irp.tracker is host.registration.irps for ctx in host.client.contexts)
    assert all(ctx.irp.state.value == "freed" for ctx in host.client.contexts)


def test_event_is_the_builtin_event_client_on_the_run_host() -> None:
    from wskrecv.builtin import EventClient
    from wskrecv.stats.modes import EventStatistics

    config = ReceiveConfig(mode="event", pend=True, batch=16, count=100, timeout=60.0)
    runner, result = _run_builtin(config, 100)
    assert isinstance(runner.app.client, EventClient)
    stats = result.snapshot.mode_stats
    assert isinstance(stats, EventStatistics)
    assert result.snapshot.received == stats.released == 100 and stats.leaked == 0
    assert stats.pended == stats.callbacks >= 100 // 16
    assert runner.app.client.processed == 100  # its work items walked every held list


def test_the_builtin_clients_have_the_client_shape_and_no_recorder() -> None:
    """Created with their options only, started with the socket, stopped: they register
    their own routines and callback, and never see the recorder: nothing of theirs
    imports the statistics' recorder or the host that owns it."""
    import inspect

    from tests.test_structure import graph
    from wskrecv.builtin import EventClient, IrpClient

    for cls in (IrpClient, EventClient):
        assert list(inspect.signature(cls.start).parameters) == ["self", "socket"]
        assert list(inspect.signature(cls.stop).parameters) == ["self"]
        assert "recorder" not in inspect.signature(cls).parameters
    for module, imports in graph().items():
        if module.startswith("wskrecv.builtin"):
            assert not {m for m in imports if m.startswith(("wskrecv.stats.recorder",
                                                            "wskrecv.hosting"))}, module


def test_without_the_hosts_tap_the_builtin_clients_receive_and_nothing_counts() -> None:
    """What counts is the host's tap on the socket, never the client: untapped, listen's
    client completes every receive and the recorder stays at zero."""
    n = 20
    provider = MemoryProvider()
    for seq in range(n):
        provider.push(bytes(payload.build(1, seq, 0, b"x" * 8)), remote=SRC)
    runner = build_runner(provider, ReceiveConfig(mode="irp", outstanding=4, duration=0.05),
                          NullReporter())
    runner.sock.tap = None
    result = runner.run({"mode": "irp"})
    assert result.reason == "duration over"
    assert result.snapshot.mode_stats.completions == n  # type: ignore[union-attr]
    assert result.snapshot.received == 0 and runner.recorder.received == 0
