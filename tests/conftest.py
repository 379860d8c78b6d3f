"""Fixtures shared across test packages.

Kept import-light: collecting any test must not pay for ccxt or the fake venue unless it uses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakevenue import FakeVenue


@pytest.fixture
def fake_venue() -> Iterator[FakeVenue]:
    """A started fake Binance spot venue on 127.0.0.1 (100 000 USDT, BTC at 50 000, ETH at 3 000).

    Fails the test if anything asked it for an endpoint it does not serve (a futures or margin call,
    a path ccxt was not expected to take), since on the real venue that would be a real request.
    """
    from fakevenue import FakeVenue

    venue = FakeVenue().start()
    try:
        yield venue
    finally:
        venue.stop()
    assert venue.unexpected == [], f"requests the fake venue does not serve: {venue.unexpected}"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused at once, and nobody else can take it meanwhile."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
