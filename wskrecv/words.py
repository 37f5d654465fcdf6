"""Text for people: wrapped between words at a terminal's width.

A terminal wraps a long line wherever its last column falls, mid-word ("counts the" /
"m as lost"). Lines for people are cut here instead, between words, at the width the
terminal has now; on a pipe or in a file they stay whole, one fact per line, for grep.
Used by the human summary, the start line, a client's report and --help's exit statuses.
"""

from __future__ import annotations

import os
from typing import Any, Optional

LABEL_WIDTH = 13  # the summary's label column ("received     "): continuation lines align


def wrap_words(line: str, width: Optional[int], indent: int = LABEL_WIDTH) -> list[str]:
    """`line` in lines of at most `width` columns, broken between words only (a word
    longer than the width stands alone on its line, whole; never broken at a hyphen),
    the continuation lines indented under the value column. `width` None: as it is (a
    pipe or a file: one line per fact, for grep)."""
    if width is None or len(line) <= width:
        return [line]
    import textwrap  # only for a line wider than the terminal

    return textwrap.wrap(line, width, subsequent_indent=" " * min(indent, width // 2),
                         break_long_words=False, break_on_hyphens=False) or [line]


def terminal_columns(stream: Any) -> Optional[int]:
    """The width of the terminal `stream` writes to, now (it may have been resized);
    None when it is not a terminal."""
    try:
        if not stream.isatty():
            return None
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, ValueError, OSError):
        return None
