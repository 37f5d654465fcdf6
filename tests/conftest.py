"""Shared helpers: run the installed `wskrecv` as a subprocess and talk to it over loopback."""

from __future__ import annotations

import functools
import json
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

import pytest

from wskrecv import core as cores
from wskrecv.selftest.host import have_ipv6
from wskrecv.stats import recorder as recorder_module

# The installed command the tests run (the venv's, first on PATH). "" when it is missing:
# pytest_configure then stops the session with one clear line.
WSKRECV: str = shutil.which("wskrecv") or ""

# CI sets this: a native core that did not build fails the run instead of being skipped.
REQUIRE_NATIVE = "WSKRECV_REQUIRE_NATIVE"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(REQUIRE_NATIVE) and cores.native_module() is None:
        raise pytest.UsageError(f"{REQUIRE_NATIVE} is set but the native core did not build or load")
    if not WSKRECV:
        raise pytest.UsageError(
            "the wskrecv command is not on PATH: the tests run the installed command; "
            "install it first (python3 -m pip install -e '.[test]') or put its bin directory "
            "on PATH"
        )


def interpreter_options() -> list[str]:
    """The options this interpreter was started with that change how code runs (`-X dev`,
    `-W error`: the README's test command), as a command line would give them."""
    xoptions = [f"-X{k}" if v is True else f"-X{k}={v}" for k, v in sys._xoptions.items()]
    return [*xoptions, *(f"-W{w}" for w in sys.warnoptions)]


# `-n auto` starts one worker more than there are cores (the tests wait on subprocesses
# and sockets: on 2 cores, 2 workers left a third of the CPU idle, 233 s; 3 took 177 s, 4
# 175 s), up to this many: the suite's floods and queue fills share one loopback and one
# kernel, and more workers than this were never tried.
MAX_WORKERS = 4


