"""address_gone: whether a bound socket's local address still belongs to this host."""

from __future__ import annotations

import pytest

from tests.conftest import skip_no_ipv6
from wskrecv.provider.health import address_gone

pytestmark = pytest.mark.network


@pytest.mark.parametrize("local", [("0.0.0.0", 5001), ("127.0.0.1", 5001), ("127.9.9.9", 1)])
def test_wildcard_and_present_addresses_are_fine(local: tuple) -> None:
    assert address_gone(local) is None


@skip_no_ipv6
def test_ipv6_loopback_and_wildcard_are_fine() -> None:
    assert address_gone(("::1", 5001, 0, 0)) is None
    assert address_gone(("::", 5001, 0, 0)) is None


def test_an_address_this_host_does_not_have_is_gone() -> None:
    assert address_gone(("192.0.2.1", 5001)) == (
        "the local address 192.0.2.1 was removed from this host")
