"""Number formatting for people."""

from __future__ import annotations

import pytest

from wskrecv.config import ReceiveConfig
from wskrecv.output.format import ordinal


@pytest.mark.parametrize(("n", "text"), [
    (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
    (21, "21st"), (22, "22nd"), (101, "101st"), (102, "102nd"), (111, "111th"), (1000, "1000th"),
])
def test_ordinal(n: int, text: str) -> None:
    assert ordinal(n) == text


@pytest.mark.parametrize(("every", "text"), [
    (1, "every call"), (2, "every 2nd call"), (3, "every 3rd call"), (12, "every 12th call"),
])
def test_the_start_line_names_every_nth_call_in_english(every: int, text: str) -> None:
    detail, _ = ReceiveConfig(mode="event", reject_every=every).describe()
    assert f"STATUS_DATA_NOT_ACCEPTED {text}," in detail


def test_the_start_line_names_every_nth_datagram_kept_in_english() -> None:
    detail, _ = ReceiveConfig(mode="event", keep_every=2).describe()
    assert "STATUS_PENDING for every 2nd datagram" in detail
