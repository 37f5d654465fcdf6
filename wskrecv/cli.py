"""The command line. `main` is the only place that ends the process with an exit status
(a second Ctrl-C aside: signals.py); which status each outcome carries is errors.py's."""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from importlib import import_module
from typing import Any, Optional, Union

import click

from wskrecv import __version__
from wskrecv.environment import Environment
from wskrecv.errors import ExitStatus, OutputClosed, OutputFailed, WskrecvError
from wskrecv.stdio import GuardedOutput

# What each exit status means, per command: a command's --help lists only the statuses it
# can return (lines fit 80 columns).
_SECOND_SIGNAL = {  # signals.StopSignals: a second stop signal exits at once, 128 + its number
    ExitStatus.HUNG_UP: "a second SIGHUP: exit at once",
    ExitStatus.INTERRUPTED: "a second Ctrl-C: exit at once, even while the first is still "
                            "finishing the run",
    ExitStatus.TERMINATED: "a second SIGTERM: exit at once",
}
_RECEIVE_EXITS = {
    0: "done: count reached, duration over, Ctrl-C, SIGTERM or SIGHUP, output closed",
    1: "runtime or OS error (bind failed, address in use, permission, capture or stdout "
       "unwritable, the socket failed, a --workers worker died)",
    2: "usage error; a --replay file that is not a capture or has nothing to replay, or "
       "is cut short (after the summary)",
    3: "--timeout passed before --count datagrams arrived",
    4: "a --max-* threshold was exceeded (unread datagrams count as lost)",
    8: "--inject: the client stopped receiving after an injected fault",
    **_SECOND_SIGNAL,
}
_BUILTIN_EXITS = {**_RECEIVE_EXITS,
                  7: "--inject: the client broke a rule or leaked after an injected fault"}
EXIT_STATUSES: dict[str, dict[int, str]] = {
    "listen": _BUILTIN_EXITS,
    "event": _BUILTIN_EXITS,
    "send": {
        0: "sent: count reached, duration over, Ctrl-C, SIGTERM or SIGHUP",
        1: "OS error, or every datagram was refused (nothing listening)",
        2: "usage error",
        **_SECOND_SIGNAL,
    },
    "bench": {0: "measured", 1: "OS error (a socket, the saved file)", 2: "usage error",
              ExitStatus.HUNG_UP: "SIGHUP (nothing reported)",
              ExitStatus.INTERRUPTED: "Ctrl-C (nothing reported)",
              ExitStatus.TERMINATED: "SIGTERM (nothing reported)"},
    "run": {
        **_RECEIVE_EXITS,
        6: "a client fault: its code raised, or did not return within --grace",
        7: "the client broke WSK API rules or leaked (lists, IRPs)",
    },
    "plot": {0: "written", 2: "usage error; a file that is not a run's JSON lines, an\n"
                           "       output that cannot be written, matplotlib missing"},
    "analyze": {0: "analysed", 1: "OS error (writing the output)",
                2: "usage error; a file that is not a capture, or is cut short (after the\n"
                   "       summary of what was whole)",
                4: "a --max-* threshold was exceeded",
                ExitStatus.HUNG_UP: "SIGHUP: stopped, the summary says what was read",
                ExitStatus.INTERRUPTED: "Ctrl-C: stopped, the summary says what was read",
                ExitStatus.TERMINATED: "SIGTERM: stopped, the summary says what was read"},
    "selftest": {0: "no case failed", 1: "OS error", 2: "usage error", 5: "a case failed",
                 ExitStatus.HUNG_UP: "SIGHUP: stopped, the verdict says INTERRUPTED",
                 ExitStatus.INTERRUPTED: "Ctrl-C: stopped, the verdict says INTERRUPTED",
                 ExitStatus.TERMINATED: "SIGTERM: stopped, the verdict says INTERRUPTED"},
}
COMPLETION = """Shell completion (bash; zsh_source, fish_source alike):
  eval "$(_WSKRECV_COMPLETE=bash_source wskrecv)"
"""


def epilog(statuses: dict[int, str], width: Optional[int] = None) -> str:
    """The `Exit status:` block of a --help page, each status's text wrapped between words
    at the help's width (\\b: click keeps these lines as written)."""
    from wskrecv.words import wrap_words

    width = width or help_width() or 78
    lines = [part for code, text in sorted(statuses.items())
             for part in wrap_words(f"  {int(code):>3}  {text}", width, indent=7)]
    return "\b\nExit status:\n" + "\n".join(lines) + "\n" + COMPLETION


