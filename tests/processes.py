"""Watching a `wskrecv` subprocess's own children through /proc (Linux): a test catches
one running, freezes its parent (SIGSTOP) so nothing moves on, signals the parent and
checks, by pid, that no child outlived it. No sleeps: bounded polls only."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, Optional

from tests.conftest import wait_for


def stat(pid: int) -> Optional[tuple[str, int]]:
    """(state, start time) of process `pid`, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[19])


def children(pid: int) -> list[int]:
    """The children of process `pid` (of all its threads)."""
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def gone(pid: int, started: int) -> bool:
    """The process is dead: no such process, a zombie, or the pid reused by another."""
    st = stat(pid)
    return st is None or st[0] == "Z" or st[1] != started


def has_a_socket(pid: int) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


@contextmanager
def frozen_with_a_child(
    proc: subprocess.Popen, wanted: Callable[[int], bool] = lambda pid: True,
    timeout: float = 120,
) -> Iterator[tuple[int, int]]:
    """Wait until `proc` has a live child that is `wanted`, then stop `proc` (SIGSTOP) so
    it cannot move on: yields (the child's pid, its start time). `proc` is continued
    (SIGCONT) on the way out; the caller signals it meanwhile."""
    found: list[tuple[int, int]] = []

    def caught() -> bool:
        kids = [k for k in children(proc.pid) if wanted(k)]
        if not kids:
            return proc.poll() is not None
        os.kill(proc.pid, signal.SIGSTOP)
        for kid in kids:
            st = stat(kid)
            if st is not None and st[0] != "Z":
                found.append((kid, st[1]))
                return True
        os.kill(proc.pid, signal.SIGCONT)  # it had just ended: catch the next one
        return False

    assert wait_for(caught, timeout, step=0.005), "no child caught running"
    assert found, f"{proc.args} ended before a child was caught running"
    try:
        yield found[0]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
