"""CI runs exactly the README's test command, nothing weaker."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    """The command under "Install and run the whole test suite" in the quick start."""
    text = (ROOT / "README.md").read_text()
    section = text.split("Install and run the whole test suite", 1)[1]
    match = re.search(r"```sh\n(.+?)\n```", section, re.S)
    assert match, "the README's quick start has no test command"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    """A line of .ci/run is the README's command, whole: one that only starts with it
    (`... -m pytest -k 'not slow'`, `... tests/model`) would test less than it says."""
    command = readme_test_command()
    assert "pytest" in command
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in lines, command


def test_the_suite_runs_in_development_mode_with_warnings_as_errors() -> None:
    # An unclosed pipe of a test's own subprocess (a ResourceWarning) fails the run.
    assert "-X dev -W error -m pytest" in readme_test_command()