_ALL_EXITS = {code: text for table in EXIT_STATUSES.values() for code, text in table.items()}
_ALL_EXITS.update({0: "done", 1: "runtime or OS error", 5: "selftest: a case failed",
                   6: "run: a client fault (its code raised, or hung)",
                   7: "run: the client broke WSK API rules or leaked",
                   8: "--inject: the client stalled after an injected fault",
                   129: "a second SIGHUP (selftest, bench, analyze: the first)",
                   130: "a second Ctrl-C (selftest, bench, analyze: the first)",
                   143: "a second SIGTERM (selftest, bench, analyze: the first)"})


def help_width() -> Optional[int]:
    """The width click gives --help (the terminal's columns, at most 80, less 2, at least
    50), found as shutil.get_terminal_size finds the columns (COLUMNS, then stdout's
    terminal, else 80) but without importing shutil, which brings bz2 and lzma: a tenth of
    `wskrecv listen --help`. None when a width is forced (click's CliRunner)."""
    from click import formatting

    if formatting.FORCED_WIDTH is not None:
        return None
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return max(min(columns or 80, 80) - 2, 50)


EPILOG = epilog(_ALL_EXITS)


@contextmanager
def _whole_words() -> Iterator[None]:
    """While click wraps help text: its wrapper never breaks a word. click's own breaks a
    word longer than the column ("Ws" / "kControlClient(...)") and at hyphens ("event-" /
    "pend"); wrap_text takes no say in that, so its TextWrapper is swapped for the call."""
    from click import _textwrap

    base = _textwrap.TextWrapper

    class WholeWords(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.break_long_words = False
            self.break_on_hyphens = False

    _textwrap.TextWrapper = WholeWords  # type: ignore[misc]
    try:
        yield
    finally:
        _textwrap.TextWrapper = base  # type: ignore[misc]


class WholeWordsFormatter(click.HelpFormatter):
    """--help wrapped at the terminal's width (help_width), between words only: a word
    longer than its column overflows it whole rather than being cut."""

    def write_usage(self, *args: Any, **kwargs: Any) -> None:
        with _whole_words():
            super().write_usage(*args, **kwargs)

    def write_text(self, text: str) -> None:
        with _whole_words():
            super().write_text(text)

    def write_dl(self, *args: Any, **kwargs: Any) -> None:
        with _whole_words():
            super().write_dl(*args, **kwargs)


class WskrecvContext(click.Context):
    formatter_class = WholeWordsFormatter


class WskrecvGroup(click.Group):
    """A click group that turns a closed output pipe into OutputClosed.

    click itself answers EPIPE with `sys.exit(1)`; the reader going away (`| head -1`)
    is not a failure of ours, so catch it first, wherever output is written: while
    parsing (--help, --version) and while a command runs. Its context tells every
    command's the help width (`help_width`).
    """

    context_class = WskrecvContext

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        if "terminal_width" not in kwargs and kwargs.get("parent") is None:
            kwargs["terminal_width"] = help_width()
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            raise OutputClosed("output closed") from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise OutputClosed("output closed") from None


@click.group(
    cls=WskrecvGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG
)
@click.option("--version", "-V", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, _param, value: _version(ctx, value),
              help="Show the version and which receive core runs (native or pure-Python), and exit.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--color/--no-color",
    "color",
    default=None,
    help="Colour on stderr: force it on or off. Default: on for a terminal, off when "
    "NO_COLOR is set or TERM=dumb.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, color: Optional[bool]) -> None:
    """A UDP receiver built on a model of the Windows WSK datagram API.

    `listen` receives the IRP way (WskReceiveFrom + completion routines);
    `event` the event way (WskReceiveFromEvent callbacks, STATUS_PENDING and WskRelease);
    `run` runs your own WSK client (a Python class) on real traffic, verifier included;
    `bench` measures how fast the receive modes drain a socket;
    `send` generates test traffic on loopback (scapy-crafted when raw IP is asked for);
    `selftest` checks it all end to end: run it first;
    `analyze` counts the datagrams of captures (pcap, pcapng) as a live run counts;
    `plot` draws runs from their JSON lines.
    """
    env = ctx.ensure_object(Environment)
    env.debug = debug
    env.color_choice = color
    ctx.color = env.color


class LazyCommands(MutableMapping):
    """The group's command table, each command imported the first time it is looked up.

    `wskrecv listen --help` then loads `listen`'s module alone, not the other commands'
    (send's signal handling, bench's JSON and locale...): start-up stays close to click's
    own. Listing the names (`"event" in cli.commands`, completion) imports nothing;
    `wskrecv --help` shows every command's short help, so it loads them all.
    """

    def __init__(self, where: dict[str, str]) -> None:
        self._table: dict[str, Union[str, click.Command]] = dict(where)

    def __getitem__(self, name: str) -> click.Command:
        command = self._table[name]
        if isinstance(command, str):
            module, _, attr = command.partition(":")
            command = getattr(import_module(module), attr)
            assert isinstance(command, click.Command)
            command.epilog = epilog(EXIT_STATUSES[name])
            command.context_class = WskrecvContext
            self._table[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._table[name] = command

    def __delitem__(self, name: str) -> None:
        del self._table[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


# Each command's module and name, in the order the group lists them.
cli.commands = LazyCommands({  # type: ignore[assignment]
    name: f"wskrecv.commands.{name}:{name}"
    for name in ("listen", "event", "run", "bench", "send", "selftest", "analyze", "plot")
})


def _version(ctx: click.Context, value: bool) -> None:
    """--version: the version and the receive core WSKRECV_NO_EXTENSIONS and the build chose."""
    if not value or ctx.resilient_parsing:
        return
    from wskrecv.core import current_completions, current_name

    # listen's steady requests complete in the compiled twin where the native core has it
    completions = ", native IRP completions" if current_completions() == "native" else ""
    click.echo(f"wskrecv {__version__} ({current_name()} core{completions})")
    ctx.exit()


def _error(env: Environment, prefix: str, message: str) -> None:
    if env.color and prefix:
        prefix = click.style(prefix, fg="red", bold=True)
    sys.stderr.write(f"wskrecv: {prefix}{message}\n")
    sys.stderr.flush()


def _silence_output(*streams: Any) -> None:
    """The reader went away, or writing failed: point the streams (default: stdout and
    stderr) at /dev/null so that flushing what is still buffered (at exit) cannot fail or
    print Python's complaint."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in streams or (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass  # not a real file (tests): nothing to protect
    os.close(devnull)


def _flush_stdout(env: Environment) -> Optional[int]:
    """Flush stdout now, while its failures can still be reported. The exit status they
    call for (OK: the reader went away; ERROR: writing failed), or None."""
    if getattr(sys.stdout, "failed", False):  # reported already: only keep the exit quiet
        _silence_output(sys.stdout)
        return None
    try:
        sys.stdout.flush()
        return None
    except BrokenPipeError:
        _silence_output()
        return ExitStatus.OK
    except OutputFailed as exc:  # e.g. >/dev/full: only the final flush found out
        _error(env, "error: ", str(exc))
        _silence_output(sys.stdout)
        return ExitStatus.ERROR
    except (OSError, ValueError):
        return None  # already closed by the caller (>&-): nothing more to write


def _run(args: list[str], env: Environment) -> int:
    try:
        status = cli.main(args=args, prog_name="wskrecv", standalone_mode=False, obj=env)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else "wskrecv"
        sys.stderr.write(f"{path}: {exc.format_message()}\n")
        status = ExitStatus.USAGE
    except click.exceptions.Abort:
        status = ExitStatus.INTERRUPTED
    except OutputClosed:
        _silence_output()
        status = ExitStatus.OK
    except WskrecvError as exc:
        if env.debug:
            raise
        _error(env, "error: ", str(exc))
        status = exc.exit_status
        if isinstance(exc, OutputFailed):
            _silence_output(sys.stdout)
    except BrokenPipeError:
        # Written before click's own handling (shell completion scripts): same as above.
        _silence_output()
        status = ExitStatus.OK
    except KeyboardInterrupt:
        status = ExitStatus.INTERRUPTED
    return int(status or 0)


class _ClosedOutput(io.TextIOBase):
    """Stands in for stdout when the caller closed it (`>&-`: Python then sets sys.stdout
    to None). Writing to it is like writing to a pipe whose reader left: the command ends
    quietly (OutputClosed), as with `| head -1`; a command that writes nothing there runs
    on."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "standard output is closed")

    @property
    def buffer(self) -> _ClosedOutput:  # `--pcap -` writes bytes to stdout.buffer
        return self


def _stand_in_for_closed_streams() -> None:
    """stdout or stderr closed before we started: a stand-in, never an AttributeError."""
    if sys.stdout is None:
        sys.stdout = _ClosedOutput()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: run the command, map its outcome to an exit status."""
    if "WSKRECV_DIE_WITH_PARENT" in os.environ:  # signals.DIE_WITH_PARENT_ENV, set by selftest
        from wskrecv.signals import honour_die_with_parent  # only then: start-up stays light

        honour_die_with_parent(os.environ)  # the selftest's receiver goes with the selftest
    _stand_in_for_closed_streams()
    stdout = sys.stdout
    sys.stdout = GuardedOutput(stdout)  # a failed write is one line and exit 1, not a traceback
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        env = Environment()
        env.debug = "--debug" in args  # known before parsing, for errors parsing may raise
        try:
            status = _run(args, env)
        except SystemExit as exc:  # shell completion exits from inside click
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        flushed = _flush_stdout(env)
        if flushed is not None:
            status = flushed
        if env.stray_threads:  # a client's threads still run: do not wait for them at exit
            sys.stderr.flush()
            os._exit(int(status))
    finally:
        sys.stdout = stdout
    sys.exit(status)
