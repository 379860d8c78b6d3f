"""Causality of what a strategy reads: series offsets, `.prev`, and higher timeframes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from atb.data.loader import bars_from_arrays
from atb.engine.backtest import StrategyError
from atb.errors import UserInputError
from atb.strategy.base import Strategy
from atb.strategy.series import LookAheadError

from .helpers import H, flat_bars, make_bars, run

DAY = 24 * H
MIDNIGHT = 19_675 * DAY  # 2023-11-13 00:00 UTC


class Recorder(Strategy):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[float, float, float, float, float, int]] = []
        self.lookahead: list[str] = []

    def on_bar(self) -> None:
        c = self.data.close
        self.rows.append((c.now, c[0], c[-1], c.prev, c[-3], len(c)))
        try:
            c[1]
        except LookAheadError as exc:
            self.lookahead.append(str(exc))


def test_offsets_read_the_past_and_nan_before_the_first_bar() -> None:
    closes = [10.0, 11.0, 12.0, 13.0, 14.0]
    s = Recorder()
    run(s, make_bars([(c, c, c, c) for c in closes]))
    nan = math.nan
    expected = [
        (10.0, 10.0, nan, nan, nan, 1),
        (11.0, 11.0, 10.0, 10.0, nan, 2),
        (12.0, 12.0, 11.0, 11.0, nan, 3),
        (13.0, 13.0, 12.0, 12.0, 10.0, 4),
        (14.0, 14.0, 13.0, 13.0, 11.0, 5),
    ]
    assert len(s.rows) == len(expected)
    for got, want in zip(s.rows, expected, strict=True):
        np.testing.assert_array_equal(np.array(got), np.array(want))
    assert len(s.lookahead) == 5
    assert "looks 1 bar(s) into the future" in s.lookahead[0]


def test_window_and_history_end_at_the_current_bar_and_are_read_only() -> None:
    got: list[list[float]] = []

    class Win(Strategy):
        def on_bar(self) -> None:
            w = self.data.close.window(3)
            got.append(w.tolist())
            with pytest.raises(ValueError):
                w[0] = 0.0
            assert self.data.close.history().tolist() == [10.0, 11.0, 12.0, 13.0][: len(self.data.close)]

    run(Win(), make_bars([(c, c, c, c) for c in (10.0, 11.0, 12.0, 13.0)]))
    assert got == [[10.0], [10.0, 11.0], [10.0, 11.0, 12.0], [11.0, 12.0, 13.0]]


def test_uncaught_lookahead_stops_the_run_as_a_strategy_error() -> None:
    class Peek(Strategy):
        def on_bar(self) -> None:
            self.data.close[1]

    with pytest.raises(StrategyError, match="LookAheadError") as info:
        run(Peek(), flat_bars(3))
    assert isinstance(info.value.__cause__, LookAheadError)


class Daily(Strategy):
    """Records what the 1d view of hourly data shows at each hourly bar."""

    def __init__(self, timeframe: str = "1d") -> None:
        super().__init__()
        self.tf = timeframe
        self.seen: list[tuple[float, float, float, int]] = []

    def on_start(self) -> None:
        self.htf = self.timeframe(self.tf)
        self.doubled = self.I(lambda x: 2.0 * x, self.htf.close, name="doubled")

    def on_bar(self) -> None:
        c = self.htf.close
        self.seen.append((c.now, c.prev, self.htf.high.now, len(c)))
        assert (math.isnan(c.now) and math.isnan(self.doubled.now)) or self.doubled.now == 2.0 * c.now
        with pytest.raises(LookAheadError):
            c[1]


def hourly(n: int, start: int) -> tuple[object, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    close = np.round(100.0 + np.cumsum(rng.normal(0.0, 0.5, n)), 2)
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + 0.25
    low = np.minimum(open_, close) - 0.25
    ts = start + np.arange(n, dtype=np.int64) * H
    bars = bars_from_arrays(ts, open_, high, low, close, np.ones(n), symbol="X/USD")
    return bars, close, high


def test_daily_bar_becomes_visible_only_after_its_last_hour_closed() -> None:
    bars, close, high = hourly(72, MIDNIGHT)
    s = Daily()
    run(s, bars)
    first_visible = next(i for i, row in enumerate(s.seen) if not math.isnan(row[0]))
    assert first_visible == 23  # the hour 23:00-24:00 closes the first day
    assert all(math.isnan(row[0]) for row in s.seen[:23])
    for i in range(23, 47):  # inside day 2 only day 1 is known
        assert s.seen[i][0] == close[23]
        assert s.seen[i][2] == high[:24].max()
        assert math.isnan(s.seen[i][1])
        assert s.seen[i][3] == 1
    for i in range(47, 71):
        assert s.seen[i][:3] == (close[47], close[23], high[24:48].max())
        assert s.seen[i][3] == 2
    assert s.seen[71][:2] == (close[71], close[47])


def test_first_daily_bar_of_data_starting_mid_day_shows_at_that_days_last_hour() -> None:
    bars, close, _ = hourly(40, MIDNIGHT + 5 * H)  # starts 05:00: the first day has 19 hours
    s = Daily()
    run(s, bars)
    first_visible = next(i for i, row in enumerate(s.seen) if not math.isnan(row[0]))
    assert first_visible == 18
    assert s.seen[18][0] == close[18]


@pytest.mark.parametrize(("timeframe", "first"), [("2h", 1), ("4h", 3), ("12h", 11)])
def test_intraday_higher_timeframes(timeframe: str, first: int) -> None:
    bars, close, _ = hourly(30, MIDNIGHT)
    s = Daily(timeframe)
    run(s, bars)
    first_visible = next(i for i, row in enumerate(s.seen) if not math.isnan(row[0]))
    assert first_visible == first
    assert s.seen[first][0] == close[first]


def test_a_timeframe_not_higher_than_the_data_is_refused() -> None:
    class Same(Strategy):
        def on_start(self) -> None:
            self.timeframe("1h")

    with pytest.raises(UserInputError, match="not higher"):
        run(Same(), flat_bars(3))
