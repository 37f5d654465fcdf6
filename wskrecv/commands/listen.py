"""`wskrecv listen`: the IRP style (WskReceiveFrom with completion routines)."""

from __future__ import annotations

from typing import Any

import click

from wskrecv import units
from wskrecv.commands.common import DEFAULTS, ReceiveCommand, run_options, socket_options
from wskrecv.commands.numeric import number
from wskrecv.commands.receive import run_receive


@click.command(cls=ReceiveCommand)
@socket_options
@click.option(
    "--outstanding", "-n", type=number(units.INTEGER, 1, units.MAX_OUTSTANDING),
    default=DEFAULTS.outstanding, show_default=True, metavar="N",
    help="Receive IRPs kept posted (WskReceiveFrom requests in flight), 1 to 1024. "
    "Several, as a driver posts, keep up with bursts; -n 1 is the classic WSK sample's "
    "shape (one receive at a time, the slowest: wskrecv bench -m python -m irp-1 -m irp-64 "
    "measures how much).",
)
@click.option(
    "--buffer-size", type=number(units.SIZE, 1, 65535), default=DEFAULTS.buffer_size,
    show_default=True,
    metavar="BYTES", help="WSK_BUF.Length of each receive; longer datagrams are truncated "
    "(MSG_TRUNC).",
)
@run_options
def listen(outstanding: int, buffer_size: int, **params: Any) -> int:
    """Receive UDP datagrams the IRP way.

    Keeps --outstanding WskReceiveFrom requests posted; each completion routine records
    its datagram, reuses its IRP and posts the next receive. Datagrams that arrive while
    no receive is posted wait in the OS socket queue.
    """
    return run_receive("irp", dict(params, outstanding=outstanding, buffer_size=buffer_size))