def auto_workers() -> int:
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) + 1))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return auto_workers()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Sequence[Any]) -> None:
    """pytest-xdist's workers run under this interpreter's options. execnet starts a
    worker as `python -c ...` (the spec's python, split as a shell splits it): without
    this, `python -X dev -W error -m pytest -n auto` would run every test outside
    development mode with warnings as warnings, an unclosed pipe passing unseen."""
    for spec in specs:
        if getattr(spec, "popen", False) and not spec.python:
            spec.python = shlex.join([sys.executable, *interpreter_options()])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` run first, the rest in their order: pytest-xdist hands out tests
    in collection order, and the longest (the sanitizer run, the whole selftest) came last,
    one worker running it alone after the other had run out of work."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@contextmanager
def popen(argv: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen]:
    """A subprocess for one test: on the way out it is killed if still running, reaped,
    and its pipes closed (so a test that fails half way leaks nothing, and the suite stays
    clean under `python -X dev -W error`)."""
    with subprocess.Popen(list(argv), **kwargs) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def _native_or_skip() -> cores.Core:
    core = cores.native()
    if core is None:
        if os.environ.get(REQUIRE_NATIVE):
            pytest.fail(f"{REQUIRE_NATIVE} is set but the native core did not build or load")
        pytest.skip("the native core is not built here (no C compiler at install time?)")
    return core


# Which receive core a test runs on (multidict's conftest hands its tests the module the
# same way). A test that does not ask runs once, on the process's own core
# (wskrecv.core.current(): the native one when it is built, the pure-Python one with
# WSKRECV_NO_EXTENSIONS=1). A test whose outcome depends on what the twins compute (the
# reader, the counting kernel and its tables and trackers, the indication lists) asks for
# `receive_core` and runs once on each; a module of such tests says so once:
# `pytestmark = pytest.mark.usefixtures("receive_core")`. A test that holds the native
# core against its twin itself asks for `native_core` and runs once.
@pytest.fixture(params=[pytest.param(cores.NATIVE, id="native"), pytest.param(cores.PURE, id="pure")])
def receive_core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> cores.Core:
    """The receive core under test, once per core (the native one skipped with the reason
    when it is not built here, unless WSKRECV_REQUIRE_NATIVE is set). Code under test
    gets it as the receive commands' assembly would: `wskrecv.core.current()` returns it,
    a Recorder made without a counter counts with it, the model's tests hand it to the
    sockets they make (`indications=receive_core`, tests/model/conftest.py's `core`), and
    `wskrecv` subprocesses choose it (WSKRECV_NO_EXTENSIONS)."""
    if request.param == cores.NATIVE:
        core = _native_or_skip()
        monkeypatch.delenv(cores.ENV_VAR, raising=False)
    else:
        core = cores.pure()
        monkeypatch.setenv(cores.ENV_VAR, "1")
    monkeypatch.setattr(cores, "current", lambda: core)
    monkeypatch.setattr(recorder_module, "Counter", core.counter)
    return core


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """wskrecv installed without a C compiler, not editable (tests/install.py): once per
    session, for the tests that need an install (skipped without the source checkout)."""
    from tests.install import ROOT, SOURCE, install_without_a_compiler

    if not all((ROOT / name).exists() for name in SOURCE):
        pytest.skip("needs the source checkout")
    return install_without_a_compiler(tmp_path_factory.mktemp("install"))


@pytest.fixture
def native_core() -> cores.Core:
    """The native core, for a test that holds it against its pure-Python twin itself (it
    compares both in one go, so it runs once): skipped when the native core is not built
    here, a failure when WSKRECV_REQUIRE_NATIVE is set."""
    return _native_or_skip()


def read_line(stream: Any, timeout: float) -> str:
    """One line from a subprocess pipe, or AssertionError after `timeout` seconds. Read a
    byte at a time from the descriptor, so that nothing after the line is taken into the
    stream's buffer, where `communicate()` (which reads the descriptor) would never see
    it: a run that ends at once writes its start and its summary in one go. The descriptor
    is read without blocking and waited on only when it is empty: a wait per byte made a
    reader of 10 ms interval lines fall ever further behind the process writing them."""
    fd = stream.fileno()
    line = bytearray()
    end = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        while not line.endswith(b"\n"):
            try:
                byte = os.read(fd, 1)
            except BlockingIOError:
                left = end - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"no output within {timeout} s: {bytes(line)!r}") from None
                continue
            if not byte:
                break  # end of file: the process closed its output
            line += byte
    finally:
        os.set_blocking(fd, blocking)
        sel.close()
    text = line.decode("utf-8", "replace")
    return text if getattr(stream, "encoding", None) else line  # type: ignore[return-value]


class Wskrecv:
    """A running `wskrecv` receive command with --json, bound to a free loopback port."""

    def __init__(
        self,
        *args: str,
        bind: str = "127.0.0.1",
        json_mode: bool = True,
        port: int = 0,
        expect_start: bool = True,
    ) -> None:
        assert WSKRECV, "the wskrecv command is not installed (pip install -e .)"
        argv = [WSKRECV, *args, "--bind", bind, "--port", str(port)]
        if json_mode:
            argv.append("--json")
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.json_mode = json_mode
        self.start: dict[str, Any] = {}
        if json_mode and expect_start:
            line = read_line(self.proc.stdout, 20)
            assert line, f"wskrecv exited early: {self.proc.stderr.read()}"
            self.start = json.loads(line)
            assert self.start["type"] == "start"
        self.port: int = self.start.get("port", port)
        if not self.start:
            assert port, "without a start line, pass a port (free_udp_port())"
            assert wait_for(lambda: port_bound(bind, port) or self.proc.poll() is not None, 20)
        self.address: str = self.start.get("address", bind)

    def send(self, payloads: list[bytes], source: Optional[socket.socket] = None) -> None:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        s = source or socket.socket(family, socket.SOCK_DGRAM)
        try:
            for p in payloads:
                s.sendto(p, (self.address, self.port))
        finally:
            if source is None:
                s.close()

    def signal(self, signum: int = signal.SIGINT) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 30) -> tuple[int, list[dict[str, Any]], str]:
        """Wait for exit; return (status, JSON objects after start, stderr)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"wskrecv did not exit within {timeout} s: {err}") from None
        objs = [json.loads(line) for line in out.splitlines() if line.strip()] if self.json_mode else []
        return self.proc.returncode, objs, err

    def __enter__(self) -> Wskrecv:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.__exit__(None, None, None)  # closes the pipes and reaps


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def receive_argv(command: str) -> list[str]:
    """What starts receive command `command`: `run` takes a client (the deep-queue example,
    which receives like `listen`)."""
    return ["run", os.path.join(EXAMPLES, "deep_queue.py")] if command == "run" else [command]


@functools.cache
def _unprivileged_prefix() -> tuple[str, ...]:
    prefix: tuple[str, ...] = ()
    if os.geteuid() != 0:
        return prefix  # already an ordinary user
    setpriv = shutil.which("setpriv")
    if setpriv is None or not WSKRECV:
        raise LookupError("running as root without setpriv: cannot drop privileges")
    try:
        with open("/etc/passwd") as f:
            nobody = any(line.startswith("nobody:") for line in f)
    except OSError:
        nobody = False
    if nobody:
        prefix = (setpriv, "--reuid=nobody", "--regid=65534", "--clear-groups", "--inh-caps=-all")
        probe = subprocess.run([*prefix, WSKRECV, "--version"], capture_output=True, timeout=60,
                               cwd="/")
        if probe.returncode == 0:
            return prefix
    # nobody cannot reach the interpreter (root's pyenv under a 0700 /root, as in CI): the
    # same checks as root with no capability at all, which is what the kernel asks of
    # a port below 1024 (CAP_NET_BIND_SERVICE) and of SO_RCVBUFFORCE (CAP_NET_ADMIN).
    return (setpriv, "--inh-caps=-all", "--bounding-set=-all")


def unprivileged() -> list[str]:
    """The command prefix that runs the installed wskrecv without privileges: as the user
    nobody where that user can run it, else as root with an empty capability set (the
    kernel grants by capability, not by user ID); none when not root. Skips the test
    where neither is possible."""
    try:
        return list(_unprivileged_prefix())
    except LookupError as exc:
        pytest.skip(str(exc))


def port_bound(host: str, port: int) -> bool:
    """Whether something has bound UDP `host`:`port` (our own bind attempt fails)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
        return False


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A port free right now, for commands that print nothing before receiving (--quiet).
    The receiver then binds it, and senders wait for it (see `Wskrecv.send`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run_cli(
    *args: str, timeout: float = 30, env: Optional[dict[str, str]] = None
) -> subprocess.CompletedProcess:
    assert WSKRECV, "the wskrecv command is not installed (pip install -e .)"
    return subprocess.run(
        [WSKRECV, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def wait_for(predicate: Any, timeout: float = 10, step: float = 0.01) -> bool:
    """A bounded poll: True as soon as `predicate()` is, False after `timeout`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@pytest.fixture
def wskrecv_cmd() -> type[Wskrecv]:
    return Wskrecv


skip_no_ipv6 = pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback (::1) here")


def modules_after(*argv: str) -> list[str]:
    """The modules running `wskrecv ARGV` in-process loads in a fresh interpreter: those the
    interpreter had already loaded before (its own start-up, a site-packages .pth file such
    as the one that brings `shutil` in on some Pythons) are not wskrecv's and are left out."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "from wskrecv.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('\\n' + json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return json.loads(r.stderr.strip().splitlines()[-1])
