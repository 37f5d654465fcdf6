"""man/wskrecv.1 stays honest: every option documented under its command, no groff warnings,
installed where `man wskrecv` finds it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.install import Installed
from wskrecv import __version__
from wskrecv.cli import cli

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man" / "wskrecv.1"


def plain(roff: str) -> str:
    """Roff source to the words a reader sees: font escapes gone, \\- and \\e resolved."""
    text = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\%", "", roff)
    return text.replace("\\-", "-").replace("\\e", "\\")


class Section:
    """One .SH or .SS section: its title, its text, and the tags of its .TP entries (the
    line after each .TP: where an option is documented, not merely mentioned)."""

    def __init__(self, title: str, lines: list[str]) -> None:
        self.title = title
        self.text = plain("\n".join(lines))
        self.tags = [plain(lines[i + 1]) for i, line in enumerate(lines[:-1]) if line.startswith(".TP")]


def sections() -> list[Section]:
    out: list[Section] = []
    title, body = "", []
    for line in MAN.read_text().splitlines():
        m = re.match(r'\.S[HS]\s+"?([^"]*)"?\s*$', line)
        if m:
            out.append(Section(title, body))
            title, body = m.group(1).strip(), []
        elif not line.startswith('.\\"'):
            body.append(line)
    out.append(Section(title, body))
    return out


CommandPath = tuple[str, ...]


def commands(group: click.Group = cli, path: CommandPath = ()) -> Iterator[tuple[CommandPath, click.Command]]:
    """Every command in the tree under `group`, with its path of names (root: ())."""
    yield path, group
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def sections_of(path: CommandPath) -> list[Section]:
    """The sections that document the command at `path`: OPTIONS for the root, else every
    section whose title names the command (e.g. "wskrecv listen", or a shared
    "Receive options (listen, event)")."""
    if not path:
        return [s for s in sections() if s.title == "OPTIONS"]
    pattern = re.compile(rf"(?<![\w-]){re.escape(' '.join(path))}(?![\w-])")
    return [s for s in sections() if pattern.search(s.title)]


def option_cases() -> list[tuple[str, str]]:
    cases = []
    for path, cmd in commands():
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for opt in [*param.opts, *param.secondary_opts]:
                if opt in ("-h", "--help"):
                    continue
                cases.append((" ".join(("wskrecv", *path)), opt))
    return cases


@pytest.mark.parametrize(("command", "option"), option_cases())
def test_every_option_is_documented_under_its_command(command: str, option: str) -> None:
    found = sections_of(tuple(command.split()[1:]))
    assert found, f"no section of man/wskrecv.1 is titled after {command!r}"
    word = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
    assert any(word.search(tag) for s in found for tag in s.tags), (
        f"{command} {option} has no .TP entry in its man page section"
    )


def test_every_command_has_its_own_section() -> None:
    titles = [s.title for s in sections()]
    for path, cmd in commands():
        if path and not isinstance(cmd, click.Group):
            assert f"wskrecv {' '.join(path)}" in titles


def test_the_page_has_the_sections_of_a_well_kept_man_page() -> None:
    titles = [s.title for s in sections()]
    for needed in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "OUTPUT",
                   "EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"):
        assert needed in titles


def test_the_header_carries_the_package_version() -> None:
    (th,) = [line for line in MAN.read_text().splitlines() if line.startswith(".TH ")]
    assert f'"wskrecv {__version__}"' in th


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (apt-get install groff)")
def test_groff_renders_the_page_without_warnings() -> None:
    r = subprocess.run(["groff", "-man", "-ww", "-z", str(MAN)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == ""


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (apt-get install groff)")
def test_rendered_page_shows_options_as_typed() -> None:
    r = subprocess.run(
        ["groff", "-man", "-Tutf8", "-P-c", "-rLL=100n", str(MAN)], capture_output=True, timeout=60
    )
    text = re.sub(r".\x08", "", r.stdout.decode())  # overstrike bold/underline
    assert "--pcap" in text and "--no-color" in text and "LISTEN_FDS" in text


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_a_non_editable_install_puts_the_page_where_man_finds_it(installed: Installed) -> None:
    page = installed.prefix / "share" / "man" / "man1" / "wskrecv.1"
    assert page.read_text() == MAN.read_text()
    # man-db derives the man path from PATH: <prefix>/bin -> <prefix>/share/man.
    env = {**os.environ, "PATH": f"{installed.prefix / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MANPATH", None)
    found = subprocess.run(["man", "-w", "wskrecv"], capture_output=True, text=True, env=env, timeout=60)
    assert found.returncode == 0 and found.stdout.strip() == str(page), found.stderr
