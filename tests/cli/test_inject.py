"""Fault injection (`--inject`): for each kind, a client that mishandles it and one that
handles it, with the exact verdict (on a replayed capture: the same faults every time);
the systematic mode finding a client's first failing call; the built-in clients and the
examples surviving every kind at 10% for 100,000 datagrams; a live run; bad options.
In this process (tests/harness.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.cli.replays import PORT, capture
from tests.cli.test_run import line_of
from tests.harness import receive, wskrecv

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"

ENABLE = """\
        WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                         WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))
"""

# One client per kind, each with the bug that kind finds (the line says "# BUG").
MISHANDLERS = {
    "alloc": """\
        from wskrecv.client import *

        class Client:
            def start(self, socket):
                self.socket = socket
                self.irp = IoAllocateIrp()
                IoSetCompletionRoutine(self.irp, self.done, None)  # BUG: NULL not checked
                WskReceiveFrom(socket, WSK_BUF(bytearray(2048)), 0, None, None, None, None,
                               self.irp)

            def done(self, device, irp, context):
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                WskCloseSocket(self.socket)
                IoFreeIrp(self.irp)
        """,
    "receive": """\
        from wskrecv.client import *

        class Client:
            def __init__(self):
                self.irp = IoAllocateIrp()
                self.buffer = WSK_BUF(bytearray(2048))

            def start(self, socket):
                self.socket = socket
                self.post()

            def post(self):
                IoSetCompletionRoutine(self.irp, self.done, None)
                WskReceiveFrom(self.socket, self.buffer, 0, None, None, None, None, self.irp)

            def done(self, device, irp, context):
                if irp.io_status.status == STATUS_SUCCESS:  # BUG: any failure ends it
                    IoReuseIrp(irp, STATUS_SUCCESS)
                    self.post()
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                WskCloseSocket(self.socket)
                IoFreeIrp(self.irp)
        """,
    "cancel": """\
        from wskrecv.client import *

        class Client:
            def __init__(self):
                self.irps = [IoAllocateIrp() for _ in range(4)]
                self.closing = False

            def start(self, socket):
                self.socket = socket
                for irp in self.irps:
                    self.post(irp)

            def post(self, irp):
                IoSetCompletionRoutine(irp, self.done, None)
                WskReceiveFrom(self.socket, WSK_BUF(bytearray(2048)), 0, None, None, None,
                               None, irp)

            def done(self, device, irp, context):
                if irp.io_status.status == STATUS_CANCELLED:
                    IoFreeIrp(irp)  # BUG: takes a cancellation for its own teardown
                elif not self.closing:
                    IoReuseIrp(irp, STATUS_SUCCESS)
                    self.post(irp)
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                self.closing = True
                WskCloseSocket(self.socket)
                for irp in self.irps:
                    IoFreeIrp(irp)  # (the second free of a cancelled one)
        """,
    "short-list": """\
        from wskrecv.client import *

        class Client:
            \"\"\"Takes datagrams in pairs: a request and its answer.\"\"\"

            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)

            def start(self, socket):
                self.socket = socket
        """ + ENABLE + """\

            def receive(self, context, flags, indication):
                if indication is None:
                    WskCloseSocket(self.socket)
                    return STATUS_SUCCESS
                while indication is not None:
                    request, answer = indication.data, indication.next.data  # BUG: pairs
                    indication = indication.next.next
                return STATUS_SUCCESS

            def stop(self):
                pass
        """,
    "no-buffers": """\
        from wskrecv.client import *

        class Client:
            \"\"\"Keeps each list until the next one comes.\"\"\"

            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
                self.previous = None

            def start(self, socket):
                self.socket = socket
        """ + ENABLE + """\

            def receive(self, context, flags, indication):
                if indication is None:
                    WskCloseSocket(self.socket)
                    return STATUS_SUCCESS
                if self.previous is not None:
                    WskRelease(self.socket, self.previous)  # BUG: only a new list frees it
                self.previous = indication
                return STATUS_PENDING

            def stop(self):
                WskControlSocket(self.socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                 WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM
                                                            | WSK_EVENT_DISABLE))
                if self.previous is not None:
                    WskRelease(self.socket, self.previous)
        """,
    "fail-socket": """\
        from wskrecv.client import *

        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)

            def start(self, socket):
                self.socket = socket
        """ + ENABLE + """\

            def receive(self, context, flags, indication):
                return STATUS_SUCCESS  # BUG: a NULL indication too: the socket stays open

            def stop(self):
                pass
        """,
    "delay": """\
        from wskrecv.client import *

        class Client:
            def __init__(self):
                self.irp = IoAllocateIrp()
                self.stopping = False

            def start(self, socket):
                self.socket = socket
                self.post()

            def post(self):
                IoSetCompletionRoutine(self.irp, self.done, None)
                WskReceiveFrom(self.socket, WSK_BUF(bytearray(2048)), 0, None, None, None,
                               None, self.irp)

            def done(self, device, irp, context):
                if not self.stopping:
                    IoReuseIrp(irp, STATUS_SUCCESS)
                    self.post()
                return STATUS_MORE_PROCESSING_REQUIRED

            def stop(self):
                self.stopping = True
                IoCancelIrp(self.irp)
                IoFreeIrp(self.irp)  # BUG: the cancelled IRP may not have completed yet
                WskCloseSocket(self.socket)
        """,
}

# kind: (rate, exit status, verdict, how the fault that was not survived is judged (the
# line: the `# BUG` line, or the client's own: "where" of the fault), the handling example)
CASES = {
    "alloc": ("1", 6, "crashed", "wskrecv.wsk.dispatch.WskArgumentError: IoSetCompletionRoutine: "
              "Irp must be Irp, not NoneType in start hook start ({BUG})", "irp"),
    "receive": ("0.1", 8, "stalled", "stopped receiving at 0.005000 s (no receive posted and "
                "no callback enabled); last call WskReceiveFrom at {post} (0.004000 s)", "irp"),
    "cancel": ("0.1", 7, "violated", "IrpUsedAfterFree at {second free}", "irp"),
    "short-list": ("1", 6, "crashed", "AttributeError: 'NoneType' object has no attribute "
                   "'data' in receive callback receive ({BUG})", "event"),
    "no-buffers": ("1", 8, "stalled", "stopped receiving at 0.127000 s (no receive posted, and "
                   "indications wait for buffers the client holds (64)); last call "
                   "WskControlSocket at {enable} (0.000000 s)", "event"),
    "fail-socket": ("1", 7, "leaked", "the socket stopped working and the client never closed "
                    "it (WskCloseSocket)", "event"),
    "delay": ("1", 7, "violated", "IrpFreedWhilePending at {BUG}", "irp"),
}


@pytest.fixture(scope="module")
def cap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 datagrams to PORT, 1 ms apart."""
    return capture(tmp_path_factory.mktemp("inject") / "cap.pcap", 400)


