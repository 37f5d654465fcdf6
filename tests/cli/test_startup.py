"""Start-up cost: what loading the command line and the receive commands import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import modules_after

# Modules a receive command's --help must not load: the receive machinery is imported
# inside the command callbacks, so parsing options stays as cheap as click itself.
HEAVY = ("wskrecv.runner", "wskrecv.wsk", "wskrecv.provider", "wskrecv.stats", "wskrecv.builtin",
         "wskrecv.hosting",
         "wskrecv.generator", "wskrecv.selftest", "wskrecv.bench", "rich", "scapy", "ctypes")


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("argv", [["listen", "--help"], ["event", "--help"], ["--help"]])
def test_help_imports_no_receive_machinery(argv: list[str]) -> None:
    assert _heavy(modules_after(*argv)) == []


# What start-up may load beyond click: the group, the one command asked for and the option
# types and defaults it shows. `fractions`/`decimal` wait for a number to parse, the other
# commands (send's signals and sockets, bench's JSON) for their own invocation; the help
# width is found without shutil (cli.help_width).
STARTUP = {"wskrecv", "wskrecv.cli", "wskrecv.environment", "wskrecv.errors", "wskrecv.stdio",
           "wskrecv.words"}
COMMAND = {"wskrecv.commands", "wskrecv.commands.common", "wskrecv.commands.numeric",
           "wskrecv.commands.inject", "wskrecv.commands.receive", "wskrecv.payload",
           "wskrecv.config", "wskrecv.units"}
NOT_AT_STARTUP = ("fractions", "decimal", "socket", "signal", "shutil")


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["listen", "--help"], STARTUP | COMMAND | {"wskrecv.commands.listen"}),
        (["event", "--help"], STARTUP | COMMAND | {"wskrecv.commands.event"}),
        (["--version"], STARTUP | {"wskrecv.core", "wskrecv._core"}),
    ],
)
def test_startup_loads_only_what_it_shows(argv: list[str], allowed: set[str]) -> None:
    mods = modules_after(*argv)
    assert {m for m in mods if m.split(".")[0] == "wskrecv"} <= allowed
    assert [m for m in NOT_AT_STARTUP if m in mods] == []


def test_the_command_table_imports_a_command_when_looked_up() -> None:
    code = (
        "import json, sys\n"
        "from wskrecv.cli import cli\n"
        "names = sorted(cli.commands)\n"
        "before = 'wskrecv.commands.bench' in sys.modules\n"
        "epilog = cli.commands['bench'].epilog\n"
        "print(json.dumps([names, before, 'wskrecv.commands.bench' in sys.modules, epilog]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    names, before, after, epilog = json.loads(r.stdout)
    assert names == ["analyze", "bench", "event", "listen", "plot", "run", "selftest", "send"]
    assert (before, after) == (False, True)
    assert "Exit status:" in epilog and "measured" in epilog


@pytest.mark.network
def test_a_receive_run_never_imports_scapy() -> None:
    mods = modules_after("event", "-b", "127.0.0.1", "-p", "0", "-t", "0.05", "-q")
    assert "wskrecv.runner" in mods  # it did run
    assert [m for m in mods if m.split(".")[0] == "scapy"] == []



@pytest.mark.parametrize("columns", ["", "0", "40", "60", "79", "80", "200", "junk"])
def test_help_width_is_the_one_click_would_use(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from click import formatting

    from wskrecv.cli import help_width

    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(formatting, "FORCED_WIDTH", None)
    try:
        terminal = shutil.get_terminal_size().columns
    except ValueError:  # shutil itself refuses COLUMNS=junk: then stdout's size or 80
        monkeypatch.delenv("COLUMNS")
        terminal = shutil.get_terminal_size().columns
    assert help_width() == max(min(terminal, 80) - 2, 50)
    monkeypatch.setattr(formatting, "FORCED_WIDTH", 70)
    assert help_width() is None  # CliRunner's width wins
