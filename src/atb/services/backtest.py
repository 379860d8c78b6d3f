"""Run a backtest from plain request values (what the CLI and the API receive)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from atb.data.bars import Bars
from atb.data.loader import DataReport, load_ohlcv
from atb.domain import AccountMode
from atb.domain.errors import DomainError
from atb.engine.backtest import Backtest
from atb.engine.execution import ExecutionConfig, FillTiming, parse_slippage
from atb.engine.market import instrument_for
from atb.engine.results import BacktestResult
from atb.errors import UserInputError
from atb.strategy.base import Strategy
from atb.strategy.registry import resolve

if TYPE_CHECKING:
    from atb.batch_process import ForkedBytes

_DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".txt")
FORK_MIN_ORDERS = 20_000
"""Below this the order rows take under ~40 ms: not worth a fork."""


@dataclass
class BacktestRequest:
    data: list[Path] = field(default_factory=list)
    symbol: str | None = None
    strategy: str = "sma_cross"
    params: dict[str, str] = field(default_factory=dict)
    cash: str = "10000"
    commission: str | None = None
    fill: str = "next_open"
    slippage: str | None = None
    latency: int = 0
    account: str = "margin"
    leverage: str = "1"
    tick: str | None = None
    lot: str | None = None
    repair: bool = False
    equity_points: int = 10_000
    engine: str = "auto"


@dataclass
class BacktestOutcome:
    result: BacktestResult
    reports: list[DataReport]
    title: str
    bars: list[Bars]
    _payload: dict[str, Any] | None = None
    _snapshot: dict[str, Any] | None = None
    _orders_job: ForkedBytes | None = None

    @property
    def data_notes(self) -> list[str]:
        return [r.describe() for r in self.reports]

    def start_order_rows(self) -> None:
        """Start making a large run's order rows in a forked child, for `json_bytes` to pick up.

        For the one-command CLI process only (see `batch_process.ForkedBytes`):
        the child works on the second core while this process prints the
        tables and makes the rest of the JSON. (Every page this process
        writes to while the child lives is copied first, ~60 ms over the
        rest of a million-bar run; making the position snapshot before the
        fork avoided some of that but overlapped less: slower overall.)
        """
        from atb.batch_process import ForkedBytes

        if self._payload is None and self.result.book.order_count >= FORK_MIN_ORDERS and ForkedBytes.available():
            try:
                self._orders_job = ForkedBytes(lambda: orjson.dumps(self.result.order_rows()))
            except OSError:  # memfd or fork refused: json_bytes makes the rows here
                self._orders_job = None

    def json_bytes(self) -> bytes:
        job, self._orders_job = self._orders_job, None
        if job is not None:
            payload = self._payload_with(orders=[])
            made = job.result()
            payload["orders"] = self.result.order_rows() if made is None else orjson.Fragment(made)
            return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        return orjson.dumps(self.result_dict(), option=orjson.OPT_SERIALIZE_NUMPY)

    def result_dict(self) -> dict[str, Any]:
        """The result JSON as a dict (built once, shared by `--json` and `--report`)."""
        if self._payload is None:
            self._payload = self._payload_with()
        return self._payload

    def _payload_with(self, orders: Any = None) -> dict[str, Any]:
        payload = self.result.to_dict(orders=orders)
        payload["meta"]["data"] = [
            {
                "source": r.source,
                "rows_read": r.rows_read,
                "rows_used": r.rows_used,
                "gaps": r.gaps.count,
                "gap_summary": r.gaps.describe(),
                "repairs": r.repairs,
                "warnings": r.warnings,
            }
            for r in self.reports
        ]
        payload.update(self.position_snapshot())
        return payload

    def position_snapshot(self) -> dict[str, Any]:
        """Open positions and the portfolio at the end of the run, by the shared position metrics service."""
        if self._snapshot is None:
            self._snapshot = self._position_snapshot()
        return self._snapshot

    def _position_snapshot(self) -> dict[str, Any]:
        from atb.analytics.positions import portfolio_metrics

        result = self.result
        bars_by_symbol = {bars.symbol: bars for bars in self.bars}
        instruments = {str(p.instrument.id): p.instrument for p in result.account.positions.values()}
        marks = {}
        for symbol, bars in bars_by_symbol.items():
            inst = instruments.get(symbol)
            if inst is not None:
                marks[symbol] = Decimal(repr(float(bars.close[-1]))).quantize(inst.tick)
        last = self.bars[0]
        now_ns = int(last.ts[-1]) + last.timeframe_ns
        portfolio = portfolio_metrics(  # the drawdown against every bar's equity, as the run's statistics
            result.account, marks, now_ns=now_ns, bars=bars_by_symbol, equity_curve=result.equity
        ).as_dict()
        positions = portfolio.pop("positions")
        return {"positions": positions, "portfolio": portfolio}


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.lower().endswith(_DATA_SUFFIXES))
            if not found:
                raise UserInputError(f"folder {path} holds no CSV or Parquet files")
            files.extend(found)
        else:
            files.append(path)
    return files


def _default_data(strategy_cls: type[Strategy]) -> list[Path]:
    from atb.data.sample import sample_path

    if getattr(strategy_cls, "multi_asset", False):
        return [
            sample_path(f"multi_1h/{coin}_USDT_1h")
            for coin in ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "DOT", "LINK", "LTC")
        ]
    return [sample_path("BTC_USDT_2h")]


@dataclass
class PreparedBacktest:
    """A wired, not yet run `Backtest` and what the outcome reports about its data."""

    engine: Backtest
    reports: list[DataReport]
    bars: list[Bars]
    title: str

    def outcome(self, result: BacktestResult) -> BacktestOutcome:
        return BacktestOutcome(result=result, reports=self.reports, title=self.title, bars=self.bars)


def run_backtest_request(
    request: BacktestRequest, progress: Callable[[int, int], None] | None = None
) -> BacktestOutcome:
    prepared = prepare_backtest(request)
    return prepared.outcome(prepared.engine.run(progress=progress))


def prepare_backtest(request: BacktestRequest) -> PreparedBacktest:
    """Parse and check the request, load the data and wire the `Backtest` (shared with `atb paper`)."""
    strategy_cls = resolve(request.strategy)
    params: dict[str, Any] = strategy_cls.parse_params(request.params)
    strategy = strategy_cls(**params)
    try:
        fill = FillTiming(request.fill)
    except ValueError:
        raise UserInputError(f"--fill must be next_open or close, got {request.fill!r}") from None
    try:
        mode = AccountMode(request.account)
    except ValueError:
        raise UserInputError(f"--account must be margin or spot, got {request.account!r}") from None
    if request.latency < 0:
        raise UserInputError("--latency must be >= 0 bars")
    execution = ExecutionConfig(fill=fill, latency_bars=request.latency, slippage=parse_slippage(request.slippage))
    files = _expand(request.data) if request.data else _default_data(strategy_cls)
    if request.symbol and len(files) > 1:
        raise UserInputError("--symbol names one data file; with several files each symbol comes from its file name")
    reports: list[DataReport] = []
    series: list[Bars] = []
    for path in files:
        loaded = load_ohlcv(path, symbol=request.symbol, repair=request.repair)
        reports.append(loaded.report)
        series.append(loaded.bars)
    try:
        instruments = {
            bars.symbol: instrument_for(bars, tick=request.tick, lot=request.lot, fee=request.commission)
            for bars in series
        }
        engine = Backtest(
            strategy,
            series,
            instruments=instruments,
            cash=request.cash,
            mode=mode,
            leverage=request.leverage,
            execution=execution,
            equity_points=request.equity_points,
            engine=request.engine,
        )
    except DomainError as exc:
        raise UserInputError(str(exc)) from None
    symbols = ", ".join(s.symbol for s in series)
    title = f"{strategy_cls.name or strategy_cls.__name__} on {symbols} ({len(series[0]):,} bars)"
    return PreparedBacktest(engine=engine, reports=reports, bars=series, title=title)
