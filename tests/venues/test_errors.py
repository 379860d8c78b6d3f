"""Remedy groups for every row of VENUE_NOTES's "What ccxt raises" table.

The exceptions are produced by ccxt's own Binance error handling from the venue's raw answers,
so the test checks the table against ccxt as well as our mapping.
"""

from __future__ import annotations

import json

import ccxt
import pytest

from atb.venues.errors import (
    CircuitOpenError,
    VenueErrorKind,
    classify,
    describe,
    is_venue_trouble,
    parse_retry_after,
    retry_after_seconds,
)

K = VenueErrorKind
URL = "http://127.0.0.1:9/api/v3/order?symbol=BTCUSDT&timestamp=1700000000000&signature=deadbeefcafe"


def venue_answer(status: int, body: str) -> BaseException:
    """The exception ccxt's Binance client raises for this HTTP answer (no network involved)."""
    exchange = ccxt.binance()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    try:
        exchange.handle_errors(status, "reason", URL, "POST", {}, body, parsed, {}, "")
        exchange.handle_http_status_code(status, "reason", URL, "POST", body)
    except Exception as exc:
        return exc
    raise AssertionError(f"ccxt raised nothing for {status} {body}")


# (venue answer, ccxt class, kind for a non-idempotent call such as create_order, kind for a read)
ANSWERS = [
    (
        500,
        '{"code":-1001,"msg":"Internal error; unable to process your request."}',
        "OperationFailed",
        K.UNKNOWN_OUTCOME,
        K.RETRY_SAFE,
    ),
    (502, "Bad Gateway", "ExchangeNotAvailable", K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
    (503, "Service Unavailable", "ExchangeNotAvailable", K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
    (504, "Gateway Timeout", "RequestTimeout", K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
    (429, '{"code":-1003,"msg":"Too much request weight used."}', "DDoSProtection", K.RETRY_SAFE, K.RETRY_SAFE),
    (
        418,
        '{"code":-1003,"msg":"Way too much request weight used; IP banned until 1659146400000."}',
        "DDoSProtection",
        K.RETRY_SAFE,
        K.RETRY_SAFE,
    ),
    (400, '{"code":-1013,"msg":"Filter failure: NOTIONAL"}', "BadRequest", K.REJECTED, K.REJECTED),
    (400, '{"code":-1013,"msg":"Filter failure: LOT_SIZE"}', "InvalidOrder", K.REJECTED, K.REJECTED),
    (
        400,
        '{"code":-2010,"msg":"Account has insufficient balance for requested action."}',
        "InsufficientFunds",
        K.REJECTED,
        K.REJECTED,
    ),
    (400, '{"code":-2010,"msg":"Duplicate order sent."}', "InvalidOrder", K.REJECTED, K.REJECTED),
    (400, '{"code":-2013,"msg":"Order does not exist."}', "OrderNotFound", K.NOT_FOUND, K.NOT_FOUND),
    (400, '{"code":-2011,"msg":"Unknown order sent."}', "OrderNotFound", K.NOT_FOUND, K.NOT_FOUND),
    (
        400,
        '{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}',
        "InvalidNonce",
        K.CLOCK,
        K.CLOCK,
    ),
    (400, '{"code":-1022,"msg":"Signature for this request is not valid."}', "AuthenticationError", K.AUTH, K.AUTH),
    (401, '{"code":-2014,"msg":"API-key format invalid."}', "AuthenticationError", K.AUTH, K.AUTH),
    (
        401,
        '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
        "AuthenticationError",
        K.AUTH,
        K.AUTH,
    ),
]


@pytest.mark.parametrize(("status", "body", "cls", "on_order", "on_read"), ANSWERS)
def test_venue_answers_map_to_the_documented_remedy(
    status: int, body: str, cls: str, on_order: VenueErrorKind, on_read: VenueErrorKind
) -> None:
    exc = venue_answer(status, body)
    assert type(exc).__name__ == cls
    assert classify(exc) is on_order  # default: assume the call is not idempotent
    assert classify(exc, idempotent=False) is on_order
    assert classify(exc, idempotent=True) is on_read


@pytest.mark.parametrize(
    ("exc", "on_order", "on_read"),
    [
        # connection reset / no answer: sync ccxt raises NetworkError, async ExchangeNotAvailable
        (ccxt.NetworkError("binance POST connection reset"), K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
        (ccxt.ExchangeNotAvailable("binance POST Server disconnected"), K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
        (ccxt.RequestTimeout("binance POST request timed out (10000 ms)"), K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
        (ccxt.OnMaintenance("binance system maintenance"), K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
        (ccxt.BadResponse("-1006 execution status unknown"), K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
        (ccxt.RateLimitExceeded("binance 429"), K.RETRY_SAFE, K.RETRY_SAFE),
        (ccxt.PermissionDenied("-2015"), K.AUTH, K.AUTH),
        (ccxt.AccountSuspended("account suspended"), K.AUTH, K.AUTH),
        (ccxt.BadSymbol("binance does not have market symbol FOO/BAR"), K.REJECTED, K.REJECTED),
        (ccxt.ArgumentsRequired("fetchMyTrades requires a symbol"), K.REJECTED, K.REJECTED),
        (ccxt.ExchangeError("binance -9999 something new"), K.UNCLASSIFIED, K.UNCLASSIFIED),
        (TimeoutError(), K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
        (ConnectionResetError(104, "reset"), K.UNKNOWN_OUTCOME, K.RETRY_SAFE),
        (ValueError("a bug of ours"), K.UNCLASSIFIED, K.UNCLASSIFIED),
        (KeyError("price"), K.UNCLASSIFIED, K.UNCLASSIFIED),
        (CircuitOpenError("binance", 12.0, "open"), K.RETRY_SAFE, K.RETRY_SAFE),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_other_exceptions(exc: BaseException, on_order: VenueErrorKind, on_read: VenueErrorKind) -> None:
    assert classify(exc, idempotent=False) is on_order
    assert classify(exc, idempotent=True) is on_read


@pytest.mark.parametrize(
    ("exc", "trouble"),
    [
        (ccxt.NetworkError("reset"), True),
        (ccxt.ExchangeNotAvailable("503"), True),
        (ccxt.RequestTimeout("timeout"), True),
        (ccxt.OperationFailed("-1001"), True),
        (ccxt.DDoSProtection("429"), True),
        (ccxt.RateLimitExceeded("429"), True),
        (TimeoutError(), True),
        (ConnectionRefusedError(), True),
        (ccxt.InsufficientFunds("-2010"), False),
        (ccxt.InvalidOrder("-2010 duplicate"), False),
        (ccxt.BadRequest("-1013"), False),
        (ccxt.OrderNotFound("-2013"), False),
        (ccxt.InvalidNonce("-1021"), False),
        (ccxt.AuthenticationError("-1022"), False),
        (ccxt.ExchangeError("unknown code"), False),
        (ValueError("bug"), False),
        (CircuitOpenError("binance", 1.0, "open"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_is_venue_trouble(exc: BaseException, trouble: bool) -> None:
    assert is_venue_trouble(exc) is trouble


def test_retry_after_from_attribute_message_or_nothing() -> None:
    exc = ccxt.DDoSProtection("binance 429")
    assert retry_after_seconds(exc) is None
    exc.retry_after = 7  # type: ignore[attr-defined]
    assert retry_after_seconds(exc) == 7.0
    exc.retry_after = "12"  # type: ignore[attr-defined]  # a raw header value
    assert retry_after_seconds(exc) == 12.0
    assert retry_after_seconds(ccxt.RateLimitExceeded("binance 429 Retry-After: 3.5 too many")) == 3.5
    assert retry_after_seconds(ccxt.RateLimitExceeded("retry_after=4")) == 4.0
    # numbers that are not delays are ignored
    assert (
        retry_after_seconds(venue_answer(429, '{"code":-1003,"msg":"limit is 6000 request weight per 1 MINUTE"}'))
        is None
    )
    assert retry_after_seconds(venue_answer(418, '{"code":-1003,"msg":"IP banned until 1659146400000."}')) is None


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("30", 30.0),
        (" 2 ", 2.0),
        (b"5", 5.0),
        (1.5, 1.5),
        (0, 0.0),
        (None, None),
        ("soon", None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        (True, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(raw: object, seconds: float | None) -> None:
    assert parse_retry_after(raw) == seconds


def test_describe_hides_signature_and_keys() -> None:
    exc = venue_answer(503, "Service Unavailable")
    text = describe(exc)
    assert text.startswith("ExchangeNotAvailable: binance POST http://127.0.0.1:9/api/v3/order?…")
    assert "deadbeefcafe" not in text and "signature" not in text
    leaky = ccxt.AuthenticationError('bad request {"apiKey": "K3YK3Y", "secret":"S3CR3T"} X-MBX-APIKEY: K3YK3Y')
    text = describe(leaky)
    assert "K3YK3Y" not in text and "S3CR3T" not in text
    assert describe(ValueError()) == "ValueError"
    assert len(describe(ValueError("x" * 1000))) <= len("ValueError: ") + 200
