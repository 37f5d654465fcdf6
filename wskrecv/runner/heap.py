"""The garbage collector and the receive thread.

A full collection walks every object the process holds, and what start-up built (click,
rich, the payload parsers, the receive stack: some hundred thousand objects) makes it
tens of milliseconds long, during which nothing reads the socket: a 208 KB receive
buffer holds about half a millisecond of 3 Gbit/s. None of those objects becomes
garbage while a run receives, so the run freezes them (`gc.freeze`: out of every
collection's reach) when it starts and gives them back to the collector (`gc.unfreeze`)
when it ends. What the run itself allocates is collected as usual, and a full
collection of it is short. Measured with tools/read_gaps.py.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def start_up_frozen() -> Iterator[None]:
    """For the block, leave what exists now out of every collection (see the module
    docstring); afterwards the collector has it back, garbage among it included."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


__all__ = ["start_up_frozen"]
