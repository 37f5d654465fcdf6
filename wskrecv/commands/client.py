"""What `wskrecv run` does once its options are parsed: load the client, run it on a real
socket through the same assembly as `listen` and `event`, and report what the client
did wrong, where."""

from __future__ import annotations

import threading
from typing import Any, Optional

from wskrecv.client.host import ClientCode, ClientHost, describe_fault
from wskrecv.client.loader import load_client
from wskrecv.client.watchdog import DEFAULT_GRACE
from wskrecv.commands.receive import run_receive_command
from wskrecv.environment import Environment, current_environment
from wskrecv.errors import ExitStatus, WskrecvError
from wskrecv.stats.recorder import Recorder
from wskrecv.wsk import WskDatagramSocket


class ClientFaultError(WskrecvError):
    """The client's own code raised before anything ran (its constructor)."""

    exit_status = ExitStatus.CLIENT_FAULT


def report_lines(host: ClientHost) -> list[str]:
    """The client's part of the human summary: rule breaks by place, leaks, the fault."""
    report = host.report()
    lines = [f"client       {report['class']} from {report['file']}"]
    label = "verifier    "
    for site in report["violation_sites"]:
        where = site["where"] or "wskrecv's own call (not in the client)"
        detail = f" ({site['detail']})" if site["detail"] else ""
        lines.append(f"{label} {site['rule']} {site['count']} at {where}{detail}")
        label = " " * len(label)
    if host.sock.leaked:
        lines.append(f"leaked       {host.sock.leaked} datagrams retained and never released")
    fault = host.fault
    if fault is not None:
        more = f" (+{fault.later} more while stopping)" if fault.later else ""
        lines.append(f"client fault {fault.exception} in {fault.kind} {fault.routine} "
                     f"({fault.where}){more}")
    return lines


def run_client(
    path: str, class_name: Optional[str], params: dict[str, Any], batch: int, pool: int,
    grace: float = DEFAULT_GRACE, env: Optional[Environment] = None,
) -> int:
    """Load and run the client at `path`; returns the exit status."""
    env = env or current_environment()
    loaded = load_client(path, class_name)
    code = ClientCode(loaded.realpath, shown_as=path)
    try:
        client = loaded.cls()
    except Exception as exc:
        fault = describe_fault(code, exc)
        text = fault.traceback if fault is not None else f"{type(exc).__name__}: {exc}"
        raise ClientFaultError(f"client fault in {loaded.name}(): {text.rstrip()}") from None
    hosts: list[ClientHost] = []
    ends = [t for t in (params["duration"], params["timeout"]) if t is not None]
    deadline = min(ends) if ends else None

    def make_app(sock: WskDatagramSocket, recorder: Recorder) -> ClientHost:
        host = ClientHost(client, sock, recorder, code, grace=grace, deadline=deadline)
        hosts.append(host)
        return host

    status = run_receive_command(
        "client",
        params,
        make_app,
        detail=f"client {loaded.name} from {path}, lists of up to {batch}, pool {pool}",
        extra_start={"client": loaded.name, "file": path, "batch": batch, "pool": pool},
        # The client may call in from threads of its own (WskRelease from a worker).
        lock=threading.RLock(),
        env=env,
        batch=batch,
        pool=pool,
    )
    if hosts:
        host = hosts[0]
        if not params["as_json"]:
            env.stderr.write("\n".join(report_lines(host)) + "\n")
        if host.fault is not None:
            env.stderr.write(host.fault.traceback)
        env.stderr.flush()
    return status


__all__ = ["ClientFaultError", "report_lines", "run_client"]
