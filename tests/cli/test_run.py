"""`wskrecv run CLIENT.py`: the shipped examples and templates on real loopback traffic,
client faults, and every way a file can fail to be a client. In this process
(tests/harness.py), but for what needs one: a signal, a client thread that may outlive
the run or never returns (wskrecv then exits without waiting for it)."""

from __future__ import annotations

import json
import signal
import socket
import textwrap
from pathlib import Path

import pytest

from tests.cli.test_listen import summary_of
from tests.conftest import Wskrecv, read_line
from tests.harness import Result, receive, wskrecv

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of `path` holding `marker` (exactly one)."""
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1) if marker in text]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def write_client(tmp_path: Path, source: str, name: str = "client.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def run_example(path: Path, payloads: list[bytes], *args: str) -> tuple[int, dict, str]:
    r = receive("run", str(path), "--count", str(len(payloads)), "--timeout", "60", *args,
                send=payloads)
    assert r.start["mode"] == "client"
    return r.status, r.summary, r.stderr


def test_deep_queue_receives_every_datagram_and_cancels_its_queue_at_stop() -> None:
    payloads = [bytes([i % 256]) * 100 for i in range(300)] + [b"L" * 3000] * 5
    status, s, err = run_example(EXAMPLES / "deep_queue.py", payloads)
    assert status == 0, err
    assert s["received"] == 305 and s["completions"] == 305
    assert s["truncated"] == 5 and s["bytes"] == 300 * 100 + 5 * 2048
    assert s["cancellations"] == 32  # DEPTH receives still posted when it closed
    assert s["violations"] == 0 and s["leaked"] == 0 and s["exit_status"] == 0
    assert s["client"]["class"] == "DeepQueue" and s["client"]["fault"] is None


def test_cut_and_pend_releases_inside_the_callback_and_pends_the_rest() -> None:
    payloads = [bytes([i % 256]) + b"." * 63 for i in range(400)]  # odd first byte: kept
    status, s, err = run_example(EXAMPLES / "cut_and_pend.py", payloads)
    assert status == 0, err
    assert s["received"] == 400 and s["violations"] == 0 and s["leaked"] == 0
    # The 200 dropped: released inside the callback, or with a list that kept nothing
    # (STATUS_SUCCESS); the 200 kept: pended, released later by the worker.
    assert s["released_in_callback"] + s["consumed"] == 200
    assert s["released"] - s["released_in_callback"] == 200
    assert s["pended"] >= 1 and s["held"] == 0


def test_buggy_client_violations_and_leaks_are_reported_exactly() -> None:
    path = EXAMPLES / "buggy.py"
    status, s, err = run_example(path, [b"%d" % i for i in range(10)])
    assert status == 7, err
    assert s["received"] == 10
    assert s["completions"] == 1  # the one IRP, completed once, never posted again
    assert s["leaked"] == 9  # every datagram the callback retained
    assert s["violations_by_rule"] == {"IrpAlreadyPending": 1, "IndicationLeaked": 1,
                                       "IrpLeaked": 1}
    sites = {site["rule"]: site for site in s["client"]["violation_sites"]}
    assert sites["IrpAlreadyPending"]["where"] == f"{path}:{line_of(path, '# BUG: still pending')}"
    assert sites["IrpAlreadyPending"]["count"] == 1
    assert sites["IndicationLeaked"]["where"] == f"{path}:{line_of(path, 'def receive_from_event')}"
    # Its one IRP, completed once and never freed: blamed on the IoAllocateIrp call.
    assert sites["IrpLeaked"]["where"] == f"{path}:{line_of(path, '# BUG: never freed')}"
    assert sites["IrpLeaked"]["count"] == 1
    assert sites["IrpLeaked"]["detail"] == "never freed with IoFreeIrp; left completed"
    assert len(sites) == 3


def test_buggy_client_human_report_names_rule_and_line() -> None:
    path = EXAMPLES / "buggy.py"
    r = receive("run", str(path), "--count", "3", "--timeout", "60", json_mode=False,
                send=[b"a", b"b", b"c"])
    status, err = r.status, r.stderr
    assert status == 7, err
    pending = line_of(path, "# BUG: still pending")
    assert f" IrpAlreadyPending 1 at {path}:{pending} (submit while pending)\n" in err
    assert "\nverifier     Ind" in err or "\nverifier     Irp" in err
    assert "leaked       2 datagrams retained and never released" in err
    allocated = line_of(path, "# BUG: never freed")
    assert f" IrpLeaked 1 at {path}:{allocated} (never freed with IoFreeIrp; left completed)\n" in err
    assert "leaked       1 IRP allocated with IoAllocateIrp and never freed with IoFreeIrp\n" in err


LEAKY_IRPS = """\
    from wskrecv.client import *

    class Leaky:
        def __init__(self):
            self.irps = [IoAllocateIrp() for _ in range(3)]  # allocated here

        def start(self, socket):
            self.socket = socket
            for irp in self.irps:
                IoSetCompletionRoutine(irp, self.done, None)
                WskReceiveFrom(socket, WSK_BUF(bytearray(64)), 0, None, None, None, None, irp)
            self.extra = IoAllocateIrp()  # and one more here

        def done(self, device, irp, context):
            return STATUS_MORE_PROCESSING_REQUIRED

        def stop(self):
            WskCloseSocket(self.socket)  # cancels the three receives
            IoFreeIrp(self.irps[0])  # frees one of the three
