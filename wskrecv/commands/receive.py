"""What a receive command does once click has parsed it: the options become a
`ReceiveConfig`, contradictions are refused, and `wskrecv.program.receive` runs it.

The program's errors about inherited sockets and standard output say what is wrong with
the socket or the stream; here they become messages that name the flags to change.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any

from wskrecv.commands.common import (
    IPERF3_PORT,
    bind_address,
    check_receive,
    current_environment,
    flag,
    given_on_command_line,
)
from wskrecv.config import ReceiveConfig
from wskrecv.errors import (
    AmbiguousActivation,
    InheritedAddress,
    InheritedSocketError,
    NoBinaryOutput,
    UsageError,
)


def run_receive(mode: str, params: dict[str, Any]) -> int:
    """Run receive `mode` ("irp", "event") with the command's parsed `params`; returns
    the exit status (errors propagate as WskrecvError for `cli.main`)."""
    if params.get("iperf3"):
        # iperf3's port, and its payload header (each test says 32- or 64-bit counters).
        if not given_on_command_line("port"):
            params = dict(params, port=IPERF3_PORT)
        if not given_on_command_line("seq_format"):
            params = dict(params, seq_format="iperf3")
    from wskrecv import program  # the receive machinery's door: not for --help

    params["bind_host"], params["port"] = bind_address(params)
    config = ReceiveConfig(
        mode=mode, address_given=given_on_command_line("bind_host", "port"), **params
    )
    config = _capture_to_stdout(config)
    check_receive(config)
    try:
        return program.receive(config, current_environment(), option_name=flag)
    except InheritedSocketError as exc:
        where = "socket activation (LISTEN_FDS)" if exc.activated else f"--fd {exc.fd}"
        raise UsageError(f"{where}: {exc}") from None
    except InheritedAddress as exc:
        if exc.activated:
            raise UsageError(f"socket activation passed {exc.activated} socket(s) (LISTEN_FDS): "
                             "--bind/--port do not apply") from None
        raise UsageError("--fd receives on the inherited socket's address: drop --bind/--port") from None
    except AmbiguousActivation as exc:
        raise UsageError(f"{exc}: choose one with --fd {exc.fds[0]}..{exc.fds[-1]}") from None
    except NoBinaryOutput as exc:
        raise UsageError(f"--pcap -: {exc}") from None


def _same_file_as_stdout(path: str) -> bool:
    """Whether `path` names the file standard output writes to (/dev/stdout,
    /proc/self/fd/1, the file `>` redirected it to...)."""
    try:
        here, out = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (here.st_dev, here.st_ino) == (out.st_dev, out.st_ino)


def _capture_to_stdout(config: ReceiveConfig) -> ReceiveConfig:
    """`--pcap ""` is a usage error; a --pcap path that is standard output, however
    named, is `--pcap -` (and so refused with --json, which writes there too)."""
    path = config.pcap
    if path == "":
        raise UsageError("--pcap: empty path")
    if path is None or path == "-" or not _same_file_as_stdout(path):
        return config
    if config.as_json:
        raise UsageError(f"--pcap {path} is standard output, where --json writes: "
                         "write the capture to a file")
    return replace(config, pcap="-")


__all__ = ["run_receive"]
