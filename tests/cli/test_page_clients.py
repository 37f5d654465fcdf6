"""Issue 22's last "Done when": clients written from Microsoft's pages and from real driver
code (msquic's kernel datapath, ovpn-dco-win) by someone else than the model's author,
covering legal and illegal uses of every call of the client API, get the verdict Windows
would give: no crash, no false blame, no missed documented rule, no invented one.

Each client in page_clients/ says in its docstring what it does, which page decides its
verdict and what that verdict is; its EXPECT says it for the test: the exit status, each
rule (or caution) and the line(s) it is blamed on (`# <marker>`), nothing else. Each runs
as `wskrecv run` on real loopback traffic in this process (tests/harness.py): IRP-style
clients on the process's core, those with a receive callback on both (the indication
lists are the cores' work)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import have_ipv6
from tests.harness import Result, receive, send_to

CLIENTS = Path(__file__).resolve().parent / "page_clients"
ALL = sorted(p.name for p in CLIENTS.glob("*.py"))
# A client that offers a receive callback has its lists built by the core under test.
EVENT = [name for name in ALL if "WSK_CLIENT_DATAGRAM_DISPATCH(" in (CLIENTS / name).read_text()]
IRP = [name for name in ALL if name not in EVENT]


def expectation(path: Path) -> dict[str, Any]:
    """The client's EXPECT (a literal)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXPECT":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no EXPECT")


def marked(path: Path, marker: str) -> int:
    """The line of `# <marker>`."""
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1) if f"# <{marker}>" in text]
    assert len(lines) == 1, (path.name, marker, lines)
    return lines[0]


def run(path: Path, expect: dict[str, Any]) -> Result:
    """`wskrecv run CLIENT` with the client's traffic: `send` 64-byte datagrams (default
    10), until `count` of them were counted (default: all; 0: run by `args` alone)."""
    n = expect.get("send", 10)
    count = expect.get("count", n)
    payloads = [b"%064d" % i for i in range(n)]
    args = ["run", str(path), "--timeout", "20", "--interval", "0", *expect.get("args", [])]
    if count:
        args += ["--count", str(count)]
    host = expect.get("send_host")
    if host is None:
        return receive(*args, send=payloads, bind=expect.get("bind", "127.0.0.1"))
    return receive(*args, bind=expect["bind"],
                   then=lambda result: send_to((host, result.address[1]), payloads))


def judge(name: str) -> None:
    path = CLIENTS / name
    expect = expectation(path)
    if ":" in expect.get("bind", "") and not have_ipv6():
        pytest.skip("no IPv6 loopback (::1) here")
    result = run(path, expect)
    summary = result.summary
    assert result.status == expect["status"], (result.status, summary["client"], result.stderr)
    sites: dict[str, set[int]] = {}
    for site in summary["client"]["violation_sites"]:
        where = site["where"]
        assert where.startswith(str(path)), site  # the client's own line, always
        sites.setdefault(site["rule"], set()).add(int(where.rsplit(":", 1)[1]))
    assert set(sites) == set(expect["rules"]), (sites, summary["client"]["violation_sites"])
    for rule, markers in expect["rules"].items():
        if markers is not None:
            wanted = [markers] if isinstance(markers, str) else markers
            assert sites[rule] == {marked(path, m) for m in wanted}, (rule, sites[rule])
    assert summary["client"]["fault"] is None, summary["client"]["fault"]
    if "received" in expect:
        assert summary["received"] == expect["received"]


@pytest.mark.parametrize("name", IRP)
def test_an_irp_client_gets_the_verdict_windows_would_give(name: str) -> None:
    judge(name)


@pytest.mark.parametrize("name", EVENT)
@pytest.mark.usefixtures("receive_core")
def test_an_event_client_gets_the_verdict_windows_would_give(name: str) -> None:
    judge(name)


def test_every_client_says_what_windows_would_do() -> None:
    """Each file: a docstring naming its page and verdict, an EXPECT whose markers exist."""
    assert len(ALL) >= 30 and IRP and EVENT
    for name in ALL:
        path = CLIENTS / name
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "Windows" in doc or "Verdict" in doc, name
        for markers in expectation(path)["rules"].values():
            for m in [markers] if isinstance(markers, str) else markers or []:
                marked(path, m)


def test_a_hook_waiting_for_a_receive_is_told_why_it_never_completes(tmp_path: Path) -> None:
    """The one legal pattern the corpus found wskrecv cannot run: a synchronous receive in
    the start hook (KeWaitForSingleObject at PASSIVE_LEVEL for the IRP; on Windows another
    processor completes it). The hook runs on the thread that delivers datagrams, so the
    run ends it as stuck, and says why and what to do instead."""
    path = tmp_path / "client.py"
    path.write_text('''from wskrecv.client import *


class Client:
    def start(self, socket):
        self.socket = socket
        self.irp = IoAllocateIrp(1, False)
        event = KEVENT()
        KeInitializeEvent(event, NotificationEvent, False)
        IoSetCompletionRoutine(self.irp, self.done, event, True, True, True)
        WskReceiveFrom(socket, WSK_BUF(bytearray(64), 0, 64), 0, None, None, None, None, self.irp)
        KeWaitForSingleObject(event, Executive, KernelMode, False, None)  # WAIT

    def done(self, device, irp, context):
        KeSetEvent(context, IO_NO_INCREMENT, False)
        return STATUS_MORE_PROCESSING_REQUIRED

    def stop(self):
        WskCloseSocket(self.socket)
        IoFreeIrp(self.irp)
''')
    result = receive("run", str(path), "--duration", "0.2", "--grace", "0.2", "--interval", "0")
    fault = result.summary["client"]["fault"]
    assert result.status == 6 and fault["in"] == "start hook", result.stderr
    assert fault["where"] == f"{path}:12"
    assert "waiting in KeWaitForSingleObject on the thread that delivers datagrams" in fault["exception"]
    assert "wait for a request on a thread of your own" in fault["exception"]
