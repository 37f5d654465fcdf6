"""A pytest plugin for the sanitizer run (tests/test_sanitizers.py loads it with -p): every
property test there runs a fraction of the examples it runs in the ordinary suite.

Under AddressSanitizer and UndefinedBehaviorSanitizer the compiled core aborts on the first
out-of-bounds access, use after free or undefined operation, so what the sanitizer run
needs is each kind of input reaching the C code, not the thousands of examples that hold
the twins equal; the ordinary suite still runs every example against the same C code
without the sanitizers. Each test keeps at least MINIMUM examples (all of its own when it
has fewer), and Hypothesis still generates them (the first ones it tries are its simplest
and its boundary values)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Set by tests/test_sanitizers.py: the fraction of each test's examples to run.
SCALE_VAR = "WSKRECV_TEST_EXAMPLES_SCALE"
MINIMUM = 25


def scaled(count: int, scale: float) -> int:
    """`count` examples scaled down, never below MINIMUM nor above `count`."""
    return min(count, max(MINIMUM, round(count * scale)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    scale = float(os.environ.get(SCALE_VAR, "1"))
    if scale >= 1:
        return
    done: set[int] = set()  # a parametrized test's items share one function
    for item in items:
        inner = getattr(item, "obj", None)
        test = getattr(inner, "hypothesis", None)
        if id(inner) in done:
            continue
        done.add(id(inner))
        # Hypothesis reads a @given test's settings from this attribute when the test runs
        # (the one @settings writes); a Hypothesis without it runs every example: slower,
        # never weaker.
        current = getattr(inner, "_hypothesis_internal_use_settings", None)
        if test is None or not isinstance(current, settings):
            continue
        inner._hypothesis_internal_use_settings = settings(
            current, max_examples=scaled(current.max_examples, scale)
        )
