"""The command line. `main` is the only place that turns outcomes into exit statuses."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Optional

import click

from wskrecv import __version__
from wskrecv.commands.event import event
from wskrecv.commands.listen import listen
from wskrecv.errors import ExitStatus, WskrecvError

EPILOG = """\b
Exit status:
  0  done (count reached, duration over, Ctrl-C or SIGTERM)
  1  runtime or OS error (bind failed, address in use, permission)
  2  usage error
  3  --timeout passed before --count datagrams arrived
  4  a --max-* threshold was exceeded
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, "--version", "-V", prog_name="wskrecv")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """A UDP receiver built on a model of the Windows WSK datagram API.

    `listen` receives the IRP way (WskReceiveFrom + completion routines);
    `event` the event way (WskReceiveFromEvent callbacks, STATUS_PENDING and WskRelease).
    """
    ctx.obj = {"debug": debug}


cli.add_command(listen)
cli.add_command(event)
for command in cli.commands.values():
    command.epilog = EPILOG


def _error(prefix: str, message: str) -> None:
    sys.stderr.write(f"wskrecv: {prefix}{message}\n")
    sys.stderr.flush()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: run the command, map its outcome to an exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        status = cli.main(args=args, prog_name="wskrecv", standalone_mode=False)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else "wskrecv"
        sys.stderr.write(f"{path}: {exc.format_message()}\n")
        status = ExitStatus.USAGE
    except click.exceptions.Abort:
        status = ExitStatus.INTERRUPTED
    except WskrecvError as exc:
        if debug:
            raise
        _error("error: ", str(exc))
        status = exc.exit_status
    except BrokenPipeError:
        # The reader went away (`| head -1`): exit quietly, without Python's complaint.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = ExitStatus.OK
    except KeyboardInterrupt:
        status = ExitStatus.INTERRUPTED
    sys.exit(int(status or 0))
