"""Start-up cost: what loading the command line and the receive commands import."""

from __future__ import annotations

import pytest

from tests.conftest import modules_after

# Modules a receive command's --help must not load: the receive machinery is imported
# inside the command callbacks, so parsing options stays as cheap as click itself.
HEAVY = ("wskrecv.runner", "wskrecv.wsk", "wskrecv.provider", "wskrecv.stats", "wskrecv.apps",
         "wskrecv.generator", "wskrecv.selftest", "wskrecv.bench", "rich", "scapy", "ctypes")


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("argv", [["listen", "--help"], ["event", "--help"], ["--help"]])
def test_help_imports_no_receive_machinery(argv: list[str]) -> None:
    assert _heavy(modules_after(*argv)) == []


@pytest.mark.network
def test_a_receive_run_never_imports_scapy() -> None:
    mods = modules_after("event", "-b", "127.0.0.1", "-p", "0", "-t", "0.05", "-q")
    assert "wskrecv.runner" in mods  # it did run
    assert [m for m in mods if m.split(".")[0] == "scapy"] == []