"""


def test_irps_never_freed_are_leaks_blamed_on_their_allocation(tmp_path: Path) -> None:
    path = write_client(tmp_path, LEAKY_IRPS)
    r = receive("run", str(path), "--timeout", "60", "--count", "1", send=[b"x"])
    assert r.status == 7, r.stderr
    s = r.summary
    assert s["violations_by_rule"] == {"IrpLeaked": 3} and s["leaked"] == 0
    sites = {site["where"]: site for site in s["client"]["violation_sites"]}
    in_init = sites[f"{path}:{line_of(path, '# allocated here')}"]
    in_start = sites[f"{path}:{line_of(path, '# and one more here')}"]
    assert in_init["rule"] == in_start["rule"] == "IrpLeaked"
    assert in_init["count"] == 2 and in_start["count"] == 1
    assert in_start["detail"] == "never freed with IoFreeIrp; left idle"
    assert len(sites) == 2


@pytest.mark.parametrize("style", ["irp", "event"])
def test_templates_print_clients_that_run(tmp_path: Path, style: str) -> None:
    r = wskrecv("run", "--template", style)
    assert r.status == 0, r.stderr
    assert r.stdout == (EXAMPLES / f"{style}.py").read_text()  # one source: the example
    path = write_client(tmp_path, r.stdout)
    status, s, err = run_example(path, [b"one", b"two", b"three"])
    assert status == 0, err
    assert s["received"] == 3 and s["violations"] == 0 and s["client"]["class"] == "Client"


FAULTY_ROUTINE = """\
    from wskrecv.client import *

    class Faulty:
        def __init__(self):
            self.irp = IoAllocateIrp()
            self.buf = WSK_BUF(bytearray(100))
            self.seen = 0

        def start(self, socket):
            self.socket = socket
            self.post()

        def post(self):
            IoSetCompletionRoutine(self.irp, self.on_receive, None)
            WskReceiveFrom(self.socket, self.buf, 0, None, None, None, None, self.irp)

        def on_receive(self, device, irp, context):
            self.seen += 1
            if self.seen == 3:
                return 1 / 0  # the fault
            IoReuseIrp(irp)
            self.post()
            return STATUS_MORE_PROCESSING_REQUIRED

        def stop(self):
            raise AssertionError("stop is not called after a fault")
