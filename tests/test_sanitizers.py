"""The compiled core under AddressSanitizer and UndefinedBehaviorSanitizer.

The extension is built from csrc/ with -fsanitize=address,undefined into a temporary copy
of the package, and the tests that drive it hardest (the property tests against the
pure-Python twins, the reader on real sockets, every entry point fed hostile arguments,
the crash repros) run against that build in a subprocess:
any out-of-bounds access, use after free or undefined behaviour aborts it. The tests run
in two processes at once (the machine's two cores; this process only waits), each property
test with a third of its examples (tests/sanitizer_plugin.py: the sanitizers stop at the
first bad access; the ordinary suite runs them all). It takes a minute or less; CI runs it
(.ci/run installs gcc, whose libasan it needs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wskrecv import core as cores
from wskrecv.bench.native import find_compiler

ROOT = Path(__file__).resolve().parents[1]
# Two groups of about the same time, one process each.
TESTS = [["tests/model/test_core_twins.py", "tests/net/test_core_reader.py",
          "tests/model/test_chain_twins.py", "tests/model/test_event.py"],
         ["tests/test_native_fuzz.py", "tests/model/test_native_crashes.py", "tests/capture/test_twins.py",
          "tests/model/test_state.py", "tests/model/test_completer_twins.py"]]
EXAMPLES_SCALE = "0.34"
FLAGS = "-O1 -g -std=gnu11 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"


def _runtime(cc: str, name: str) -> str:
    out = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return out if os.path.isabs(out) and os.path.exists(out) else ""


@pytest.mark.long
def test_the_native_core_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    cc = find_compiler()
    if cc is None or not sys.platform.startswith("linux") or not (ROOT / "csrc").is_dir():
        pytest.skip("needs a C compiler, Linux and the source checkout (csrc/)")
    asan = _runtime(cc, "libasan.so")
    if not asan:
        pytest.skip(f"{cc} has no AddressSanitizer runtime (libasan)")
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "wskrecv", lib / "wskrecv", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {**os.environ, "CC": cc, "WSKRECV_CFLAGS": FLAGS, "LDFLAGS": "-fsanitize=address,undefined"}
    env.pop(cores.ENV_VAR, None)
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-temp", str(tmp_path / "build"),
         "--build-lib", str(lib)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    built = list((lib / "wskrecv").glob("_core*.so"))
    assert build.returncode == 0 and built, build.stderr[-2000:]
    run_env = {
        **os.environ,
        "PYTHONPATH": str(lib),
        "LD_PRELOAD": asan,
        "PYTHONMALLOC": "malloc",  # ASan sees every allocation, Python's objects' too
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",  # the interpreter itself leaks at exit
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "WSKRECV_REQUIRE_NATIVE": "1",
        "WSKRECV_TEST_EXAMPLES_SCALE": EXAMPLES_SCALE,
    }
    run_env.pop(cores.ENV_VAR, None)
    where = subprocess.run(
        [sys.executable, "-c", "import wskrecv._core as c; print(c.__file__)"],
        cwd=lib, env=run_env, capture_output=True, text=True, timeout=60,
    )
    assert where.returncode == 0 and where.stdout.strip().startswith(str(lib)), where.stderr[-2000:]
    # The tests that ask for `receive_core` run on the native core only here; the plugin
    # is loaded before the checkout's tests package is importable, so it goes beside wskrecv.
    shutil.copy(ROOT / "tests" / "sanitizer_plugin.py", lib / "sanitizer_plugin.py")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "sanitizer_plugin",
            "--import-mode=append", "--rootdir", str(ROOT), "-k", "not pure"]
    procs = [subprocess.Popen([*argv, *[str(ROOT / t) for t in group]], cwd=lib, env=run_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for group in TESTS]
    try:
        outputs = [proc.communicate(timeout=900)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, out in zip(procs, outputs):
        tail = out[-4000:]
        assert proc.returncode == 0, tail
        assert "ERROR: AddressSanitizer" not in tail and "runtime error" not in tail
        assert " passed" in out
