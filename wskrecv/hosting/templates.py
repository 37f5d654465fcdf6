"""Starting clients for `wskrecv run --template irp|event` (each runs as printed): the
example clients examples/irp.py and examples/event.py, one source for both, installed
with wskrecv as the package `wskrecv.examples` (setup.py)."""

from __future__ import annotations

from importlib.resources import files

TEMPLATE_NAMES = ("irp", "event")


def template(name: str) -> str:
    """The source of the template `name` (one of TEMPLATE_NAMES)."""
    if name not in TEMPLATE_NAMES:
        raise ValueError(f"no template {name!r}")
    return files("wskrecv.examples").joinpath(f"{name}.py").read_text(encoding="utf-8")


__all__ = ["TEMPLATE_NAMES", "template"]
