"""CI runs exactly the README's test command, nothing weaker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import auto_workers

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


def test_the_suite_s_workers_run_under_its_interpreter_options(tmp_path: Path) -> None:
    """pytest-xdist starts each worker as a bare `python -c ...`: the conftest hook gives
    them the options of the run (`-X dev -W error`), or a worker's unclosed pipe would
    pass unseen; `-n auto` starts one more than the cores, at most MAX_WORKERS. A real
    run of the README's `-n auto` with the project's pytest settings (in CI's Python,
    pytest-benchmark's warning at configure was an INTERNALERROR without them), each test
    reporting what its worker has."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_xdist_auto_num_workers, pytest_xdist_setupnodes\n")
    workers = auto_workers()
    (tmp_path / "test_flags.py").write_text(
        "import os, sys\n"
        "def test_a():\n    assert os.environ['PYTEST_XDIST_WORKER']\n"
        f"    assert os.environ['PYTEST_XDIST_WORKER_COUNT'] == '{workers}'\n"
        "    assert sys.flags.dev_mode and sys.warnoptions[-1:] == ['error']\n"
        "def test_b():\n    test_a()\n"
    )
    run = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-m", "pytest", "-n", "auto",
         "-c", str(ROOT / "pyproject.toml"), "-p", "no:cacheprovider", "-q", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
