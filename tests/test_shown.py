"""`wskrecv.shown`: text from the network, as every output shows it."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from wskrecv.output.human import HumanReporter
from wskrecv.output.jsonl import JsonReporter
from wskrecv.shown import shown, shown_all

EVIL = "\x1b[2J\x1b]0;owned\x07\r\nwskrecv iperf3: forged\u202eevil\0\u2028\x9b"


def test_what_does_not_print_as_itself_is_escaped() -> None:
    assert shown(EVIL) == ("\\x1b[2J\\x1b]0;owned\\x07\\r\\nwskrecv iperf3: forged\\u202eevil"
                           "\\x00\\u2028\\x9b")
    assert shown("iperf 3.12 — café 東京") == "iperf 3.12 — café 東京"  # printable stays
    assert shown(b"\xff\xfe ok") == "\\xff\\xfe ok"  # undecodable bytes, shown as bytes


def test_length_is_bounded_and_the_cut_marked() -> None:
    assert shown("x" * 500, 64) == "x" * 64 + "..."
    assert shown("\x00" * 100, 10) == "\\x00\\x00\\x" + "..."
    assert len(shown("y" * 10**6, None)) == 10**6


@given(st.text() | st.binary())
def test_idempotent_and_printable(text: object) -> None:
    once = shown(text, 50)
    assert shown(once, 50) == once
    hidden = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}  # the categories a terminal acts on
    assert not any(unicodedata.category(c) in hidden for c in once)


def test_the_outputs_escape_a_note() -> None:
    import io

    record = {"event": "start", "message": f"client {EVIL}", "params": {"v": EVIL}}
    human = io.StringIO()
    HumanReporter(human).note(record)
    assert human.getvalue().count("\n") == 1 and "\x1b" not in human.getvalue()
    lines = io.StringIO()
    JsonReporter(lines).note(record)
    obj = json.loads(lines.getvalue())
    assert obj["params"]["v"] == shown(EVIL, None) == shown_all(record)["params"]["v"]
