"""`wskrecv selftest`: receivers of every style, driven by the generator, checked exactly."""

from wskrecv.selftest.cases import all_cases
from wskrecv.selftest.display import JsonDisplay, LiveDisplay, PlainDisplay, Verdict
from wskrecv.selftest.engine import (
    FAIL,
    INTERRUPTED,
    PASS,
    SKIP,
    Case,
    CaseResult,
    Context,
    run_case,
    select,
)

__all__ = [
    "FAIL",
    "INTERRUPTED",
    "PASS",
    "SKIP",
    "Case",
    "CaseResult",
    "Context",
    "JsonDisplay",
    "LiveDisplay",
    "PlainDisplay",
    "Verdict",
    "all_cases",
    "run_case",
    "select",
]
