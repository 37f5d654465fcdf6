"""wskrecv installed as a user without a C compiler installs it: `pip install --prefix` of a
copy of this checkout (not editable) with CC=/bin/false, so every compile fails. Once per
session (the install takes tens of seconds): tests/test_install.py runs the copy, and
tests/test_manpage.py finds its page where man looks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from wskrecv import core as cores

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ["wskrecv", "examples", "csrc", "man", "setup.py", "pyproject.toml", "README.md"]


@dataclass(frozen=True)
class Installed:
    """A non-editable install under `prefix`: its package directory's parent (`site`),
    what pip said, and the environment pip ran in (without WSKRECV_NO_EXTENSIONS)."""

    prefix: Path
    site: Path
    pip_output: str
    env: dict[str, str]


def install_without_a_compiler(tmp: Path) -> Installed:
    """Copy the checkout (no built extension, no bytecode) to `tmp`/src and install it
    under `tmp`/prefix with every compile failing. AssertionError when pip fails."""
    src, prefix = tmp / "src", tmp / "prefix"
    for name in SOURCE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("*.so", "__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k != cores.ENV_VAR}
    env.update(CC="/bin/false", LDSHARED="/bin/false", PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-v", "--no-deps", "--no-compile",
         "--ignore-installed", "--prefix", str(prefix), str(src)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    (package,) = prefix.glob("lib*/python*/site-packages/wskrecv")
    return Installed(prefix, package.parent, pip.stdout + pip.stderr, env)


__all__ = ["Installed", "ROOT", "SOURCE", "install_without_a_compiler"]
