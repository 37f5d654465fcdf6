"""The WSK model's tests run with no network: creating a socket here fails the test."""

from __future__ import annotations

import socket
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the WSK model tests must not touch the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "socketpair", refuse)


@pytest.fixture
def core(receive_core: Any) -> Any:
    """The core under test, handed to the sockets the event tests make (`indications=`),
    as the receive stack's assembly hands it the chosen one: their lists are built,
    settled and walked by it."""
    return receive_core
