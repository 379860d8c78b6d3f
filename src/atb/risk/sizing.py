"""Position sizing helpers: exact Decimal in, whole lots out, always rounded DOWN.

Rounding down means a helper never sizes more than it was asked to risk.
The arithmetic runs in `fractions.Fraction` (exact rationals), so a quotient
that is a hair under a whole number of lots is never rounded up to it by a
finite-precision division. Inputs are `Decimal`, `int` or `str`; floats are
refused like everywhere in the money path (convert a float statistic with
`Decimal(repr(x))`).

These return lots of the instrument's `lot` step; they do not subtract fees
(a venue resolving a budget does) and do not apply the instrument's minimums.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from atb.domain.errors import InvalidValueError
from atb.domain.money import Exact, quotient, to_decimal

_ZERO = Decimal(0)
_ONE = Decimal(1)


def _positive(value: Exact, what: str) -> Fraction:
    number = to_decimal(value, what)
    if number <= 0:
        raise InvalidValueError(f"{what} must be positive, got {number}")
    return Fraction(number)


def _non_negative(value: Exact, what: str) -> Fraction:
    number = to_decimal(value, what)
    if number < 0:
        raise InvalidValueError(f"{what} must not be negative, got {number}")
    return Fraction(number)


def _lots(notional: Fraction, price: Fraction, lot: Fraction) -> int:
    if notional <= 0:
        return 0
    return int(notional // (price * lot))  # floor of an exact positive rational


def fixed_fraction(equity: Exact, fraction: Exact, price: Exact, lot: Exact) -> int:
    """Lots worth `fraction` of `equity` at `price`: floor(equity × fraction / (price × lot)).

    Zero or negative equity sizes nothing.
    """
    budget = Fraction(to_decimal(equity, "equity")) * _non_negative(fraction, "fraction")
    return _lots(budget, _positive(price, "price"), _positive(lot, "lot"))


def volatility_target(
    equity: Exact,
    target_vol_ann: Exact,
    realised_vol_ann: Exact,
    price: Exact,
    lot: Exact,
    max_leverage: Exact,
) -> int:
    """Lots whose notional scales equity to an annualised volatility target.

    leverage = min(target_vol / realised_vol, max_leverage); lots =
    floor(equity × leverage / (price × lot)). A realised volatility of zero
    (no measured risk) takes the maximum leverage rather than dividing by zero.
    Volatilities are fractions (0.2 = 20 % a year).
    """
    target = _non_negative(target_vol_ann, "target volatility")
    realised = _non_negative(realised_vol_ann, "realised volatility")
    cap = _positive(max_leverage, "max leverage")
    leverage = min(target / realised, cap) if realised else cap
    budget = Fraction(to_decimal(equity, "equity")) * leverage
    return _lots(budget, _positive(price, "price"), _positive(lot, "lot"))


def kelly_fraction(win_rate: Exact, win_loss_ratio: Exact, cap: Exact = Decimal("0.25")) -> Decimal:
    """Kelly's fraction of equity to stake, f* = p − (1 − p) / b, clipped to [0, cap].

    p is the win rate, b the average win over the average loss. A negative
    f* (no edge) stakes nothing; the cap (a quarter by default) because the
    full Kelly stake assumes p and b are known exactly, and estimates of them
    are not. The result is exact when (1 − p) / b terminates, otherwise correct
    to 60 significant digits.
    """
    p = to_decimal(win_rate, "win rate")
    if not _ZERO <= p <= _ONE:
        raise InvalidValueError(f"win rate must be in [0, 1], got {p}")
    b = to_decimal(win_loss_ratio, "win/loss ratio")
    if b <= 0:
        raise InvalidValueError(f"win/loss ratio must be positive, got {b}")
    limit = to_decimal(cap, "Kelly cap")
    if not _ZERO <= limit <= _ONE:
        raise InvalidValueError(f"Kelly cap must be in [0, 1], got {limit}")
    f = Fraction(p) - (1 - Fraction(p)) / Fraction(b)
    if f <= 0:
        return _ZERO
    if f >= Fraction(limit):
        return limit
    return quotient(Decimal(f.numerator), Decimal(f.denominator))
