"""`wskrecv listen`: the IRP style (WskReceiveFrom with completion routines)."""

from __future__ import annotations

from typing import Any

import click

from wskrecv.commands.common import DEFAULTS, run_options, socket_options
from wskrecv.commands.receive import run_receive


@click.command()
@socket_options
@click.option(
    "--outstanding", "-n", type=click.IntRange(min=1), default=DEFAULTS.outstanding, show_default=True,
    help="Receive IRPs kept posted (WskReceiveFrom requests in flight).",
)
@click.option(
    "--buffer-size", type=click.IntRange(1, 65535), default=DEFAULTS.buffer_size, show_default=True,
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