def replay(client: Path, cap: Path, *args: str) -> Any:
    return wskrecv("run", str(client), "-p", str(PORT), "--replay", str(cap), "-i", "0",
                   "--json", "--seed", "1", *args)


def _line_with(path: Path, marker: str) -> str:
    return f"{path}:{line_of(path, marker)}"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_fails_the_client_that_mishandles_it_exactly(
        tmp_path: Path, cap: Path, kind: str) -> None:
    rate, status, verdict, why, _ = CASES[kind]
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(MISHANDLERS[kind]))
    r = replay(client, cap, "--inject", f"{kind}={rate}")
    assert r.status == status, r.stderr
    faults = r.summary["faults"]
    assert faults["verdict"] == verdict and faults["outcomes"][verdict] == 1
    (notable,) = [f for f in faults["notable"] if f["outcome"] == verdict]
    assert notable["kind"] == kind
    for name, marker in (("{BUG}", "# BUG"), ("{post}", "WskReceiveFrom("),
                         ("{second free}", "(the second free"),
                         ("{enable}", "WskControlSocket(socket")):
        if name in why:
            why = why.replace(name, _line_with(client, marker))
    assert notable["why"] == why
    assert r.summary["exit_status"] == status
    # Every datagram is accounted for: received, or unread (also what the provider held
    # when the socket closed: a failed request's datagram, a list the pool could not take).
    assert r.summary["received"] + r.summary["unread_at_exit"] == 400


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_is_survived_by_the_example_that_handles_it(cap: Path, kind: str) -> None:
    rate, *_, example = CASES[kind]
    if kind == "alloc":
        rate = "0.5"  # at 1 no IRP at all: nothing to receive with
    r = replay(EXAMPLES / f"{example}.py", cap, "--inject", f"{kind}={rate}")
    assert r.status == 0, r.stderr
    faults = r.summary["faults"]
    assert faults["injected"] >= 1 and faults["verdict"] == "recovered"
    assert faults["outcomes"]["recovered"] == faults["injected"]
    if kind == "fail-socket":  # it closed the socket at the NULL indication
        assert r.summary["reason"] == "socket closed"
    else:
        assert r.summary["received"] == 400


