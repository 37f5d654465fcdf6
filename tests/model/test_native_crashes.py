"""Three ways the compiled core could be crashed from Python, found by reading the C: each
now raises the Python exception its pure-Python twin raises (or works as the twin does).

Each case runs in a child interpreter, so a segmentation fault fails the test instead of
killing pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from wskrecv import core as cores

pytestmark = [pytest.mark.skipif(cores.native_module() is None, reason="the native core is not built here"),
              pytest.mark.usefixtures("native_core")]


def isolated(code: str) -> list[str]:
    """The lines `code` prints in a fresh interpreter; the test fails if it dies."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-2000:]}"
    return r.stdout.split()


def test_a_sender_address_longer_than_any_ip_one_is_read_safely() -> None:
    """The kernel reports an AF_UNIX sender's full address length (here 103 bytes), past
    the reader's 32-byte cache key: the reader copied that many. Both readers refuse
    a socket that is not AF_INET/AF_INET6; a socket object that hides its family is read
    without writing past anything."""
    out = isolated("""
        import gc, socket
        from wskrecv import _core
        from wskrecv.provider import mmsg
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(b"\\0" + b"r" * 100)
        rx.setblocking(False)
        tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        tx.bind(b"\\0" + b"s" * 100)
        for cls in (mmsg.MmsgReader, _core.MmsgReader):
            try:
                cls(rx, 4, 2048)
            except ValueError:
                print("ValueError")

        class Disguised:
            family = socket.AF_INET
            def fileno(self):
                return rx.fileno()

        reader = _core.MmsgReader(Disguised(), 4, 2048)
        for round in range(3):
            for i in range(4):
                tx.sendto(b"x%d" % i, rx.getsockname())
            print(len(reader.read(4)))
        del reader
        gc.collect()
        print("done")
    """)
    assert out == ["ValueError", "ValueError", "4", "4", "4", "done"]


@pytest.mark.parametrize("call", [
    "t.see(5)", "t.see(5, 100)", "t.unsee_first()",
])
@pytest.mark.parametrize("cls", ["StreamTracker", "Wrap32Tracker"])
def test_a_tracker_used_before_init_raises_as_its_twin(cls: str, call: str) -> None:
    out = isolated(f"""
        from wskrecv import _core
        from wskrecv.stats import sequence
        for mod in (sequence, _core):
            t = mod.{cls}.__new__(mod.{cls})
            try:
                {call}
                print("no-error")
            except Exception as exc:
                print(type(exc).__name__)
    """)
    assert out == ["AttributeError", "AttributeError"]


@pytest.mark.parametrize("call", [
    "c.add(b'x', ('h', 1), None, 0)",
    "c.add_list([b'x'], [('h', 1)], [None], 0)",
    "c.latency(False)",
    "c.use_seq_format('auto')",
    "c.sources",
    "c.streams",
])
def test_a_counter_used_before_init_raises_as_its_twin(call: str) -> None:
    out = isolated(f"""
        from wskrecv import _core
        from wskrecv.stats import counting
        for cls in (counting.Counter, _core.Counter):
            c = cls.__new__(cls)
            try:
                {call}
                print("no-error")
            except Exception as exc:
                print(type(exc).__name__)
    """)
    assert out == ["AttributeError", "AttributeError"]


@pytest.mark.parametrize("hide", [False, True])
def test_settle_on_an_indication_never_initialised_acts_as_its_twin(hide: bool) -> None:
    """An indication made with __new__ has every field empty, its state too: settling it
    reads the state to find its next one in the table's row, finds none (AttributeError)
    and changes nothing, as the Python function does."""
    out = isolated(f"""
        from wskrecv import core
        from wskrecv.wsk import _state, indication
        cls = indication.WskDatagramIndication
        row = _state.INDICATION_ROWS[_state.IndicationEvent.ACCEPT]
        for settle in (_state.settle, core.native().settle):
            ind = cls.__new__(cls)
            try:
                settle([ind], row, {hide})
                print("ok")
            except Exception as exc:
                print(type(exc).__name__)
            print(getattr(ind, "state", "unset"))
    """)
    assert out == ["AttributeError", "unset"] * 2
