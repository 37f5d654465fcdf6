"""Choosing the receive socket: bind one, adopt `--fd N`, or take systemd's (LISTEN_FDS).

systemd socket activation (sd_listen_fds(3)) passes sockets as descriptors 3, 4, ... and
says so in LISTEN_FDS (how many) and LISTEN_PID (for which process: variables meant for
another process, e.g. a parent shell, are ignored). inetd-style tools that set the same
variables work alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Optional

from wskrecv.errors import AmbiguousActivation, InheritedAddress, InheritedSocketError, UsageError
from wskrecv.provider.udp import UdpProvider, adopt_fd, open_udp
from wskrecv.units import INTEGER, MAX_FD, Limit, NumberError, parse_env

SD_LISTEN_FDS_START = 3
# Bounds on what the environment may ask for: a pid is a positive int (pid_max is at most
# 2^22 on Linux), and no process has descriptors past fs.nr_open's default.
_LISTEN_PID = Limit(INTEGER, 1, 2**31 - 1)
_LISTEN_FDS = Limit(INTEGER, 0, MAX_FD - SD_LISTEN_FDS_START)


def listen_fds(environ: Mapping[str, str], pid: int) -> range:
    """The descriptors systemd passed to process `pid` (a range: nothing is allocated per
    descriptor), empty when none were or the variables are for another process.
    Malformed or out-of-range values are a UsageError naming the variable and bound."""
    listen_pid = environ.get("LISTEN_PID")
    count = environ.get("LISTEN_FDS")
    if listen_pid is None or count is None:
        return range(0)
    try:
        if parse_env("LISTEN_PID", listen_pid, _LISTEN_PID) != pid:
            return range(0)
        n = int(parse_env("LISTEN_FDS", count, _LISTEN_FDS))
    except NumberError as exc:
        raise UsageError(f"socket activation: {exc}") from None
    return range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + n)


def open_receive_socket(
    host: Optional[str],
    port: int,
    rcvbuf: Optional[int],
    fd: Optional[int] = None,
    address_given: bool = False,
    environ: Optional[Mapping[str, str]] = None,
    pid: Optional[int] = None,
    **options: Any,
) -> UdpProvider:
    """The provider for a receive command.

    `fd` adopts that descriptor; otherwise one socket passed by socket activation is
    adopted; otherwise `host`:`port` is bound. `address_given` says the address was asked
    for rather than defaulted: it cannot apply to an inherited socket, so asking for one
    with it is an InheritedAddress error rather than silently ignored; several activated
    sockets and no `fd` is an AmbiguousActivation. `options` go to the provider (e.g. its
    read batch).
    """
    environ = os.environ if environ is None else environ
    activated = listen_fds(environ, os.getpid() if pid is None else pid)
    if fd is not None:
        if address_given:
            raise InheritedAddress()
        return adopt_fd(fd, rcvbuf, **options)
    if activated:
        if address_given:
            raise InheritedAddress(len(activated))
        if len(activated) > 1:
            raise AmbiguousActivation(activated)
        try:
            return adopt_fd(activated[0], rcvbuf, **options)
        except InheritedSocketError as exc:
            exc.activated = True  # nobody named this descriptor: say where it came from
            raise
    return open_udp(host, port, rcvbuf, **options)


__all__ = ["SD_LISTEN_FDS_START", "listen_fds", "open_receive_socket"]