"""


def test_exception_in_a_completion_routine_is_a_client_fault(tmp_path: Path) -> None:
    path = write_client(tmp_path, FAULTY_ROUTINE)
    r = receive("run", str(path), "--timeout", "60", send=[b"1", b"2", b"3", b"4", b"5"])
    status, err = r.status, r.stderr
    assert status == 6, err
    s = r.summary
    assert s["reason"] == "client fault" and s["exit_status"] == 6
    assert s["received"] == 3  # the summary still counts what arrived before the fault
    fault = s["client"]["fault"]
    assert fault["exception"] == "ZeroDivisionError: division by zero"
    assert fault["in"] == "completion routine" and fault["routine"] == "on_receive"
    assert fault["where"] == f"{path}:{line_of(path, '# the fault')}"
    assert "Traceback (most recent call last)" in err and "1 / 0" in err
    assert "stop is not called" not in err


def test_a_fault_leaks_what_the_client_held(tmp_path: Path) -> None:
    path = write_client(tmp_path, """\
        from wskrecv.client import *

        class Hoarder:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.on_lists)
                self.lists = 0

            def start(self, socket):
                WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                 WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

            def on_lists(self, context, flags, indication):
                if indication is None:
                    return STATUS_SUCCESS
                held = sum(1 for _ in indications(indication))
                self.lists += 1
                if self.lists == 2:
                    raise RuntimeError(f"gave up holding {held}")
                return STATUS_PENDING

            def stop(self):
                pass
        """)
    r = receive("run", str(path), "--timeout", "60", "--batch", "1", send=[b"a", b"b", b"c"])
    err = r.stderr
    assert r.status == 6, err
    s = r.summary
    # The first list was retained, the second raised (its buffers go back): one leaked.
    assert s["leaked"] == 1 and s["received"] == 2
    assert s["client"]["fault"]["in"] == "receive callback"
    assert "RuntimeError: gave up holding 1" in err


def test_exception_on_a_client_thread_is_a_client_fault(tmp_path: Path) -> None:
    path = write_client(tmp_path, """\
        import threading

        class Threaded:
            def start(self, socket):
                self.thread = threading.Thread(target=self.work, name="client-worker")
                self.thread.start()

            def work(self):
                raise KeyError("lost")

            def stop(self):
                pass
        """)
    with Wskrecv("run", str(path), "--timeout", "60") as w:
        status, objs, err = w.finish()
    assert status == 6, err
    fault = summary_of(objs)["client"]["fault"]
    assert fault["in"] == "thread client-worker" and fault["exception"] == "KeyError: 'lost'"


STUCK = """\
    import sys
    import threading

    from wskrecv.client import *

    class Stuck:
        def __init__(self):
            self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.on_lists)

        def start(self, socket):
            WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                             WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

        def on_lists(self, context, flags, indication):
            if indication is None:
                return STATUS_SUCCESS
            sys.stderr.write("blocking\\n")
            sys.stderr.flush()
            threading.Event().wait()  # blocks for ever
            return STATUS_SUCCESS

        def stop(self):
            pass
"""


@pytest.mark.parametrize("how, why", [("signal", "terminated"), ("duration", "duration over")])
def test_a_callback_that_never_returns_is_ended_and_named(tmp_path: Path, how: str, why: str) -> None:
    path = write_client(tmp_path, STUCK)
    limit = ["--duration", "1"] if how == "duration" else []
    with Wskrecv("run", str(path), "--grace", "0.5", *limit) as w:
        w.send([b"x"])
        assert read_line(w.proc.stderr, 30) == "blocking\n"
        if how == "signal":
            w.signal(signal.SIGTERM)
        status, objs, err = w.finish()
    assert status == 6, err
    s = summary_of(objs)
    fault = s["client"]["fault"]
    assert fault["exception"] == f"stuck: did not return within 0.5 s ({why})"
    assert fault["in"] == "receive callback" and fault["routine"] == "on_lists"
    assert fault["where"] == f"{path}:{line_of(path, '# blocks for ever')}"
    assert s["received"] == 1 and s["reason"] == "client fault"
    assert "threading.Event().wait()  # blocks for ever" in err  # the traceback shows where


GRABBER = """\
    import sys
    import threading

    class Grabber:
        def start(self, socket):
            self.socket = socket
            threading.Thread(target=self.hold, name="grabber").start()

        def hold(self):
            with self.socket.lock:  # the model's lock: every WSK call takes it
                sys.stderr.write("holding\\n")
                sys.stderr.flush()
                threading.Event().wait()  # holds the socket lock for ever

        def stop(self):
            pass
