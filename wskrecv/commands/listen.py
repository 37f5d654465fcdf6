"""`wskrecv listen`: the IRP style (WskReceiveFrom with completion routines)."""

from __future__ import annotations

from typing import Any

import click

from wskrecv.commands.common import run_options, socket_options


@click.command()
@socket_options
@click.option(
    "--outstanding", "-n", type=click.IntRange(min=1), default=1, show_default=True,
    help="Receive IRPs kept posted (WskReceiveFrom requests in flight).",
)
@click.option(
    "--buffer-size", type=click.IntRange(1, 65535), default=65535, show_default=True,
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
    # Imported here: --help and option errors need none of the receive machinery.
    from wskrecv.apps import IrpReceiver
    from wskrecv.commands.receive import run_receive_command

    plural = "s" if outstanding > 1 else ""
    return run_receive_command(
        "irp",
        params,
        lambda sock, rec: IrpReceiver(sock, rec, outstanding, buffer_size),
        detail=f"IRP style, {outstanding} receive{plural} outstanding, {buffer_size}-byte buffers",
        extra_start={"outstanding": outstanding, "buffer_size": buffer_size},
    )
