"""Paper-trade from plain request values: the backtest's wiring, driven by the asyncio node."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from atb.node import PaperNode, ReplayFeed
from atb.services.backtest import BacktestOutcome, BacktestRequest, prepare_backtest


@dataclass
class PaperRequest:
    replay: Path
    symbol: str | None = None
    strategy: str = "sma_cross"
    params: dict[str, str] = field(default_factory=dict)
    cash: str = "10000"
    commission: str | None = None
    fill: str = "next_open"
    bars_per_second: float | None = None

    def backtest_request(self) -> BacktestRequest:
        # engine="event": the node shows the strategy every bar, as a live feed will
        return BacktestRequest(
            data=[self.replay],
            symbol=self.symbol,
            strategy=self.strategy,
            params=dict(self.params),
            cash=self.cash,
            commission=self.commission,
            fill=self.fill,
            engine="event",
        )


def run_paper_request(request: PaperRequest) -> BacktestOutcome:
    """Replay the recorded bars through a real asyncio paper node (Ctrl-C stops it gracefully)."""
    prepared = prepare_backtest(request.backtest_request())
    feed = ReplayFeed(prepared.bars[0], bars_per_second=request.bars_per_second)
    node = PaperNode(prepared.engine, feed)
    result = asyncio.run(node.run())  # BacktestResult's short repr keeps asyncio's shutdown cheap
    played = len(result.ts)  # a stopped run reports on the bars it played; so do its positions
    bars = [b if len(b) == played else b.slice(0, played) for b in prepared.bars]
    return BacktestOutcome(result=result, reports=prepared.reports, title=f"paper replay: {prepared.title}", bars=bars)
