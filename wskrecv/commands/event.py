"""`wskrecv event`: the event style (WskReceiveFromEvent callbacks, WskRelease)."""

from __future__ import annotations

from typing import Any, Optional

import click

from wskrecv import units
from wskrecv.commands.common import DEFAULTS, ReceiveCommand, run_options, socket_options
from wskrecv.commands.numeric import number
from wskrecv.commands.receive import run_receive


@click.command(cls=ReceiveCommand)
@socket_options
@click.option(
    "--batch", type=number(units.INTEGER, 1, 1024), default=DEFAULTS.batch, show_default=True,
    metavar="N", help="Most datagrams read in one system call (recvmmsg), so the longest "
    "indication list.",
)
@click.option(
    "--pool", type=number(units.COUNT, 1, units.MAX_POOL), default=DEFAULTS.pool,
    show_default=True, metavar="N", help="Indication buffers, in datagrams (at most 1M). "
    "Retained lists hold them; while none is free wskrecv stops reading and the kernel "
    "drops.",
)
@click.option(
    "--pend", is_flag=True, help="Return STATUS_PENDING: a worker thread processes each "
    "list and gives it back with WskRelease after --hold.",
)
@click.option(
    "--hold", type=number(units.DURATION, 0, units.MAX_HOLD_MS, unit="ms"), default=None,
    metavar="MS", help="With --pend or --keep-every: milliseconds a retained list is held "
    "before it is released (or 2s, 1m; at most 1 h). Default 0.",
)
@click.option(
    "--reject-every", type=number(units.INTEGER, 2, 2**31 - 1), default=None, metavar="N",
    help="Return STATUS_DATA_NOT_ACCEPTED from every Nth callback; a work item re-enables "
    "the callback and the kept datagrams are indicated again, first.",
)
@click.option(
    "--keep-every", type=number(units.INTEGER, 2, 2**31 - 1), default=None, metavar="N",
    help="Partial release: the callback records each list, cuts it (Next = NULL), "
    "WskReleases all but every Nth datagram from inside the callback and returns "
    "STATUS_PENDING for those it keeps; a worker releases them after --hold.",
)
@click.option(
    "--static-callbacks", is_flag=True, help="Enable the callback for every socket with "
    "WskControlClient (WSK_SET_STATIC_EVENT_CALLBACKS) before the socket exists, instead "
    "of SO_WSK_EVENT_CALLBACK: STATUS_DATA_NOT_ACCEPTED then neither disables it nor "
    "keeps the datagrams.",
)
@click.option(
    "--dispatch-level", is_flag=True, help="Deliver callbacks as if at DISPATCH_LEVEL: "
    "their Flags carry WSK_FLAG_AT_DISPATCH_LEVEL, and a callback that waits is a "
    "violation (WaitAtDispatchLevel).",
)
@run_options
def event(
    batch: int, pool: int, pend: bool, hold: Optional[float], reject_every: Optional[int],
    keep_every: Optional[int], static_callbacks: bool, dispatch_level: bool, **params: Any,
) -> int:
    """Receive UDP datagrams the event way.

    Enables the WskReceiveFromEvent callback (SO_WSK_EVENT_CALLBACK); the provider calls
    it with one list of datagram indications per batch read from the socket. By default
    the callback consumes the list and returns STATUS_SUCCESS.
    """
    return run_receive("event", dict(params, batch=batch, pool=pool, pend=pend, hold=hold,
                                     reject_every=reject_every, keep_every=keep_every,
                                     static_callbacks=static_callbacks,
                                     dispatch_level=dispatch_level))