def test_the_human_summary_names_the_fault_its_outcome_and_the_last_call(
        tmp_path: Path, cap: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(MISHANDLERS["receive"]))
    r = wskrecv("run", str(client), "-p", str(PORT), "--replay", str(cap), "-i", "0",
                "--seed", "1", "--inject", "receive=0.1")
    assert r.status == 8
    routine = _line_with(client, "def done")
    post = _line_with(client, "WskReceiveFrom(")
    assert "faults       1 fault injected in 6 injectable calls (seed 1): receive 1\n" in r.stderr
    assert "after them   stalled 1\n" in r.stderr
    assert (f"  fault 1: receive at 0.005000 s ({routine}; completed with "
            "STATUS_INSUFFICIENT_RESOURCES (0xC000009A)): stalled: stopped receiving at "
            "0.005000 s (no receive posted and no callback enabled); last call WskReceiveFrom "
            f"at {post} (0.004000 s)\n") in r.stderr
    assert "the client stopped receiving after an injected fault (exit 8)" in r.stderr


CHECKED_ALLOCATIONS = """\
    from wskrecv.client import *

    class Client:
        \"\"\"Receives through its callback; keeps two IRPs, and a spare.\"\"\"

        def __init__(self):
            self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.receive)
            self.irps = []
            for _ in range(2):
                irp = IoAllocateIrp()
                if irp is not None:
                    self.irps.append(irp)
            self.spare = IoAllocateIrp()
            IoSetCompletionRoutine(self.spare, self.done, None)  # BUG: not checked

        def done(self, device, irp, context):
            return STATUS_MORE_PROCESSING_REQUIRED

        def start(self, socket):
            self.socket = socket
            WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                             WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

        def receive(self, context, flags, indication):
            return STATUS_SUCCESS

        def stop(self):
            for irp in self.irps + [self.spare]:
                IoFreeIrp(irp)
"""


def test_the_systematic_mode_finds_the_first_call_the_client_does_not_survive(
        tmp_path: Path, cap: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(CHECKED_ALLOCATIONS))
    r = wskrecv("run", str(client), "-p", str(PORT), "--replay", str(cap), "-i", "0",
                "--inject", "alloc", "--inject-systematic", "--json")
    assert r.status == 6, r.stderr
    runs = r.of_type("systematic")
    assert [(o["run"], o["kind"], o["outcome"]) for o in runs] == [
        (1, "alloc", "recovered"), (2, "alloc", "recovered"), (3, "alloc", "crashed")]
    (result,) = r.of_type("systematic_result")
    assert result["first_failing_call"] == 3 and result["runs"] == 3
    assert "client fault in Client() (after an injected fault: alloc at " in r.stderr


def test_the_systematic_mode_ends_when_the_client_survives_every_call(tmp_path: Path) -> None:
    three = capture(tmp_path / "three.pcap", 3)
    r = wskrecv("run", str(EXAMPLES / "irp.py"), "-p", str(PORT), "--replay", str(three),
                "-i", "0", "--inject", "alloc", "--inject", "fail-socket",
                "--inject-systematic", "20")
    assert r.status == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("wskrecv: systematic")]
    # Four IoAllocateIrp calls and one delivery (the three datagrams, for four receives)
    # that can fail the socket: five runs with one fault each, and a sixth with none left.
    assert len(lines) == 6 and "run 5: failed call 5 (fail-socket" in lines[4]
    assert lines[-1] == "wskrecv: systematic: the client survived every one of its 5 " \
                        "injectable calls"


