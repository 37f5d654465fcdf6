"""--help pages: each command lists only the exit statuses it can return, and every line
fits 80 columns however wide the terminal is. In this process (tests/harness.py)."""

from __future__ import annotations

import itertools
import re

import pytest

from tests.harness import wskrecv

EXPECTED = {
    "listen": {0, 1, 2, 3, 4, 7, 8, 129, 130, 143},
    "event": {0, 1, 2, 3, 4, 7, 8, 129, 130, 143},
    "run": {0, 1, 2, 3, 4, 6, 7, 8, 129, 130, 143},
    "send": {0, 1, 2, 129, 130, 143},
    "bench": {0, 1, 2, 129, 130, 143},
    "selftest": {0, 1, 2, 5, 129, 130, 143},
}


def _exit_statuses(text: str) -> set[int]:
    block = text.split("Exit status:", 1)[1].split("Shell completion", 1)[0]
    return {int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s\s", block, re.M)}


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_each_command_lists_only_its_exit_statuses(command: str) -> None:
    r = wskrecv(command, "--help")
    assert r.returncode == 0
    assert _exit_statuses(r.stdout) == EXPECTED[command]


def test_the_top_level_help_lists_every_exit_status() -> None:
    assert _exit_statuses(wskrecv("--help").stdout) == {0, 1, 2, 3, 4, 5, 6, 7, 8, 129, 130, 143}


@pytest.mark.parametrize("columns", ["200", "80"])
@pytest.mark.parametrize("command", ["", *sorted(EXPECTED)])
def test_help_lines_fit_80_columns(command: str, columns: str) -> None:
    r = wskrecv(*([command] if command else []), "--help", env={"COLUMNS": columns})
    long = [line for line in r.stdout.splitlines() if len(line) > 80]
    assert long == []


def test_the_exit_statuses_of_help_man_page_and_readme_agree() -> None:
    """Every status a --help page lists has its own entry in the man page's EXIT STATUS
    and a row in the README's exit table, and neither documents one no command returns."""
    from tests.test_manpage import ROOT, sections

    (section,) = [s for s in sections() if s.title == "EXIT STATUS"]
    in_man = {int(m.group(1)) for tag in section.tags if (m := re.fullmatch(r"\.B (\d+)", tag))}
    table = (ROOT / "README.md").read_text().split("| exit | meaning |", 1)[1]
    rows = itertools.takewhile(lambda line: line.startswith("|"), table.splitlines()[2:])
    in_readme = {int(code) for row in rows for code in row.split("|")[1].split(",")}
    in_help = set().union(*EXPECTED.values())
    assert in_man == in_help
    assert in_readme == in_help
