"""A machine without a working C compiler still installs wskrecv, and it runs there on
the pure-Python core: `pip install` of a copy of the source with CC=/bin/false (every
compile fails) into a temporary directory, then that copy receives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from wskrecv import __version__
from wskrecv import core as cores

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ["wskrecv", "examples", "csrc", "man", "setup.py", "pyproject.toml", "README.md"]


@pytest.mark.network
def test_install_without_a_compiler_succeeds_and_runs_the_pure_python_core(tmp_path: Path) -> None:
    if not all((ROOT / name).exists() for name in SOURCE):
        pytest.skip("needs the source checkout")
    src, site = tmp_path / "src", tmp_path / "site"
    for name in SOURCE:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("*.so", "__pycache__")}
                                         if (ROOT / name).is_dir() else {}))
    env = {k: v for k, v in os.environ.items() if k != cores.ENV_VAR}
    env.update(CC="/bin/false", LDSHARED="/bin/false", PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-v", "--no-deps", "--target", str(site), str(src)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    assert "compiled core was not built" in pip.stdout + pip.stderr
    assert not list((site / "wskrecv").glob("_core*"))
    # -S: no .pth files, so a development (editable) install of wskrecv cannot lend the
    # copy its compiled core; the dependencies come from this interpreter's site-packages.
    run_env = {**env, "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])}
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
