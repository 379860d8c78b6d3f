"""Position and portfolio metrics: hand-computed ledger numbers, formulas worked by hand in Fractions, and the
risk/liquidity numbers cross-checked against the analytics functions they are defined by."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest

from atb.analytics.liquidity import average_daily_volume, estimate_order_cost
from atb.analytics.positions import (
    PortfolioMetrics,
    PositionMetrics,
    liquidation_price,
    liquidity_score,
    portfolio_metrics,
    position_metrics,
)
from atb.analytics.risk import var_cvar
from atb.data.bars import Bars
from atb.data.loader import bars_from_arrays
from atb.data.sample import load_sample
from atb.domain import Account, AccountMode, Currency, Instrument, Money, Position
from atb.errors import UserInputError

USDT = Currency("USDT", 8)
BTC = Instrument.spot("BTC/USDT", tick="0.01", lot="0.001")
ETH = Instrument.spot("ETH/USDT", tick="0.01", lot="0.01")
SOL = Instrument.spot("SOL/USDT", tick="0.001", lot="0.1")
H = 3_600 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
OPENED = T0 + 2 * H + H // 2  # the BTC long opens half-way through bar 2
NOW = T0 + 5 * H + H // 6  # 10 minutes into bar 5; bar 6 is in the future


def dec(text: str) -> Decimal:
    return Decimal(text)


def ticks(inst: Instrument, price: str) -> int:
    return int(dec(price) / inst.tick)


def lots(inst: Instrument, qty: str) -> int:
    return int(dec(qty) / inst.lot)


def units(amount: str) -> int:
    return int(dec(amount) * 10**8)


def trade(account: Account, inst: Instrument, qty: str, price: str, fee: str, ts: int) -> None:
    """Book a fill: `qty` signed (negative sells)."""
    account.book(inst, lots(inst, qty), ticks(inst, price), units(fee), ts)


def book_btc_long(account: Account) -> Position:
    """Buy 0.5 @ 40000 and 0.5 @ 42000 (avg 41000), sell 0.25 @ 43000: realised 500, fees 20 + 21 + 10.75."""
    trade(account, BTC, "0.5", "40000", "20", OPENED)
    trade(account, BTC, "0.5", "42000", "21", T0 + 3 * H)
    trade(account, BTC, "-0.25", "43000", "10.75", T0 + 4 * H)
    return account.positions[BTC.id]


def book_eth_short(account: Account) -> Position:
    """Sell 2 @ 2000, buy back 0.5 @ 1800: short 1.5 at 2000, realised 0.5 x 200 = 100, fees 4 + 0.9."""
    trade(account, ETH, "-2", "2000", "4", T0)
    trade(account, ETH, "0.5", "1800", "0.9", T0 + H)
    return account.positions[ETH.id]


def spot_account() -> Account:
    return Account(USDT, Money.of(100_000, USDT))


def margin_account() -> Account:
    return Account(USDT, Money.of(100_000, USDT), mode=AccountMode.MARGIN, leverage=dec("5"))


Row = tuple[float, float, float, float]


def hourly(symbol: str, rows: list[Row], ts: list[int] | None = None) -> Bars:
    o, h, lo, c = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    t = np.array(ts if ts is not None else [T0 + k * H for k in range(len(rows))], dtype=np.int64)
    return bars_from_arrays(t, o, h, lo, c, np.full(len(rows), 10.0), symbol=symbol, timeframe_ns=H)


BTC_ROWS: list[Row] = [
    (39000, 45000, 35000, 39500),  # closes before the position opened: its extremes must not count
    (39500, 44000, 36000, 40000),  # ditto (ends at T0 + 2h, the position opened at T0 + 2.5h)
    (40000, 40600, 39200, 40500),  # the entry bar counts whole: lowest low 39200
    (40500, 42800, 40100, 42500),
    (42500, 43100, 41800, 43000),  # highest high 43100
    (43000, 43050, 40900, 41500),  # open at NOW: visible
    (41500, 50000, 30000, 41000),  # opens after NOW: never read
]
ETH_ROWS: list[Row] = [
    (2000, 2010, 1990, 2005),
    (2005, 2020, 1780, 1810),
    (1810, 1850, 1800, 1840),
    (1840, 2050, 1830, 2000),
    (2000, 2070, 1950, 1960),
    (1960, 1970, 1890, 1900),
    (1900, 2500, 1500, 1900),
]
SOL_ROWS: list[Row] = [
    (100, 101, 99, 100),
    (100, 104, 99, 103),
    (103, 106, 102, 105),
    (105, 106, 100, 101),
    (101, 112, 100, 111),
    (111, 111, 108, 110),
    (110, 120, 90, 100),
]


def closes(rows: list[Row], upto: int = 6) -> npt.NDArray[np.float64]:
    return np.array([r[3] for r in rows[:upto]], dtype=np.float64)


def simple_returns(c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = c[1:] / c[:-1] - 1.0
    return out


# --------------------------------------------------------------------------- one position


def test_long_ledger_numbers_by_hand() -> None:
    pos = book_btc_long(spot_account())
    m = position_metrics(pos, dec("41500.5"), now_ns=NOW)
    assert (m.symbol, m.currency, m.side) == ("BTC/USDT", "USDT", "long")
    assert m.quantity == dec("0.75")
    assert m.avg_entry_price == dec("41000")
    assert m.mark_price == dec("41500.5")
    assert m.notional == dec("31125.375")  # 0.75 x 41500.5
    assert m.unrealised_pnl == dec("375.375")  # 31125.375 - 0.75 x 41000
    assert m.unrealised_pnl_pct == float(Fraction("375.375") / Fraction(30750) * 100)
    assert m.realised_pnl == dec("500")  # 0.25 x (43000 - 41000), gross of fees
    assert m.fees_paid == dec("51.75")
    assert m.holding_time_s == 9_600.0  # 2h40m: from T0 + 2h30m to T0 + 5h10m
    # ledger money is written to the quote currency's 8 decimals
    assert str(m.unrealised_pnl) == "375.37500000"
    assert str(m.realised_pnl) == "500.00000000"
    for name in ("mae_pct", "mfe_pct", "leverage", "distance_to_stop_pct", "liquidation_price"):
        assert getattr(m, name) is None, name
    for name in ("var_95_pct", "cvar_95_pct", "var_95", "liquidity_score", "exit_cost_estimate"):
        assert getattr(m, name) is None, name


def test_short_ledger_numbers_by_hand() -> None:
    pos = book_eth_short(margin_account())
    m = position_metrics(pos, dec("1900"), now_ns=T0 + 2 * H)
    assert m.side == "short"
    assert (m.quantity, m.avg_entry_price, m.notional) == (dec("1.5"), dec("2000"), dec("2850"))
    assert m.unrealised_pnl == dec("150")  # 1.5 x (2000 - 1900)
    assert m.unrealised_pnl_pct == 5.0  # of the 3000 entry cost
    assert m.realised_pnl == dec("100")
    assert m.fees_paid == dec("4.9")
    assert m.holding_time_s == 7_200.0
    # a loss on a short
    assert position_metrics(pos, dec("2100.10"), now_ns=T0 + 2 * H).unrealised_pnl == dec("-150.15")


def test_mark_off_the_tick_grid_is_kept_exact() -> None:
    pos = book_btc_long(spot_account())
    m = position_metrics(pos, dec("41500.123456789"), now_ns=NOW)
    assert m.unrealised_pnl == dec("0.75") * dec("41500.123456789") - dec("30750")
    assert str(m.unrealised_pnl) == "375.092592591750"  # finer than the 8 quote decimals: every digit kept


def test_mae_mfe_long_use_only_bars_of_the_holding_period() -> None:
    pos = book_btc_long(spot_account())
    m = position_metrics(pos, dec("41500.5"), now_ns=NOW, bars=hourly("BTC/USDT", BTC_ROWS))
    assert m.mfe_pct == (43100.0 / 41000.0 - 1.0) * 100.0
    assert m.mae_pct == (39200.0 / 41000.0 - 1.0) * 100.0
    # a mark beyond every bar is an excursion too
    m = position_metrics(pos, dec("38000"), now_ns=NOW, bars=hourly("BTC/USDT", BTC_ROWS))
    assert m.mae_pct == (38000.0 / 41000.0 - 1.0) * 100.0


def test_mae_mfe_short_are_mirrored() -> None:
    pos = book_eth_short(margin_account())  # opened at T0: every bar before NOW counts
    m = position_metrics(pos, dec("1900"), now_ns=NOW, bars=hourly("ETH/USDT", ETH_ROWS))
    assert m.mfe_pct == -(1780.0 / 2000.0 - 1.0) * 100.0  # price fell to 1780: +11 %
    assert m.mae_pct == -(2070.0 / 2000.0 - 1.0) * 100.0  # rose to 2070: -3.5 %
    assert m.mfe_pct == pytest.approx(11.0) and m.mae_pct == pytest.approx(-3.5)


def test_stop_distance_both_sides() -> None:
    long = book_btc_long(spot_account())
    m = position_metrics(long, dec("41500.5"), now_ns=NOW, stop_price=dec("40000"))
    assert m.distance_to_stop_pct == float(Fraction("1500.5") / Fraction("41500.5") * 100)
    short = book_eth_short(margin_account())
    assert position_metrics(short, dec("1900"), now_ns=NOW, stop_price=dec("2090")).distance_to_stop_pct == 10.0
    # a stop already crossed reads negative
    crossed = position_metrics(short, dec("1900"), now_ns=NOW, stop_price=dec("1881")).distance_to_stop_pct
    assert crossed == -1.0


def _hand_liquidation(entry: Fraction, sign: int, lev: Fraction, mm: Fraction) -> Fraction:
    """Solve margin + PnL = maintenance for P: E/L + sign (P - E) = m P."""
    return (entry / lev - sign * entry) / (mm - sign)


@pytest.mark.parametrize(
    ("mm", "long_liq", "short_liq"),
    [("0", "32800", "2400"), ("0.005", "32964.83", "2388.05")],
)
def test_liquidation_price_5x_long_and_short(mm: str, long_liq: str, short_liq: str) -> None:
    long = book_btc_long(spot_account())
    m = position_metrics(long, dec("41500.5"), now_ns=NOW, leverage=dec("5"), maintenance_margin=dec(mm))
    assert m.liquidation_price == dec(long_liq)
    hand = _hand_liquidation(Fraction(41000), 1, Fraction(5), Fraction(mm))
    assert Fraction(long_liq) == Fraction(math.ceil(hand * 100), 100)  # rounded up: warns early
    assert m.distance_to_liquidation_pct == float(
        (Fraction("41500.5") - Fraction(long_liq)) / Fraction("41500.5") * 100
    )

    short = book_eth_short(margin_account())
    m = position_metrics(short, dec("1900"), now_ns=NOW, leverage=dec("5"), maintenance_margin=dec(mm))
    assert m.liquidation_price == dec(short_liq)
    hand = _hand_liquidation(Fraction(2000), -1, Fraction(5), Fraction(mm))
    assert Fraction(short_liq) == Fraction(math.floor(hand * 100), 100)  # rounded down: warns early
    assert m.distance_to_liquidation_pct == float((Fraction(short_liq) - 1900) / 1900 * 100)


def test_liquidation_formula_is_exact_before_rounding() -> None:
    for sign, entry in ((1, "41000"), (-1, "2000")):
        got = liquidation_price(dec(entry), sign, dec("5"), dec("0.005"))
        hand = _hand_liquidation(Fraction(entry), sign, Fraction(5), Fraction("0.005"))
        assert abs(Fraction(got) - hand) < Fraction(1, 10**50)
        # at that price the position's margin plus PnL is exactly the maintenance margin
        e, p = Fraction(entry), hand
        assert e / 5 + sign * (p - e) == Fraction("0.005") * p


def test_unlevered_has_no_liquidation_and_effective_leverage_needs_equity() -> None:
    pos = book_btc_long(spot_account())
    m = position_metrics(pos, dec("41500.5"), now_ns=NOW, equity=dec("20000"))
    assert (m.liquidation_price, m.distance_to_liquidation_pct) == (None, None)
    assert m.leverage == float(Fraction("31125.375") / 20000)  # 1.55626875
    assert position_metrics(pos, dec("41500.5"), now_ns=NOW, equity=dec("-5")).leverage is None


def test_var_matches_var_cvar_on_the_same_closes() -> None:
    long = book_btc_long(spot_account())
    m = position_metrics(long, dec("41500.5"), now_ns=NOW, bars=hourly("BTC/USDT", BTC_ROWS))
    ref = var_cvar(simple_returns(closes(BTC_ROWS)), 0.95, "historical")  # bar 6 is after NOW
    assert ref.var_pct is not None
    assert (m.var_95_pct, m.cvar_95_pct) == (ref.var_pct, ref.cvar_pct)
    assert m.var_95 == ref.var_pct / 100.0 * 31125.375
    short = book_eth_short(margin_account())
    m = position_metrics(short, dec("1900"), now_ns=NOW, bars=hourly("ETH/USDT", ETH_ROWS))
    ref = var_cvar(-simple_returns(closes(ETH_ROWS)), 0.95, "historical")  # a short loses when price rises
    assert (m.var_95_pct, m.cvar_95_pct) == (ref.var_pct, ref.cvar_pct)
    # short bars: under a day of data has no ADV, no daily sigma
    assert (m.liquidity_score, m.exit_cost_estimate) == (None, None)


def test_liquidity_score_mapping() -> None:
    assert liquidity_score(1.0, 10_000.0) == 100.0  # 0.01 % of ADV
    assert liquidity_score(1.0, 1_000.0) == 75.0
    assert liquidity_score(1.0, 100.0) == 50.0
    assert liquidity_score(1.0, 10.0) == 25.0
    assert liquidity_score(1.0, 1.0) == 0.0
    assert liquidity_score(5.0, 1.0) == 0.0
    assert liquidity_score(1.0, 1e9) == 100.0
    assert liquidity_score(1.0, 0.0) == 0.0


def test_realistic_run_on_the_bundled_sample() -> None:
    bars = load_sample("BTC_USDT_2h").bars
    account = spot_account()
    k = len(bars) - 120  # held 10 days
    account.book(BTC, 1_500, round(float(bars.open[k]) * 100), units("5"), int(bars.ts[k]))
    mark = Decimal(repr(float(bars.close[-1])))
    now = int(bars.ts[-1]) + bars.timeframe_ns
    m = position_metrics(
        account.positions[BTC.id],
        mark,
        now_ns=now,
        bars=bars,
        stop_price=dec("100000"),
        leverage=dec("3"),
        equity=dec("100000"),
    )
    notional = dec("1.5") * mark
    assert m.notional == notional
    assert m.holding_time_s == 120 * 7_200
    est = estimate_order_cost(bars, 1.5, "sell")
    assert m.exit_cost_estimate == est.total_fraction * float(notional)
    assert m.exit_cost_estimate is not None and 0 < m.exit_cost_estimate < 0.01 * float(notional)
    adv = average_daily_volume(bars)
    assert adv is not None
    assert m.liquidity_score == liquidity_score(float(notional), adv)
    ref = var_cvar(simple_returns(bars.close), 0.95, "historical")
    assert (m.var_95_pct, m.cvar_95_pct) == (ref.var_pct, ref.cvar_pct)
    held = bars.slice(k, len(bars))
    entry = float(m.avg_entry_price or 0)
    assert m.mfe_pct == (max(float(held.high.max()), float(mark)) / entry - 1.0) * 100.0
    assert m.mae_pct == (min(float(held.low.min()), float(mark)) / entry - 1.0) * 100.0
    assert m.liquidation_price is not None and m.liquidation_price < m.avg_entry_price  # type: ignore[operator]
    assert all(v is not None for v in m.as_dict().values())
    _assert_json_round_trip(m.as_dict())


def test_flat_position_keeps_history_and_nothing_else() -> None:
    account = spot_account()
    trade(account, BTC, "1", "40000", "40", T0)
    trade(account, BTC, "-1", "40500", "40.5", T0 + H)
    pos = account.positions[BTC.id]
    m = position_metrics(
        pos,
        dec("41000"),
        now_ns=NOW,
        bars=hourly("BTC/USDT", BTC_ROWS),
        stop_price=dec("1"),
        leverage=dec("5"),
        equity=dec("1"),
    )
    assert (m.side, m.quantity, m.notional, m.unrealised_pnl) == ("flat", dec("0"), dec("0"), dec("0"))
    assert (m.realised_pnl, m.fees_paid, m.avg_entry_price) == (dec("500"), dec("80.5"), None)
    skip = {
        "symbol",
        "currency",
        "side",
        "quantity",
        "notional",
        "mark_price",
        "unrealised_pnl",
        "realised_pnl",
        "fees_paid",
    }
    assert all(v is None for k, v in m.as_dict().items() if k not in skip)


def test_bad_inputs_are_refused() -> None:
    pos = book_btc_long(spot_account())
    with pytest.raises(UserInputError, match="leverage"):
        position_metrics(pos, dec("41000"), now_ns=NOW, leverage=dec("0.5"))
    with pytest.raises(UserInputError, match="maintenance"):
        position_metrics(pos, dec("41000"), now_ns=NOW, maintenance_margin=dec("1"))
    with pytest.raises(UserInputError, match="mark"):
        position_metrics(pos, dec("0"), now_ns=NOW)
    with pytest.raises(UserInputError, match="stop"):
        position_metrics(pos, dec("41000"), now_ns=NOW, stop_price=dec("-1"))
    with pytest.raises(UserInputError, match="before the position opened"):
        position_metrics(pos, dec("41000"), now_ns=OPENED - 1)
    with pytest.raises(TypeError):
        position_metrics(pos, 41000.0, now_ns=NOW)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- portfolio


def three_positions() -> Account:
    account = margin_account()
    book_btc_long(account)
    book_eth_short(account)
    trade(account, SOL, "100", "100", "10", T0)
    return account


MARKS = {"BTC/USDT": dec("41500.5"), "ETH/USDT": dec("1900"), "SOL/USDT": dec("110")}


def test_portfolio_exposure_and_concentration_by_hand() -> None:
    p = portfolio_metrics(three_positions(), MARKS, now_ns=NOW)
    # cash: 100000 - 20020 - 21021 + 10739.25 (BTC) + 3996 - 900.9 (ETH) - 10010 (SOL)
    assert p.cash == dec("62783.35")
    values = {"BTC/USDT": Fraction("31125.375"), "ETH/USDT": Fraction(-2850), "SOL/USDT": Fraction(11000)}
    gross, net = sum(abs(v) for v in values.values()), sum(values.values())
    assert (p.gross_exposure, p.net_exposure) == (dec("44975.375"), dec("39275.375"))
    assert Fraction(p.gross_exposure) == gross and Fraction(p.net_exposure) == net
    # equity two ways: cash + holdings, and initial + realised + unrealised - fees
    assert p.equity == dec("102058.725") == dec("100000") + dec("600") + dec("1525.375") - dec("66.65")
    equity = Fraction("102058.725")
    assert p.gross_exposure_pct == float(gross / equity * 100)
    assert p.net_exposure_pct == float(net / equity * 100)
    assert p.largest_position == "BTC/USDT"
    assert p.largest_position_pct == float(values["BTC/USDT"] / gross * 100)
    assert p.herfindahl == float(sum((v / gross) ** 2 for v in values.values()))
    assert [m.symbol for m in p.positions] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert p.positions[0].leverage == float(Fraction("31125.375") / equity)
    assert p.positions[0].liquidation_price is None  # cross margin: no isolated liquidation price
    assert (p.var_95_pct, p.cvar_95_pct, p.drawdown_pct) == (None, None, None)


def test_portfolio_var_from_aligned_bars() -> None:
    account = three_positions()
    bars = {
        "BTC/USDT": hourly("BTC/USDT", BTC_ROWS),
        "ETH/USDT": hourly("ETH/USDT", ETH_ROWS),
        "SOL/USDT": hourly("SOL/USDT", SOL_ROWS),
    }
    p = portfolio_metrics(account, MARKS, now_ns=NOW, bars=bars)
    R = np.column_stack([simple_returns(closes(rows)) for rows in (BTC_ROWS, ETH_ROWS, SOL_ROWS)])
    w = np.array([31125.375, -2850.0, 11000.0]) / 102058.725
    ref = var_cvar(R @ w, 0.95, "historical")
    assert p.var_95_pct == pytest.approx(ref.var_pct, rel=1e-12)
    assert p.cvar_95_pct == pytest.approx(ref.cvar_pct, rel=1e-12)

    # a missing ETH bar: the series align on common times and the return across the gap is dropped
    kept = [0, 1, 2, 4, 5, 6]
    gappy = dict(bars, **{"ETH/USDT": hourly("ETH/USDT", [ETH_ROWS[k] for k in kept], [T0 + k * H for k in kept])})
    p = portfolio_metrics(account, MARKS, now_ns=NOW, bars=gappy)
    C = np.column_stack([closes(rows) for rows in (BTC_ROWS, ETH_ROWS, SOL_ROWS)])
    R = np.vstack([C[k + 1] / C[k] - 1.0 for k in (0, 1, 4)])
    ref = var_cvar(R @ w, 0.95, "historical")
    assert p.var_95_pct == pytest.approx(ref.var_pct, rel=1e-12)


def test_portfolio_var_absent_without_complete_aligned_bars() -> None:
    account = three_positions()
    btc, eth = hourly("BTC/USDT", BTC_ROWS), hourly("ETH/USDT", ETH_ROWS)
    p = portfolio_metrics(account, MARKS, now_ns=NOW, bars={"BTC/USDT": btc, "ETH/USDT": eth})
    assert (p.var_95_pct, p.cvar_95_pct) == (None, None)  # no SOL bars
    assert p.positions[0].var_95_pct is not None  # per-position risk still there
    two_hourly = bars_from_arrays(
        T0 + np.arange(7, dtype=np.int64) * 2 * H, *(closes(SOL_ROWS, 7),) * 4, symbol="SOL/USDT", timeframe_ns=2 * H
    )
    p = portfolio_metrics(account, MARKS, now_ns=NOW, bars={"BTC/USDT": btc, "ETH/USDT": eth, "SOL/USDT": two_hourly})
    assert p.var_95_pct is None  # timeframes differ


def test_empty_portfolio_and_missing_mark() -> None:
    account = spot_account()
    p = portfolio_metrics(account, {}, now_ns=NOW, equity_curve=[dec("100000")])
    assert (p.equity, p.cash, p.gross_exposure, p.net_exposure) == (dec("100000"), dec("100000"), dec("0"), dec("0"))
    assert (p.gross_exposure_pct, p.net_exposure_pct) == (0.0, 0.0)
    assert (p.largest_position, p.largest_position_pct, p.herfindahl) == (None, None, None)
    assert (p.var_95_pct, p.cvar_95_pct, p.drawdown_pct, p.positions) == (0.0, 0.0, 0.0, [])
    with pytest.raises(UserInputError, match="SOL/USDT"):
        portfolio_metrics(three_positions(), {"BTC/USDT": dec("1"), "ETH/USDT": dec("1")}, now_ns=NOW)


def test_closed_positions_are_not_listed() -> None:
    account = spot_account()
    trade(account, ETH, "1", "2000", "2", T0)
    trade(account, ETH, "-1", "2100", "2.1", T0 + H)
    book_btc_long(account)
    p = portfolio_metrics(account, {"BTC/USDT": dec("41500.5")}, now_ns=NOW)
    assert [m.symbol for m in p.positions] == ["BTC/USDT"]
    assert (p.herfindahl, p.largest_position_pct) == (1.0, 100.0)


def test_drawdown_from_equity_curve() -> None:
    account = spot_account()
    curve = [dec("100"), dec("120"), dec("90"), dec("110")]
    p = portfolio_metrics(account, {}, now_ns=NOW, equity_curve=curve)
    assert p.drawdown_pct == (110.0 / 120.0 - 1.0) * 100.0
    assert portfolio_metrics(account, {}, now_ns=NOW, equity_curve=[*curve, dec("125")]).drawdown_pct == 0.0
    with pytest.raises(UserInputError):
        portfolio_metrics(account, {}, now_ns=NOW, equity_curve=[dec("0"), dec("1")])


# --------------------------------------------------------------------------- JSON


def _assert_json_round_trip(d: dict[str, Any]) -> None:
    back = orjson.loads(orjson.dumps(d))
    assert back == d
    for value in d.values():
        assert value is None or isinstance(value, (str, int, float, list))
        assert not isinstance(value, float) or math.isfinite(value)


def test_json_round_trip() -> None:
    account = three_positions()
    bars = {"BTC/USDT": hourly("BTC/USDT", BTC_ROWS)}
    p = portfolio_metrics(account, MARKS, now_ns=NOW, bars=bars, equity_curve=[dec("100000"), dec("102058.725")])
    assert isinstance(p, PortfolioMetrics) and all(isinstance(m, PositionMetrics) for m in p.positions)
    d = p.as_dict()
    _assert_json_round_trip(d)
    for row in d["positions"]:
        _assert_json_round_trip(row)
    assert dec(d["equity"]) == dec("102058.725") and d["equity"] == "102058.72500000"
    btc = d["positions"][0]
    assert dec(btc["unrealised_pnl"]) == dec("375.375")
    assert btc["var_95_pct"] == p.positions[0].var_95_pct
    assert list(btc) == [f for f in PositionMetrics.__dataclass_fields__]
    # Decimals never come out in exponent form
    m = position_metrics(Position(BTC), dec("1E+5"), now_ns=NOW)
    assert m.as_dict()["mark_price"] == "100000" and m.as_dict()["notional"] == "0.00000000"
