"""The native reference: `wskbench.c` compiled on the spot with the system's C compiler.

The binary is built once per source and compiler into the user's cache directory (or a
temporary one when that is not writable) and never shipped: a machine without a compiler
runs the benchmark without the C baseline and says so.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from wskrecv.errors import OsFailure

SOURCE = Path(__file__).with_name("wskbench.c")


@dataclass(frozen=True)
class Native:
    """A compiled wskbench, or why there is none (`path` None, `note` says why)."""

    path: Optional[str]
    compiler: Optional[str]
    note: str = ""

    @property
    def available(self) -> bool:
        return self.path is not None


def find_compiler() -> Optional[str]:
    """$CC when set, else cc, gcc or clang on PATH."""
    cc = os.environ.get("CC")
    candidates = [cc] if cc else ["cc", "gcc", "clang"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wskrecv"


def _temp_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="wskrecv-bench-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def build(compiler: Optional[str] = None) -> Native:
    """Compile wskbench.c (or reuse an earlier build of the same source and compiler)."""
    cc = compiler or find_compiler()
    if cc is None:
        return Native(None, None, "no C compiler (cc, gcc, clang or $CC) found: C baseline skipped")
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + b"\0" + cc.encode()).hexdigest()[:16]
    for directory in (_cache_dir(), None):
        try:
            where = directory or _temp_dir()
            where.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        exe = where / f"wskbench-{key}"
        if os.access(exe, os.X_OK):
            return Native(str(exe), cc)
        # Build beside the target and rename: concurrent benches never run a half-written file.
        partial = where / f".wskbench-{key}.{os.getpid()}"
        try:
            proc = subprocess.run(
                [cc, "-O2", "-o", str(partial), str(SOURCE)],
                capture_output=True, text=True, timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Native(None, cc, f"C compiler {cc} failed ({exc}): C baseline skipped")
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["no message"])[0]
            return Native(None, cc, f"C compiler {cc} failed ({first}): C baseline skipped")
        try:
            os.replace(partial, exe)
        except OSError:
            continue  # cache not writable after all: build again in a temporary directory
        return Native(str(exe), cc)
    return Native(None, cc, "no writable directory to build the C baseline in: skipped")


def parse_pair(output: str, what: str) -> tuple[int, int]:
    """wskbench's "COUNT NANOSECONDS" line."""
    try:
        count, ns = output.split()
        return int(count), int(ns)
    except ValueError:
        raise OsFailure(f"wskbench {what} printed {output.strip()!r}") from None
