"""The process's streams and terminal facts, in one object tests can replace (httpie-style).

`Environment.color` is the one place that decides whether output may use colour: the
`--color/--no-color` global option wins, then NO_COLOR (https://no-color.org), then
TERM=dumb, then whether stderr (where people-facing output goes) is a terminal. Anything
that renders colour (the rich dashboard, error prefixes) reads it from here, e.g.
`rich.console.Console(file=env.stderr, no_color=not env.color, ...)`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Optional


@dataclass
class Environment:
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    color_choice: Optional[bool] = None  # --color (True), --no-color (False), or auto (None)
    debug: bool = False
    # Threads the run leaves running (a `wskrecv run` client's): the process exits without
    # waiting for them, which Python would otherwise do for ever.
    stray_threads: list[str] = field(default_factory=list)

    @property
    def stderr_isatty(self) -> bool:
        try:
            return self.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    @property
    def ci(self) -> bool:
        return bool(self.environ.get("CI"))

    @property
    def color(self) -> bool:
        """Whether to write ANSI colour on stderr (see the module docstring)."""
        if self.color_choice is not None:
            return self.color_choice
        if self.environ.get("NO_COLOR"):  # set and non-empty, as no-color.org says
            return False
        if self.environ.get("TERM") == "dumb":
            return False
        return self.stderr_isatty

    @property
    def stdout_binary(self) -> Optional[IO[bytes]]:
        """The byte stream under stdout (for `--pcap -`), or None when there is none."""
        return getattr(self.stdout, "buffer", None)

