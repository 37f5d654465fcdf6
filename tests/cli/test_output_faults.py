"""Output that cannot be written: standard output on a full disk (`>/dev/full`) is one
line on stderr and exit 1 in every command, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import WSKRECV

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")

FULL = "wskrecv: error: cannot write standard output: No space left on device"


def run_to_full(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    with open("/dev/full", "w") as full:
        return subprocess.run([WSKRECV, *args], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=60, env={**os.environ, "CI": "true", **(env or {})})


@pytest.mark.parametrize("args", [
    ["--help"], ["--version"], ["listen", "--help"], ["event", "--help"], ["send", "--help"],
    ["bench", "--help"], ["selftest", "--help"], ["selftest", "--list"],
    ["selftest", "--only", "ipv4", "--json"],
    ["send", "127.0.0.1", "9", "-c", "3", "--json"],
    ["listen", "-b", "127.0.0.1", "-p", "0", "--json", "-t", "5"],
    ["event", "-b", "127.0.0.1", "-p", "0", "--pcap", "-", "-t", "5"],
    ["bench", "-m", "python", "-c", "1000", "-r", "1", "-q"],
])
def test_stdout_on_a_full_disk_is_one_line_and_exit_one(args: list[str]) -> None:
    r = run_to_full(args)
    assert (r.returncode, r.stderr) == (1, FULL + "\n")


def test_the_completion_script_on_a_full_disk_is_one_line_and_exit_one() -> None:
    r = run_to_full([], env={"_WSKRECV_COMPLETE": "bash_source"})
    assert (r.returncode, r.stderr) == (1, FULL + "\n")
