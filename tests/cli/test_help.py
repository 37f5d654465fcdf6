"""--help pages: each command lists only the exit statuses it can return, and every line
fits 80 columns however wide the terminal is."""

from __future__ import annotations

import re

import pytest

from tests.conftest import run_cli

EXPECTED = {
    "listen": {0, 1, 2, 3, 4, 130},
    "event": {0, 1, 2, 3, 4, 130},
    "run": {0, 1, 2, 3, 4, 6, 7, 130},
    "send": {0, 1, 2, 130},
    "bench": {0, 1, 2, 130},
    "selftest": {0, 1, 2, 5, 130},
}


def _exit_statuses(text: str) -> set[int]:
    block = text.split("Exit status:", 1)[1].split("Shell completion", 1)[0]
    return {int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s\s", block, re.M)}


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_each_command_lists_only_its_exit_statuses(command: str) -> None:
    r = run_cli(command, "--help")
    assert r.returncode == 0
    assert _exit_statuses(r.stdout) == EXPECTED[command]


def test_the_top_level_help_lists_every_exit_status() -> None:
    assert _exit_statuses(run_cli("--help").stdout) == {0, 1, 2, 3, 4, 5, 6, 7, 130}


@pytest.mark.parametrize("columns", ["200", "80"])
@pytest.mark.parametrize("command", ["", *sorted(EXPECTED)])
def test_help_lines_fit_80_columns(command: str, columns: str) -> None:
    r = run_cli(*([command] if command else []), "--help", env={"COLUMNS": columns})
    long = [line for line in r.stdout.splitlines() if len(line) > 80]
    assert long == []
