"""Per-trade statistics of a backtest (win rate, profit factor, SQN ...).

The engine keeps an exact Decimal ledger; statistics are float64 math on a
columnar copy of the closed trades (`TradeArrays`), so 30,000 trades cost a
few vectorised numpy passes instead of a Python loop.

Undefined values follow the rule of `atb.analytics.performance`: a statistic
that is undefined (no trades, a zero denominator, too few samples) is `None`,
never NaN or inf. The one exception, shared with the Sharpe ratio, is that a
ratio of a mean to a dispersion (SQN) is 0.0 when the sample has no dispersion
at all: identical outcomes carry no signal to scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from atb.analytics.reductions import dot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NS_PER_DAY = 86_400 * 1_000_000_000

#: Keys `trade_stats` returns, in report order.
TRADE_STAT_KEYS: tuple[str, ...] = (
    "trades",
    "win_rate_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_pct",
    "max_trade_duration_days",
    "avg_trade_duration_days",
    "profit_factor",
    "expectancy_pct",
    "sqn",
)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One closed trade, already converted from the exact ledger to float.

    `pnl` and `fees` are in quote currency, `pnl` net of fees; `return_pct` is
    the net return in % of the entry notional; times are UTC epoch ns.
    """

    pnl: float
    return_pct: float
    entry_ts: int
    exit_ts: int
    fees: float


@dataclass(frozen=True, slots=True)
class TradeArrays:
    """Closed trades as parallel numpy columns (one row per trade).

    Columnar because statistics over tens of thousands of trades must be
    vectorised. Inputs are coerced to float64/int64 once here so every
    statistic can trust the dtypes.
    """

    pnl: FloatArray
    return_pct: FloatArray
    entry_ts: IntArray
    exit_ts: IntArray
    fees: FloatArray

    def __post_init__(self) -> None:
        for name in ("pnl", "return_pct", "fees"):
            object.__setattr__(self, name, as_vector(getattr(self, name), np.float64, name))
        for name in ("entry_ts", "exit_ts"):
            object.__setattr__(self, name, as_vector(getattr(self, name), np.int64, name))
        n = len(self.pnl)
        for name in ("return_pct", "entry_ts", "exit_ts", "fees"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"trade column {name!r} has {len(getattr(self, name))} rows, pnl has {n}")
        for name in ("pnl", "return_pct", "fees"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"trade column {name!r} contains NaN or inf")
        if (self.exit_ts < self.entry_ts).any():
            raise ValueError("a trade exits before it enters (exit_ts < entry_ts)")

    def __len__(self) -> int:
        return len(self.pnl)

    @classmethod
    def empty(cls) -> TradeArrays:
        """No trades: the strategy never closed a position."""
        f = np.empty(0, dtype=np.float64)
        i = np.empty(0, dtype=np.int64)
        return cls(pnl=f, return_pct=f, entry_ts=i, exit_ts=i, fees=f)

    @classmethod
    def from_records(cls, records: Iterable[TradeRecord]) -> TradeArrays:
        """Columnar copy of trade records (convenient for small tests and reports)."""
        rows = list(records)
        return cls(
            pnl=np.array([r.pnl for r in rows], dtype=np.float64),
            return_pct=np.array([r.return_pct for r in rows], dtype=np.float64),
            entry_ts=np.array([r.entry_ts for r in rows], dtype=np.int64),
            exit_ts=np.array([r.exit_ts for r in rows], dtype=np.int64),
            fees=np.array([r.fees for r in rows], dtype=np.float64),
        )


def as_vector(values: object, dtype: type[np.generic], name: str) -> npt.NDArray[np.generic]:
    """1-D numpy copy-or-view of `values` with the given dtype (inputs may be lists in tests)."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name!r} must be one-dimensional, got shape {arr.shape}")
    return arr


def profit_factor(pnl: FloatArray) -> float | None:
    """Gross profit / |gross loss|.

    None when there is no losing trade (gross loss 0): the ratio is unbounded,
    and reporting a large sentinel would rank a 1-trade lucky run above a
    robust system. Trades with pnl exactly 0 count on neither side.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        gross_profit = float(pnl[pnl > 0].sum())
        gross_loss = float(-pnl[pnl < 0].sum())
    if gross_loss == 0.0:
        return None
    value = gross_profit / gross_loss
    return value if math.isfinite(value) else None


def sqn(pnl: FloatArray) -> float | None:
    """Van Tharp's System Quality Number: sqrt(N) * mean(pnl) / std(pnl, ddof=1).

    None with fewer than 2 trades (sample std undefined); 0.0 when every trade
    has the same pnl (no dispersion, see the module docstring).
    """
    n = len(pnl)
    if n < 2:
        return None
    if pnl.max() == pnl.min():
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(pnl.mean())
        dev = pnl - mean
        std = math.sqrt(dot(dev, dev) / (n - 1))
    if std == 0.0:  # distinct values whose spread underflows when squared
        return 0.0
    value = math.sqrt(n) * mean / std
    return value if math.isfinite(value) else None


def geometric_mean_return_pct(return_pct: FloatArray) -> float | None:
    """Per-trade growth rate that compounds to the same result: (prod(1 + r))^(1/N) - 1, in %.

    This is what `avg_trade_pct` reports (like backtesting.py's "Avg. Trade"):
    unlike the arithmetic mean (`expectancy_pct`) it is not flattered by
    volatility. A trade losing 100 % or more wipes the compounded product, so
    the result is -100. None without trades.
    """
    if len(return_pct) == 0:
        return None
    growth = return_pct / 100.0
    if growth.min() <= -1.0:
        return -100.0
    return math.expm1(float(np.log1p(growth).mean())) * 100.0


def trade_stats(trades: TradeArrays) -> dict[str, float | int | None]:
    """The trade section of the backtest report, keys in `TRADE_STAT_KEYS` order.

    - `win_rate_pct` = 100 * (# trades with pnl > 0) / N (break-even trades are not wins).
    - `best_trade_pct` / `worst_trade_pct` = max / min of `return_pct`.
    - `avg_trade_pct` = geometric mean of `return_pct` (`geometric_mean_return_pct`).
    - `max_trade_duration_days` / `avg_trade_duration_days` = max / mean of
      (exit_ts - entry_ts) in days.
    - `profit_factor` = gross profit / |gross loss| (`profit_factor`).
    - `expectancy_pct` = arithmetic mean of `return_pct`.
    - `sqn` = sqrt(N) * mean(pnl) / std(pnl, ddof=1) (`sqn`).

    With no trades `trades` is 0 and every other value is None.
    """
    n = len(trades)
    if n == 0:
        out: dict[str, float | int | None] = dict.fromkeys(TRADE_STAT_KEYS)
        out["trades"] = 0
        return out
    pnl = trades.pnl
    ret = trades.return_pct
    with np.errstate(over="ignore", invalid="ignore"):  # absurd magnitudes -> inf -> None below
        durations_days = (trades.exit_ts - trades.entry_ts) / NS_PER_DAY
        out = {
            "trades": n,
            "win_rate_pct": np.count_nonzero(pnl > 0) / n * 100.0,
            "best_trade_pct": float(ret.max()),
            "worst_trade_pct": float(ret.min()),
            "avg_trade_pct": geometric_mean_return_pct(ret),
            "max_trade_duration_days": float(durations_days.max()),
            "avg_trade_duration_days": float(durations_days.mean()),
            "profit_factor": profit_factor(pnl),
            "expectancy_pct": float(ret.mean()),
            "sqn": sqn(pnl),
        }
    return {k: v if v is None or math.isfinite(v) else None for k, v in out.items()}
