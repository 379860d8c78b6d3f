"""A data file loaded on a background thread is the same load, errors included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from atb.data.loader import load_ohlcv
from atb.data.preload import DataPreload
from atb.errors import DataValidationError
from atb.services.backtest import BacktestRequest, run_backtest_request

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "atb" / "data" / "sample" / "BTC_USDT_2h.parquet"


def test_the_preloaded_bars_are_the_loaders() -> None:
    preload = DataPreload(SAMPLE, symbol="BTC/USDT", repair=False)
    loaded = preload.take(SAMPLE, symbol="BTC/USDT", repair=False)
    direct = load_ohlcv(SAMPLE, symbol="BTC/USDT")
    assert loaded is not None
    assert loaded.report == direct.report
    assert np.array_equal(loaded.bars.ts, direct.bars.ts) and np.array_equal(loaded.bars.close, direct.bars.close)


def test_another_load_is_not_served_from_the_preload(tmp_path: Path) -> None:
    preload = DataPreload(SAMPLE, symbol=None, repair=False)
    assert preload.take(SAMPLE, symbol="ETH/USDT", repair=False) is None
    assert preload.take(SAMPLE, symbol=None, repair=True) is None
    assert preload.take(tmp_path / "other.csv", symbol=None, repair=False) is None
    assert preload.take(SAMPLE, symbol=None, repair=False) is not None


def test_the_loaders_error_is_raised_where_the_result_is_taken(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2020-01-01,1,2,0.5,nan,3\n2020-01-02,1,2,0.5,1,3\n")
    with pytest.raises(DataValidationError) as direct:
        load_ohlcv(bad)
    preload = DataPreload(bad, symbol=None, repair=False)
    with pytest.raises(DataValidationError) as preloaded:
        preload.take(bad, symbol=None, repair=False)
    assert str(preloaded.value) == str(direct.value)


def test_a_backtest_takes_the_preload_and_gives_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    import atb.services.backtest as service

    request = BacktestRequest(data=[SAMPLE], params={"fast": "5", "slow": "30"})
    plain = run_backtest_request(request).json_bytes()
    preload = DataPreload(SAMPLE, symbol=None, repair=False)
    preload.take(SAMPLE, symbol=None, repair=False)  # loaded before the service's own loader is taken away

    def no_second_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the service loaded the file itself")

    monkeypatch.setattr(service, "load_ohlcv", no_second_load)
    assert run_backtest_request(request, preload=preload).json_bytes() == plain
