"""Fixtures shared by the analytics tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from .helpers import DailyBars

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def btc_1d() -> DailyBars:
    """Real Binance BTC/USDT daily bars, 2017-08-17 .. 2025-08-26 (2,932 bars, no gaps)."""
    with (FIXTURES / "BTC_USDT_1d.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    ts = np.array([r["timestamp"] for r in rows], dtype="datetime64[ns]").astype(np.int64)
    return DailyBars(
        ts=ts,
        open=np.array([float(r["open"]) for r in rows]),
        close=np.array([float(r["close"]) for r in rows]),
    )
