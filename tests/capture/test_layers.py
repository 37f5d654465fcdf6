"""The capture reader is a layer of its own, below everything that uses it (`analyze`,
and replay): its modules import the standard library and each other, nothing else of
wskrecv, and never scapy (the tests check against scapy; the reader does not need it)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import wskrecv.capture

CAPTURE = Path(wskrecv.capture.__file__).parent
# Python 3.10+ lists its standard library; before, only wskrecv and scapy are refused.
STDLIB = getattr(sys, "stdlib_module_names", None)


def test_the_capture_package_imports_only_the_standard_library_and_itself() -> None:
    for path in sorted(CAPTURE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert name.startswith("wskrecv.capture") or (
                    top not in ("wskrecv", "scapy") and (STDLIB is None or top in STDLIB)
                ), f"{path.name} imports {name}"
