"""Text that came from the network, as wskrecv may show it: the one escaping helper.

A peer chooses some of what wskrecv prints: an iperf3 client's version string, the
reasons a control connection failed, whatever a future protocol brings. Printed raw, a
peer could move the cursor or recolour the terminal (escape sequences), forge a log line
(CR, LF), hide text (NUL, backspace) or reverse what follows (bidi controls). Every
output (human lines, the dashboard, JSON lines, whose strings `jq -r` prints raw) shows
such text through `shown`: what is not printable becomes a visible escape, and the
length is bounded.

The escapes are Python's (`\\x1b`, `\\u202e`), and a backslash is left as it is, so
`shown` is idempotent: text that has been through it can go through it again at the
output unchanged.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Optional

# Unicode categories that never print as themselves: controls (C0, DEL, C1), format
# characters (bidi embeddings and overrides, isolates, zero-width joiners, the BOM, soft
# hyphen), line and paragraph separators, surrogates (undecodable bytes), private use and
# unassigned code points.
_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))
LIMIT = 200  # characters shown at most; a longer text ends with an ellipsis


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    n = ord(ch)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def shown(text: object, limit: Optional[int] = LIMIT) -> str:
    """`text` (a str, or bytes decoded as UTF-8) with every character that does not print
    as itself written as its escape, cut to `limit` characters (`...` marks the cut; None:
    not cut, for text already bounded where it came in). Idempotent."""
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text if limit is None else text[: limit * 4])
        text = raw.decode("utf-8", "backslashreplace")
    elif not isinstance(text, str):
        text = str(text)
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    if not text.isprintable():  # fast path: most text needs nothing
        text = "".join(_escape(c) if unicodedata.category(c) in _HIDDEN else c for c in text)
        if limit is not None and len(text) > limit:
            text, cut = text[:limit], True
    return text + "..." if cut else text


def shown_all(value: Any) -> Any:
    """A record (dicts, lists, strings, numbers) with every string in it through `shown`,
    not cut: for outputs that print records a peer's text went into (JSON lines)."""
    if isinstance(value, str):
        return shown(value, None)
    if isinstance(value, dict):
        return {shown(k, None) if isinstance(k, str) else k: shown_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown_all(v) for v in value]
    return value


__all__ = ["LIMIT", "shown", "shown_all"]
