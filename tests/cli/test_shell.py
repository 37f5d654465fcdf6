"""Shell friendliness: completion, --version, colour, clean JSON on stdout, closed pipes.
Shells, terminals and pipes are real processes; what only asks wskrecv runs in this process
(tests/harness.py)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import pytest

from tests.conftest import WSKRECV, popen, read_line, receive_argv, wait_for
from tests.harness import wskrecv
from wskrecv import __version__
from wskrecv.cli import cli
from wskrecv.environment import Environment

RECEIVE_COMMANDS = sorted(
    name for name, cmd in cli.commands.items() if any(p.name == "pcap" for p in cmd.params)
)
ESC = "\x1b["


# -- completion -------------------------------------------------------------------------


def bash_complete(*words: str) -> list[str]:
    """Complete the last of `words` with the real bash and wskrecv's completion script."""
    script = (
        'eval "$(_WSKRECV_COMPLETE=bash_source wskrecv)" && complete -p wskrecv >/dev/null && '
        'COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) && _wskrecv_completion wskrecv && '
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    r = subprocess.run(
        ["bash", "-c", script, "bash", *words], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_and_options() -> None:
    assert "listen" in bash_complete("wskrecv", "li")
    assert bash_complete("wskrecv", "listen", "--pc") == ["--pcap"]
    assert {"--color", "--no-color"} <= set(bash_complete("wskrecv", "--"))


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F _wskrecv_completion wskrecv"), ("zsh", "#compdef wskrecv"),
     ("fish", "complete --no-files --command wskrecv")],
)
def test_completion_scripts_for_each_shell(shell: str, marker: str) -> None:
    r = wskrecv(env={"_WSKRECV_COMPLETE": f"{shell}_source"})
    assert r.returncode == 0 and marker in r.stdout and r.stderr == ""


