"""Build the optional compiled receive core (wskrecv._core), like msgpack and multidict,
and wskrecv._sigexit (the second stop signal's exit from a C thread: wskrecv/signals.py).

Also the package list: the example clients (examples/) ship as wskrecv.examples.
Everything else is in pyproject.toml. When the extension cannot be built (no C compiler,
not Linux, WSKRECV_NO_EXTENSIONS=1 at build time), the install still succeeds and
wskrecv runs its pure-Python core; `wskrecv --version` says which core is active.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

SOURCES = ["csrc/module.c", "csrc/reader.c", "csrc/tracker.c", "csrc/tables.c", "csrc/counting.c",
           "csrc/chain.c", "csrc/capture.c", "csrc/completer.c"]


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing: the extension only makes wskrecv faster."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all (DistutilsPlatformError and kin)
            self._skip(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # the compiler failed (CompileError, LinkError...)
            self._skip(exc)

    def _skip(self, exc: Exception) -> None:
        sys.stderr.write(
            f"warning: wskrecv's compiled core was not built ({exc}); "
            "the pure-Python core will be used\n"
        )


def extensions() -> list[Extension]:
    if os.environ.get("WSKRECV_NO_EXTENSIONS") or not sys.platform.startswith("linux"):
        return []
    flags = os.environ.get("WSKRECV_CFLAGS", "-O2 -std=gnu11 -Wall -Wno-unused-parameter").split()
    headers = ["csrc/core.h", "csrc/hist.h", "csrc/tracker.h", "csrc/tables.h"]
    return [Extension("wskrecv._core", SOURCES, depends=headers, extra_compile_args=flags),
            # Not part of the core: the second stop signal's exit from a C thread (signals.py)
            Extension("wskrecv._sigexit", ["csrc/sigexit.c"], extra_compile_args=flags)]


# The example clients ship as wskrecv.examples: `wskrecv run --template` prints two of them.
setup(
    packages=[*find_packages(include=["wskrecv*"]), "wskrecv.examples"],
    package_dir={"wskrecv.examples": "examples"},
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
)
