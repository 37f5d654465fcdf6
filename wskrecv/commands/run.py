"""`wskrecv run CLIENT.py`: your own WSK client on a real socket."""

from __future__ import annotations

from typing import Any, Optional

import click

from wskrecv import units
from wskrecv.commands.common import DEFAULTS, ReceiveCommand, reject, run_options, socket_options
from wskrecv.commands.numeric import number
from wskrecv.commands.receive import run_receive


@click.command(cls=ReceiveCommand)
@click.argument("client", required=False, metavar="CLIENT.py")
@click.option(
    "--class", "class_name", metavar="NAME",
    help="The client class to run, when the file defines several.",
)
@click.option(
    "--template", type=click.Choice(["irp", "event"]), default=None,
    help="Print a starting client (IRP or event style) to stdout and exit.",
)
@socket_options
@click.option(
    "--batch", type=number(units.INTEGER, 1, 1024), default=DEFAULTS.batch, show_default=True,
    metavar="N", help="Most datagrams read in one system call, so the longest indication list.",
)
@click.option(
    "--pool", type=number(units.COUNT, 1, units.MAX_POOL), default=DEFAULTS.pool,
    show_default=True, metavar="N", help="Indication buffers, in datagrams (at most 1M); "
    "while none is free wskrecv stops reading and the kernel drops.",
)
@click.option(
    "--grace", type=number(units.DURATION, 0, units.MAX_GRACE_S, low_open=True),
    default=DEFAULTS.grace, show_default=True, metavar="S",
    help="Seconds (or 500ms, 1m; at most 1 h) the client's running routine, or its stop "
    "hook, may take to return once the run should end, and a client thread may keep "
    "holding the socket lock; then it is reported stuck (exit 6).",
)
@click.option(
    "--dispatch-level", is_flag=True, help="Call the client's receive callback as if at "
    "DISPATCH_LEVEL: its Flags carry WSK_FLAG_AT_DISPATCH_LEVEL, and a wait in it "
    "(KeWaitForSingleObject with a timeout other than 0) is a violation "
    "(WaitAtDispatchLevel).",
)
@run_options
def run(
    client: Optional[str], class_name: Optional[str], template: Optional[str], batch: int,
    pool: int, grace: float, dispatch_level: bool, **params: Any,
) -> int:
    """Run your own WSK client on real traffic.

    Loads the client class from CLIENT.py (see `wskrecv run --template irp`), creates
    and binds the socket with the client's dispatch table, calls its start hook, counts
    every datagram it accepts, and at the end calls its stop hook. WSK rule breaks are
    reported by rule with the client's own file:line; an exception in the client's code
    ends the run as a client fault (exit 6), and so does a routine that does not return
    within --grace of Ctrl-C, SIGTERM or the end of --duration; rule breaks or leaks
    (lists retained, IRPs not freed with IoFreeIrp once the stop hook returned) exit 7.
    """
    if template is not None:
        if client is not None:
            reject("--template prints a client: it takes no CLIENT.py")
        from wskrecv.hosting.templates import template as source

        click.echo(source(template), nl=False)
        return 0
    if client is None:
        reject("name the client file (CLIENT.py), or ask for a --template")
    return run_receive("client", dict(params, batch=batch, pool=pool, client=client,
                                      client_class=class_name, grace=grace,
                                      dispatch_level=dispatch_level))