@pytest.mark.parametrize(("shell", "cword"), [("zsh", "2"), ("fish", "--pc")])
def test_zsh_and_fish_completion_protocols_answer(shell: str, cword: str) -> None:
    # What the sourced zsh and fish functions ask wskrecv (the shells run too where installed).
    env = {"_WSKRECV_COMPLETE": f"{shell}_complete", "COMP_WORDS": "wskrecv listen --pc", "COMP_CWORD": cword}
    r = wskrecv(env=env)
    assert r.returncode == 0 and "--pcap" in r.stdout, r.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_sources_the_completion_script() -> None:
    r = subprocess.run(
        ["zsh", "-c", 'autoload -Uz compinit && compinit -u && eval "$(_WSKRECV_COMPLETE=zsh_source '
         'wskrecv)" && whence -w _wskrecv_completion'],
        capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 0 and "function" in r.stdout, r.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_options() -> None:
    r = subprocess.run(
        ["fish", "-c", "_WSKRECV_COMPLETE=fish_source wskrecv | source; complete -C 'wskrecv listen --pc'"],
        capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 0 and "--pcap" in r.stdout, r.stderr


def test_version_names_the_receive_core_and_who_completes_listens_requests(receive_core: Any) -> None:
    r = wskrecv("--version")
    completions = ", native IRP completions" if receive_core.completer is not None else ""
    assert r.returncode == 0
    assert r.stdout == f"wskrecv {__version__} ({receive_core.name} core{completions})\n"


def test_no_extensions_forces_the_pure_python_core() -> None:
    r = wskrecv("-V", env={"WSKRECV_NO_EXTENSIONS": "1"})
    assert r.returncode == 0 and r.stdout == f"wskrecv {__version__} (pure-Python core)\n"


# -- colour -----------------------------------------------------------------------------


def bind_error(*global_args: str, env: Optional[dict[str, str]] = None, tty: bool = False) -> str:
    """stderr of a run that fails to bind (exit 1), optionally with stderr on a terminal."""
    args = [WSKRECV, *global_args, "listen", "--bind", "192.0.2.1", "--port", "0"]
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    full_env.update(env or {})
    if not tty:
        r = subprocess.run(args, capture_output=True, text=True, env=full_env, timeout=30)
        assert r.returncode == 1
        return r.stderr
    main, child = os.openpty()
    try:
        with popen(args, stdout=subprocess.DEVNULL, stderr=child, env=full_env) as proc:
            os.close(child)
            assert proc.wait(timeout=30) == 1
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the terminal's other side is gone
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(main)


def test_errors_are_plain_when_stderr_is_not_a_terminal() -> None:
    err = bind_error()
    assert err.startswith("wskrecv: error: cannot bind") and ESC not in err


def test_color_forces_colour_even_on_a_pipe_and_beats_no_color() -> None:
    assert ESC in bind_error("--color")
    assert ESC in bind_error("--color", env={"NO_COLOR": "1"})


def test_a_terminal_gets_colour_unless_no_color_or_no_color_flag() -> None:
    assert ESC in bind_error(tty=True, env={"TERM": "xterm"})
    assert ESC not in bind_error(tty=True, env={"TERM": "xterm", "NO_COLOR": "1"})
    assert ESC not in bind_error("--no-color", tty=True, env={"TERM": "xterm"})
    assert ESC not in bind_error(tty=True, env={"TERM": "dumb"})


class FakeTty:
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("choice", "environ", "tty", "expected"),
    [
        (None, {}, True, True),
        (None, {}, False, False),
        (None, {"NO_COLOR": "1"}, True, False),
        (None, {"NO_COLOR": ""}, True, True),  # set but empty does not count (no-color.org)
        (None, {"TERM": "dumb"}, True, False),
        (True, {"NO_COLOR": "1"}, False, True),
        (False, {}, True, False),
    ],
)
def test_environment_color_precedence(
    choice: Optional[bool], environ: dict[str, str], tty: bool, expected: bool
) -> None:
    env = Environment(stderr=FakeTty() if tty else io.StringIO(), environ=environ)  # type: ignore[arg-type]
    env.color_choice = choice
    assert env.color is expected


# -- JSON on stdout ---------------------------------------------------------------------


@pytest.mark.parametrize("command", RECEIVE_COMMANDS)
def test_every_stdout_line_parses_as_json(command: str) -> None:
    proc_out = subprocess.Popen(
        [WSKRECV, *receive_argv(command), "-b", "127.0.0.1", "-p", "0", "-c", "2", "--dump", "--json",
         "-i", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    start = json.loads(read_line(proc_out.stdout, 20))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in (b"x", b"y"):
            s.sendto(p, ("127.0.0.1", start["port"]))
    out, err = proc_out.communicate(timeout=30)
    objs = [json.loads(line) for line in out.splitlines()]  # raises on any non-JSON line
    assert proc_out.returncode == 0 and err == ""
    assert {o["type"] for o in objs} >= {"datagram", "summary"}


def test_errors_with_json_stay_off_stdout() -> None:
    r = wskrecv("listen", "--json", "--bind", "192.0.2.1", "--port", "0")
    assert r.returncode == 1 and r.stdout == "" and "cannot bind" in r.stderr


# -- closed pipes -----------------------------------------------------------------------


@contextmanager
def closed_pipe() -> Iterator[int]:
    """A pipe whose reader is already gone: every write to it fails with EPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        yield w
    finally:
        os.close(w)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["listen", "--help"], ["listen", "-b", "127.0.0.1", "-p", "0", "--json"]],
)
def test_writing_to_a_closed_pipe_exits_zero_quietly(args: list[str]) -> None:
    with closed_pipe() as w:
        r = subprocess.run([WSKRECV, *args], stdout=w, stderr=subprocess.PIPE, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == ""


def test_completion_script_to_a_closed_pipe_exits_zero_quietly() -> None:
    with closed_pipe() as w:
        r = subprocess.run(
            [WSKRECV], stdout=w, stderr=subprocess.PIPE, text=True, timeout=30,
            env={**os.environ, "_WSKRECV_COMPLETE": "bash_source"},
        )
    assert r.returncode == 0 and r.stderr == ""


def test_json_piped_to_head_dash_1_exits_zero_quietly() -> None:
    """`wskrecv listen --json --dump | head -1`: the reader leaves after the first line."""
    with popen([WSKRECV, "listen", "-b", "127.0.0.1", "-p", "0", "--json", "--dump"],
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        start = json.loads(read_line(proc.stdout, 20))
        proc.stdout.close()  # what head does after its line
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            # Each datagram makes a --dump line; the first write after the close fails.
            assert wait_for(
                lambda: s.sendto(b"x", ("127.0.0.1", start["port"])) and proc.poll() is not None,
                timeout=20,
            )
        err = proc.stderr.read()
    assert proc.returncode == 0 and err == ""


def test_buffered_dump_lines_flushed_into_a_closed_pipe_at_exit_exit_zero_quietly() -> None:
    # Human --dump lines are block-buffered on a pipe: the write fails only at the final flush.
    with closed_pipe() as w, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        proc = subprocess.Popen(
            [WSKRECV, "listen", "-b", "127.0.0.1", "-p", str(port), "-c", "3", "--dump"],
            stdout=w, stderr=subprocess.PIPE, text=True, env=env,
        )
        try:
            assert "receiving on" in read_line(proc.stderr, 20)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for _ in range(3):
                    s.sendto(b"x", ("127.0.0.1", port))
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
    assert "summary" in err and "Traceback" not in err and "Exception ignored" not in err

