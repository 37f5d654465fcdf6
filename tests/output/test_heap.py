"""The collector during a run: what start-up built is out of its reach (runner/heap.py),
so a full collection on the receive thread walks only what the run allocated."""

from __future__ import annotations

import gc

from tests.harness import Result, receive


def test_a_run_freezes_what_exists_at_its_start_and_gives_it_back_at_its_end() -> None:
    seen: list[int] = []

    def during(run: Result) -> None:
        seen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    r = receive("listen", "--count", "1", send=[b"x"], then=during)
    assert r.status == 0, r.stderr
    assert seen and seen[0] > 10_000  # the modules, the receive stack...
    assert gc.get_freeze_count() == 0
