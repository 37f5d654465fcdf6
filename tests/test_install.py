"""A machine without a working C compiler still installs wskrecv, and it runs there on
the pure-Python core: `pip install` of a copy of the source with CC=/bin/false (every
compile fails) into a temporary prefix (tests/install.py, the session's one install), then
that copy receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.install import Installed
from wskrecv import __version__
from wskrecv import core as cores

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.network
def test_install_without_a_compiler_succeeds_and_runs_the_pure_python_core(
        installed: Installed, tmp_path: Path) -> None:
    assert "compiled core was not built" in installed.pip_output
    assert not list((installed.site / "wskrecv").glob("_core*"))
    # -S: no .pth files, so a development (editable) install of wskrecv cannot lend the
    # copy its compiled core; the dependencies come from this interpreter's site-packages.
    run_env = {**installed.env,
               "PYTHONPATH": os.pathsep.join([str(installed.site), sysconfig.get_paths()["purelib"]])}
    python = [sys.executable, "-S"]
    probe = subprocess.run([*python, "-c", "import wskrecv, wskrecv._core"], cwd=tmp_path,
                           env=run_env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "No module named 'wskrecv._core'" in probe.stderr, probe.stderr
    version = subprocess.run([*python, "-m", "wskrecv", "--version"], cwd=tmp_path,
                             env=run_env, capture_output=True, text=True, timeout=60)
    assert version.stdout == f"wskrecv {__version__} (pure-Python core)\n", version.stderr
    run = subprocess.run(
        [*python, "-m", "wskrecv", "event", "-b", "127.0.0.1", "-p", "0", "-t", "0.2",
         "--json"],
        cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    start = json.loads(run.stdout.splitlines()[0])
    assert start["type"] == "start" and start["core"] == cores.PURE
    # The example clients ship too: --template prints one from the installed copy.
    template = subprocess.run([*python, "-m", "wskrecv", "run", "--template", "irp"], cwd=tmp_path,
                              env=run_env, capture_output=True, text=True, timeout=60)
    assert template.returncode == 0, template.stderr
    assert template.stdout == (ROOT / "examples" / "irp.py").read_text()
