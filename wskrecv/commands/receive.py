"""What a receive command does once click has parsed it: the options become a
`ReceiveConfig`, contradictions are refused, and `wskrecv.program.receive` runs it.

The program's errors about inherited sockets and standard output say what is wrong with
the socket or the stream; here they become messages that name the flags to change.
"""

from __future__ import annotations

from typing import Any

from wskrecv import program
from wskrecv.commands.common import (
    IPERF3_PORT,
    bind_address,
    check_receive,
    current_environment,
    given_on_command_line,
)
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
    params["bind_host"], params["port"] = bind_address(params)
    config = program.ReceiveConfig(
        mode=mode, address_given=given_on_command_line("bind_host", "port"), **params
    )
    check_receive(config)
    try:
        return program.receive(config, current_environment())
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


__all__ = ["run_receive"]