# Every built-in client style and every example, each kind at 10% (all but fail-socket at
# once, which ends a run) for 100,000 datagrams.
SURVIVORS = [("listen",), ("event",), ("event", "--pend", "--hold", "1"),
             ("event", "--reject-every", "5"), ("event", "--keep-every", "2", "--hold", "1"),
             *[("run", str(EXAMPLES / f"{name}.py"), "--grace", "0.2")
               for name in ("irp", "event", "deep_queue", "cut_and_pend", "page_irp",
                            "page_event")]]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture(tmp_path_factory.mktemp("inject") / "big.pcap", 100_000, gap_ns=20_000)


@pytest.mark.parametrize("command", SURVIVORS, ids=" ".join)
def test_the_built_in_clients_and_the_examples_survive_every_kind(big: Path,
                                                                  command: tuple[str, ...]) -> None:
    r = wskrecv(*command, "-p", str(PORT), "--replay", str(big), "-i", "0", "--json", "--seed",
                "3", "--inject", "all=10%", "--inject", "fail-socket=0")
    assert r.status == 0, r.stderr
    s = r.summary
    assert s["received"] == 100_000 and s["violations"] == 0
    faults = s["faults"]
    assert faults["verdict"] == "recovered" and faults["injected"] > 300
    r = wskrecv(*command, "-p", str(PORT), "--replay", str(big), "-i", "0", "--json", "--seed",
                "3", "--inject", "fail-socket=10%")
    assert r.status == 0, r.stderr
    assert r.summary["faults"]["by_kind"]["fail-socket"] == {
        "injected": 1, "recovered": 1, "stalled": 0, "leaked": 0, "violated": 0, "crashed": 0}
    assert r.summary["reason"] == "socket closed"


def test_the_buggy_example_fails_the_documented_way(cap: Path) -> None:
    path = EXAMPLES / "buggy.py"
    r = replay(path, cap, "--inject", "fail-socket=1")
    assert r.status == 7
    (fault,) = r.summary["faults"]["notable"]
    assert (fault["kind"], fault["outcome"]) == ("fail-socket", "leaked")
    r = replay(path, cap, "--inject", "alloc=1")
    assert r.status == 6 and r.out == b""
    assert r.stderr.startswith("wskrecv: error: client fault in Buggy() (after an injected "
                               f"fault: alloc at {path}:{line_of(path, '# BUG: never freed')}, "
                               "seed 1): Traceback")


def test_a_live_run_injects_and_says_its_seed() -> None:
    r = receive("listen", "--count", "300", "--timeout", "60", "--inject", "cancel=0.2",
                "--inject", "delay=0.1", send=[b"%d" % i for i in range(300)])
    assert r.status == 0, r.stderr
    start = r.start
    assert isinstance(start["seed"], int)
    assert start["inject"] == {"rates": {"cancel": 0.2, "delay": 0.1}, "max_delay_ms": 10.0}
    faults = r.summary["faults"]
    assert faults["seed"] == start["seed"] and faults["injected"] >= 1
    assert faults["verdict"] == "recovered" and r.summary["received"] == 300


@pytest.mark.parametrize(("args", "message"), [
    (("--inject", "oom"), "'oom' is not a fault kind (kinds: alloc, receive, cancel, "
                          "short-list, no-buffers, fail-socket, delay, or all)"),
    (("--inject", "cancel=1.5"), "'cancel=1.5': a rate is a chance, from 0 to 1 (or 0% to 100%)"),
    (("--inject", "cancel=-1"), "a rate is a chance"),
    (("--inject-status", "NO_MEMORY"), "--inject-status is the failure of --inject receive"),
    (("--inject", "receive", "--inject-status", "CANCELLED"), "(a cancellation is --inject cancel)"),
    (("--inject-delay", "5ms"), "--inject-delay bounds --inject delay: give it too"),
    (("--seed", "3"), "--seed seeds --inject: give a kind to inject"),
    (("--inject-systematic",), "--inject-systematic runs the same traffic again and again"),
    (("--inject", "alloc", "--workers", "2"), "--inject judges one client on one socket"),
])
def test_bad_injection_options_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    r = wskrecv("listen", "-p", "0", *args)
    assert r.status == 2
    assert len(r.stderr.splitlines()) == 1 and message in r.stderr