"""

REENABLER = """\
    import sys
    import threading

    from wskrecv.client import *

    class Reenabler:
        def __init__(self):
            self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.on_lists)
            self.rejected = threading.Event()

        def start(self, socket):
            self.socket = socket
            threading.Thread(target=self.reenable, name="reenabler", daemon=True).start()
            self.enable()

        def enable(self):
            WskControlSocket(self.socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                             WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

        def reenable(self):
            self.rejected.wait()
            self.enable()  # the kept list is indicated again now, on this thread

        def on_lists(self, context, flags, indication):
            if indication is None:
                return STATUS_SUCCESS
            if threading.current_thread() is threading.main_thread():
                self.rejected.set()
                return STATUS_DATA_NOT_ACCEPTED  # kept; the callback waits to be re-enabled
            sys.stderr.write("blocking\\n")
            sys.stderr.flush()
            threading.Event().wait()  # blocks for ever, with the model's lock held
            return STATUS_SUCCESS

        def stop(self):
            pass
"""


@pytest.mark.parametrize("source, marker, kind, routine", [
    (GRABBER, "holding\n", "thread grabber", "hold"),
    (REENABLER, "blocking\n", "receive callback on thread reenabler", "on_lists"),
])
@pytest.mark.parametrize("how, why", [("signal", "terminated"), ("duration", "duration over")])
def test_a_client_thread_stuck_holding_the_socket_lock_does_not_hang_the_run(
    tmp_path: Path, source: str, marker: str, kind: str, routine: str, how: str, why: str
) -> None:
    """The receive loop waits for the model's lock (a delivery, a snapshot) while a client
    thread holds it and never returns: the run still ends on SIGTERM or --duration, with
    its summary, and the fault names the holder's stuck line."""
    path = write_client(tmp_path, source)
    limit = ["--duration", "1"] if how == "duration" else []
    with Wskrecv("run", str(path), "--grace", "0.5", "--interval", "0.05", *limit) as w:
        w.send([b"x"])
        assert read_line(w.proc.stderr, 30) == marker
        w.send([b"y", b"z"])  # deliveries wait for the lock too
        if how == "signal":
            w.signal(signal.SIGTERM)
        status, objs, err = w.finish()
    assert status == 6, err
    s = summary_of(objs)
    assert s["reason"] == "client fault" and s["exit_status"] == 6
    fault = s["client"]["fault"]
    assert fault["exception"] == (
        f"stuck: did not return within 0.5 s, holding the socket lock ({why})")
    assert fault["in"] == kind and fault["routine"] == routine
    assert fault["where"] == f"{path}:{line_of(path, 'for ever')}"
    assert "holding the socket lock (most recent call last)" in err
    assert "threading.Event().wait()" in err  # the holder's stack shows where


def one_error_line(r: Result) -> str:
    assert r.status == 2, (r.status, r.stderr)
    err = r.stderr
    assert "Traceback" not in err
    return err


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    err = one_error_line(wskrecv("run", str(tmp_path / "nope.py")))
    assert err == f"wskrecv: error: client file not found: {tmp_path / 'nope.py'}\n"


def test_syntax_error_shows_the_line(tmp_path: Path) -> None:
    path = write_client(tmp_path, """\
        class C:
            def start(self, socket):
                return socket +* 1
        """)
    err = one_error_line(wskrecv("run", str(path)))
    assert err.startswith(f"wskrecv: error: {path}:3: SyntaxError: ")
    assert "    return socket +* 1\n" in err and err.rstrip().endswith("^")


def test_exception_while_importing_names_the_line(tmp_path: Path) -> None:
    path = write_client(tmp_path, "import os\nfrom nowhere_at_all import thing\n")
    err = one_error_line(wskrecv("run", str(path)))
    assert err.startswith(f"wskrecv: error: {path}:2: ModuleNotFoundError: ")


@pytest.mark.parametrize("source, message", [
    ("x = 1\n", "defines no client class (a class with start(self, socket) and stop(self) methods)"),
    ("class A:\n    def start(self, socket): pass\n", "class A in {path} lacks stop()"),
    ("class A:\n    def start(self): pass\n    def stop(self): pass\n",
     "A.start in {path} must be start(self, socket)"),
    ("class A:\n    def __init__(self, n): pass\n    def start(self, s): pass\n    def stop(self): pass\n",
     "A() in {path} needs arguments: wskrecv creates the client with none"),
    ("class A:\n    def start(self, s): pass\n    def stop(self): pass\nclass B(A): pass\n",
     "defines several client classes (A, B): choose one with --class"),
])
def test_files_that_are_not_clients(tmp_path: Path, source: str, message: str) -> None:
    path = write_client(tmp_path, source)
    err = one_error_line(wskrecv("run", str(path)))
    assert message.format(path=path) in err and err.count("\n") == 1, err


def test_class_option_picks_one_and_names_the_choices(tmp_path: Path) -> None:
    path = write_client(tmp_path, "class A:\n    def start(self, s): pass\n    def stop(self): pass\n")
    err = one_error_line(wskrecv("run", str(path), "--class", "Z"))
    assert f"{path} has no class Z (client classes: A)" in err


def test_constructor_exception_is_a_client_fault(tmp_path: Path) -> None:
    path = write_client(tmp_path, """\
        class A:
            def __init__(self):
                self.x = {}["missing"]
            def start(self, s): pass
            def stop(self): pass
        """)
    r = wskrecv("run", str(path), "-p", "0", "-c", "1")
    assert r.status == 6, r.stderr
    assert "client fault in A()" in r.stderr and f'{path}", line 3' in r.stderr


def test_no_client_and_no_template_is_a_usage_error() -> None:
    r = wskrecv("run")
    assert r.status == 2 and "name the client file" in r.stderr


def test_run_json_summary_is_plain_json(tmp_path: Path) -> None:
    status, s, _ = run_example(EXAMPLES / "deep_queue.py", [b"x"])
    assert status == 0
    json.dumps(s)  # the client report nests, and stays JSON


def test_a_client_thread_left_running_does_not_keep_wskrecv_alive(tmp_path: Path) -> None:
    path = write_client(tmp_path, """\
        import threading

        from wskrecv.client import *

        class Forgetful:
            def start(self, socket):
                self.socket = socket
                self.irp = IoAllocateIrp()
                IoSetCompletionRoutine(self.irp, lambda d, i, c: STATUS_MORE_PROCESSING_REQUIRED)
                WskReceiveFrom(socket, WSK_BUF(bytearray(64)), 0, None, None, None, None, self.irp)
                threading.Thread(target=threading.Event().wait, name="forgotten").start()

            def stop(self):
                WskCloseSocket(self.socket)
                IoFreeIrp(self.irp)  # but never tells its thread to end
        """)
    with Wskrecv("run", str(path), "--count", "1") as w:
        w.send([b"x"])
        status, objs, err = w.finish()
    assert status == 0, err
    assert summary_of(objs)["received"] == 1
    assert "client thread(s) still running at exit, not waited for: forgotten" in err


def test_a_clients_ipv4_sender_on_the_dual_stack_socket_is_ipv4_mapped_as_wsk_gives_it(
        tmp_path: Path) -> None:
    """The README said IPv4 senders show as plain IPv4 "everywhere"; a client's
    RemoteAddress on the default dual-stack socket is ::ffff:a.b.c.d, as WSK gives a
    driver. wskrecv's own outputs still show the plain address, and the README says both."""
    seen = tmp_path / "seen.txt"
    client = write_client(tmp_path, f"""
        from wskrecv.client import *

        class Client:
            def __init__(self):
                self.dispatch = WSK_CLIENT_DATAGRAM_DISPATCH(WskReceiveFromEvent=self.on_receive)

            def start(self, socket):
                WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
                                 WSK_EVENT_CALLBACK_CONTROL(WSK_EVENT_RECEIVE_FROM))

            def on_receive(self, context, flags, indication):
                with open({str(seen)!r}, "a") as f:
                    for ind in indications(indication):
                        f.write(ind.remote[0] + " " + ind.remote_address.host + "\\n")
                return STATUS_SUCCESS

            def stop(self):
                pass
        """)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ipv4:
        r = receive("run", str(client), "--count", "1", "--timeout", "60", bind="::",
                    then=lambda r: ipv4.sendto(b"four", ("127.0.0.1", r.address[1])))  # type: ignore[index]
    assert r.status == 0, r.stderr
    assert seen.read_text().split() == ["::ffff:127.0.0.1", "::ffff:127.0.0.1"]
    assert [s["address"] for s in r.summary["sources"]] == ["127.0.0.1"]
    readme = (Path(__file__).resolve().parent.parent.parent / "README.md").read_text()
    assert "IPv4-mapped IPv6 address `::ffff:127.0.0.1`" in " ".join(readme.split())
