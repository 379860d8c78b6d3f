"""Retry helpers with real ccxt exceptions and a fake sleep."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

import ccxt
import pytest

from atb.venues.errors import CircuitOpenError
from atb.venues.retry import aretry_idempotent, backoff_delay, is_idempotent, retry_idempotent


class Script:
    """A venue call that raises the given errors in turn, then returns "done"."""

    def __init__(self, errors: Iterable[BaseException]) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.__name__ = "fetch_balance"

    def __call__(self, *args: Any) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def run(script: Script, **kwargs: Any) -> tuple[Any, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("jitter", False)
    result = retry_idempotent(script, sleep=slept.append, **kwargs)
    return result, slept


def test_retries_exchange_not_available_with_growing_delays() -> None:
    script = Script([ccxt.ExchangeNotAvailable("binance 503")] * 3)
    result, slept = run(script, base=0.2)
    assert result == "done" and script.calls == 4
    assert slept == pytest.approx([0.2, 0.4, 0.8])


def test_delays_are_capped_and_the_last_error_is_reraised_unchanged() -> None:
    last = ccxt.RequestTimeout("binance GET timed out, the last one")
    script = Script([ccxt.RequestTimeout("t")] * 6 + [last])
    slept: list[float] = []
    with pytest.raises(ccxt.RequestTimeout) as info:
        retry_idempotent(script, attempts=7, base=1.0, max_delay=5.0, jitter=False, sleep=slept.append)
    assert info.value is last
    assert script.calls == 7
    assert slept == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_full_jitter_stays_within_the_backoff_bound() -> None:
    rng = random.Random(7)
    seen: list[tuple[float, float]] = []

    def uniform(lo: float, hi: float) -> float:
        seen.append((lo, hi))
        return rng.uniform(lo, hi)

    script = Script([ccxt.ExchangeNotAvailable("502")] * 5)
    slept: list[float] = []
    retry_idempotent(script, attempts=6, base=0.5, max_delay=4.0, sleep=slept.append, uniform=uniform)
    assert seen == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 4.0), (0.0, 4.0)]
    assert all(0.0 <= d <= hi for d, (_, hi) in zip(slept, seen, strict=True))
    # and many draws from a real random source spread over the whole range, never beyond it
    source = random.Random(11)
    draws = [backoff_delay(3, base=0.5, max_delay=4.0, jitter=True, uniform=source.uniform) for _ in range(2000)]
    assert 0.0 <= min(draws) < 0.2 and 1.8 < max(draws) <= 2.0


def test_retry_after_is_honoured_never_sooner() -> None:
    limited = ccxt.DDoSProtection("binance 429")
    limited.retry_after = 7  # type: ignore[attr-defined]
    script = Script([limited, ccxt.RateLimitExceeded("binance 429 Retry-After: 3")])
    slept: list[float] = []
    retry_idempotent(script, base=0.2, max_delay=5.0, sleep=slept.append, uniform=lambda lo, hi: lo)
    assert slept == [7.0, 3.0]  # beyond max_delay, and not shortened by jitter


def test_retry_after_from_a_custom_reader() -> None:
    headers = {"Retry-After": "9"}  # what a node would read from exchange.last_response_headers
    script = Script([ccxt.DDoSProtection("binance 429")])
    _, slept = run(script, retry_after=lambda exc: float(headers["Retry-After"]))
    assert slept == [9.0]


def test_longer_backoff_wins_over_a_short_retry_after() -> None:
    exc = ccxt.ExchangeNotAvailable("503 Retry-After: 1")
    _, slept = run(Script([exc]), base=4.0)
    assert slept == [4.0]


def test_rate_limit_without_retry_after_waits_a_minimum() -> None:
    script = Script([ccxt.DDoSProtection("binance 429"), ccxt.ExchangeNotAvailable("503")])
    slept: list[float] = []
    retry_idempotent(script, base=0.2, rate_limit_min_delay=1.0, sleep=slept.append, uniform=lambda lo, hi: lo)
    assert slept == [1.0, 0.0]  # the 503 gets plain full jitter (here its lowest draw)


def test_too_long_retry_after_is_raised_not_slept() -> None:
    banned = ccxt.DDoSProtection("binance 418 IP banned")
    banned.retry_after = 600  # type: ignore[attr-defined]
    script = Script([banned])
    slept: list[float] = []
    with pytest.raises(ccxt.DDoSProtection):
        retry_idempotent(script, max_retry_after=60.0, sleep=slept.append)
    assert script.calls == 1 and slept == []


@pytest.mark.parametrize(
    "exc",
    [
        ccxt.InsufficientFunds("-2010 Account has insufficient balance for requested action."),
        ccxt.InvalidOrder("-2010 Duplicate order sent."),
        ccxt.BadRequest("-1013 Filter failure: NOTIONAL"),
        ccxt.OrderNotFound("-2013 Order does not exist."),
        ccxt.InvalidNonce("-1021"),
        ccxt.AuthenticationError("-2015"),
        ccxt.ExchangeError("-9999"),
        ValueError("our bug"),
        CircuitOpenError("binance", 20.0, "open"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_non_retryable_errors_are_raised_at_once(exc: BaseException) -> None:
    script = Script([exc])
    slept: list[float] = []
    with pytest.raises(type(exc)) as info:
        retry_idempotent(script, sleep=slept.append)
    assert info.value is exc
    assert script.calls == 1 and slept == []


@pytest.mark.parametrize(
    "exc",
    [
        ccxt.NetworkError("connection reset"),
        ccxt.RequestTimeout("timed out"),
        ccxt.OperationFailed("-1001"),
        ccxt.DDoSProtection("429"),
        TimeoutError(),
        ConnectionResetError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_errors_on_idempotent_calls_are_retried(exc: BaseException) -> None:
    script = Script([exc])
    result, slept = run(script)
    assert result == "done" and script.calls == 2 and len(slept) == 1


def test_positional_arguments_and_partial() -> None:
    seen: list[Any] = []

    def fetch_order(order_id: str, symbol: str, *, params: dict[str, str]) -> str:
        seen.append((order_id, symbol, params))
        if len(seen) == 1:
            raise ccxt.RequestTimeout("t")
        return "filled"

    call = functools.partial(fetch_order, params={"origClientOrderId": "atb-1"})
    assert retry_idempotent(call, "42", "BTC/USDT", sleep=lambda s: None) == "filled"
    assert seen == [("42", "BTC/USDT", {"origClientOrderId": "atb-1"})] * 2


def test_refuses_to_retry_order_placement() -> None:
    calls: list[int] = []

    def create_order() -> None:
        calls.append(1)

    class Exchange:
        def createOrder(self) -> None:  # noqa: N802 - ccxt's camelCase name
            calls.append(1)

    for fn in (create_order, Exchange().createOrder):
        with pytest.raises(ValueError, match="not idempotent"):
            retry_idempotent(fn)
        with pytest.raises(ValueError, match="not idempotent"):
            asyncio.run(aretry_idempotent(fn))  # type: ignore[arg-type]
    assert calls == []


@pytest.mark.parametrize(
    ("name", "idempotent"),
    [
        ("fetch_balance", True),
        ("fetchOpenOrders", True),
        ("fetch_order", True),
        ("exchange.fetch_time", True),
        ("load_markets", True),
        ("cancel_order", True),
        ("cancelAllOrders", True),
        ("create_order", False),
        ("createMarketBuyOrder", False),
        ("edit_order", False),
        ("withdraw", False),
        ("transfer", False),
        ("place_order", False),  # unknown names are not idempotent
        ("<lambda>", False),
    ],
)
def test_is_idempotent(name: str, idempotent: bool) -> None:
    assert is_idempotent(name) is idempotent


def test_every_retry_is_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    leak = "binance GET https://api/v3/account?timestamp=1&signature=S3CR3TSIG 503 Service Unavailable"
    script = Script([ccxt.ExchangeNotAvailable(leak), ccxt.RequestTimeout("t")])
    with caplog.at_level(logging.WARNING, logger="atb.venues.retry"):
        run(script, base=0.25)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "attempt 1/5" in messages[0] and "retry_safe" in messages[0] and "0.250 s" in messages[0]
    assert "ExchangeNotAvailable" in messages[0] and "fetch_balance" in messages[0]
    assert "attempt 2/5" in messages[1] and "0.500 s" in messages[1]
    assert all("S3CR3TSIG" not in m for m in messages)


def test_async_twin() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts: list[int] = []

    async def fetch_ticker(symbol: str) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ccxt.ExchangeNotAvailable("binance GET Server disconnected")
        return symbol

    result = asyncio.run(aretry_idempotent(fetch_ticker, "BTC/USDT", jitter=False, sleep=fake_sleep))
    assert result == "BTC/USDT"
    assert slept == pytest.approx([0.2, 0.4])

    async def fetch_rejected() -> None:
        raise ccxt.InsufficientFunds("-2010")

    slept.clear()
    with pytest.raises(ccxt.InsufficientFunds):
        asyncio.run(aretry_idempotent(fetch_rejected, sleep=fake_sleep))
    assert slept == []


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"base": -1.0}, {"max_delay": -1.0}])
def test_rejects_nonsense_settings(bad: dict[str, Any]) -> None:
    fn: Callable[[], str] = lambda: "x"  # noqa: E731
    with pytest.raises(ValueError):
        retry_idempotent(fn, **bad)
