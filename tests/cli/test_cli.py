"""The `atb` command as a user runs it: a real subprocess, real files, exit codes and output."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]


def atb(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atb.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("run") / "result.json"
    proc = atb("backtest", "--json", str(out))
    return proc, orjson.loads(out.read_bytes())


def test_default_backtest_prints_stats_and_reports_the_real_gaps(default_run) -> None:  # type: ignore[no-untyped-def]
    proc, _ = default_run
    assert proc.returncode == 0, proc.stderr
    assert "18 gaps" in proc.stderr  # the bundled BTC/USDT 2h data has 18 exchange outages
    for label in ("Return [%]", "Sharpe ratio", "Max drawdown [%]", "# Trades", "Buy & hold return [%]"):
        assert label in proc.stdout
    assert "Traceback" not in proc.stderr


def test_result_json_contract(default_run) -> None:  # type: ignore[no-untyped-def]
    _, result = default_run
    assert set(result) >= {"stats", "trades", "orders", "equity", "meta", "schema_version"}
    stats = result["stats"]
    for key in (
        "return_pct",
        "buy_hold_return_pct",
        "cagr_pct",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown_pct",
        "trades",
        "win_rate_pct",
        "profit_factor",
        "expectancy_pct",
        "sqn",
        "exposure_pct",
        "fees",
        "var_95_pct",
        "cvar_95_pct",
    ):
        assert key in stats, key
    assert isinstance(stats["return_pct"], float) and isinstance(stats["trades"], int)
    assert stats["trades"] == len(result["trades"]) > 100
    trade = result["trades"][0]
    for key in (
        "entry_time",
        "exit_time",
        "side",
        "quantity",
        "entry_price",
        "exit_price",
        "pnl",
        "return_pct",
        "fees",
    ):
        assert key in trade, key
    assert trade["side"] in ("long", "short")
    assert trade["entry_time"].endswith("Z") and trade["entry_time"].startswith("20")
    for money in ("quantity", "entry_price", "exit_price", "pnl", "fees"):
        assert isinstance(trade[money], str)
        Decimal(trade[money])  # a decimal string, never a float
    order = result["orders"][0]
    for key in ("time", "side", "type", "quantity", "price", "status"):
        assert key in order, key
    point = result["equity"][0]
    assert set(point) == {"time", "equity"} and isinstance(point["equity"], str)
    # the exact equity of the last point is the exact final equity
    assert result["equity"][-1]["equity"] == stats["final_equity_exact"]
    assert result["meta"]["data"][0]["gaps"] == 18


def test_trade_pnls_add_up_to_the_final_equity_exactly(default_run) -> None:  # type: ignore[no-untyped-def]
    _, result = default_run
    initial = Decimal(result["meta"]["cash"])
    total = sum((Decimal(t["pnl"]) for t in result["trades"]), Decimal(0))
    assert initial + total == Decimal(result["stats"]["final_equity_exact"])


def test_json_to_stdout_is_parseable_and_table_goes_to_stderr() -> None:
    proc = atb("backtest", "--strategy", "rsi_reversion", "-p", "period=10", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    result = orjson.loads(proc.stdout)
    assert result["meta"]["params"]["period"] == 10
    assert "Sharpe ratio" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "--strategy", "sma_crosss"], "did you mean 'sma_cross'"),
        (["backtest", "-p", "fsat=3"], "did you mean 'fast'"),
        (["backtest", "-p", "fast=abc"], "expects int"),
        (["backtest", "-p", "fast=50", "-p", "slow=20"], "must be shorter"),
        (["backtest", "-p", "fast"], "key=value"),
        (["backtest", "--data", "/nonexistent/file.csv"], "not found"),
        (["backtest", "--fill", "tomorrow"], "next_open or close"),
        (["backtest", "--account", "cash"], "margin or spot"),
        (["backtest", "--slippage", "lots"], "slippage"),
        (["backtest", "--cash", "ten"], "cash"),
        (["backtest", "--strategy", "/nonexistent/strat.py"], "does not exist"),
        (["backtest", "--json", "/nonexistent/dir/out.json"], "folder /nonexistent/dir does not exist"),
        (["backtest", "--report", "/nonexistent/dir/r.html"], "does not exist"),
        (["risk", "--window", "5"], "at least 10"),
        (["risk", "--weights", "a,b"], "must be numbers"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args: list[str], message: str) -> None:
    proc = atb(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert proc.stderr.strip().startswith("error:")


def test_malformed_csv_names_the_rows(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01 00:00,10,11,9,10.5,1\n"
        "2024-01-01 01:00,10,9,11,10.5,1\n"  # high < low
        "2024-01-01 02:00,10,11,9,,1\n"  # missing close
    )
    proc = atb("backtest", "--data", str(bad), "--symbol", "X/USDT")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "row 3" in proc.stderr and "row 4" in proc.stderr


def test_strategy_error_names_bar_and_line(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text(
        "from atb.strategy import Strategy\n\n"
        "class Broken(Strategy):\n"
        "    def on_bar(self):\n"
        "        if self.data.close.now > 0:\n"
        "            raise ValueError('boom')\n"
    )
    proc = atb("backtest", "--strategy", str(script))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "boom" in proc.stderr and "bar 0" in proc.stderr and "broken.py:6" in proc.stderr


def test_example_strategy_file_runs() -> None:
    proc = atb("backtest", "--strategy", str(ROOT / "examples" / "breakout.py"), "--json", "-", "-q")
    assert proc.returncode == 0, proc.stderr
    result = orjson.loads(proc.stdout)
    assert result["stats"]["trades"] > 10
    assert any(o["type"] == "stop_market" and o["status"] == "filled" for o in result["orders"])


def test_strategies_lists_every_builtin_with_parameters() -> None:
    proc = atb("strategies")
    assert proc.returncode == 0
    for name in ("sma_cross", "rsi_reversion", "donchian_breakout", "bollinger_reversion", "momentum_rotation"):
        assert name in proc.stdout
    assert "fast" in proc.stdout and "slow" in proc.stdout


def test_multi_asset_rotation_on_bundled_coins() -> None:
    proc = atb("backtest", "--strategy", "momentum_rotation", "--json", "-", "-q")
    assert proc.returncode == 0, proc.stderr
    result = orjson.loads(proc.stdout)
    assert len(result["meta"]["symbols"]) == 10
    traded = {t["symbol"] for t in result["trades"]}
    assert len(traded) >= 3
    assert all(o["status"] == "filled" for o in result["orders"])


def test_data_check_reports_gaps_and_repairs(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "1704070800000,10,11,9,10.5,1\n"
        "1704067200000,10,11,9,10.5,1\n"
        "1704067200000,10,11,9,10.5,1\n"
        "1704078000000,10,11,9,10.5,1\n"
    )
    refused = atb("data", "check", str(path))
    assert refused.returncode == 2
    repaired = atb("data", "check", str(path), "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "duplicate" in repaired.stdout and "1 gap" in repaired.stdout


def test_report_from_backtest_and_from_saved_json(tmp_path: Path) -> None:
    html, result = tmp_path / "run.html", tmp_path / "run.json"
    proc = atb("backtest", "--data", str(ROOT / "tests" / "fixtures" / "BTC_USDT_1d.csv"), "--symbol", "BTC/USDT",
               "--report", str(html), "--json", str(result), "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = html.read_text()
    assert "<script src" not in page and "Equity curve" in page and "Monthly returns" in page
    rebuilt = atb("report", str(result), "-o", str(tmp_path / "again.html"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Equity curve" in (tmp_path / "again.html").read_text()
    not_a_result = tmp_path / "x.json"
    not_a_result.write_text('{"hello": 1}')
    bad = atb("report", str(not_a_result))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_risk_command_prints_every_method_and_a_portfolio() -> None:
    sample = ROOT / "src" / "atb" / "data" / "sample" / "multi_1h"
    proc = atb("risk", "--data", str(sample / "BTC_USDT_1h.parquet"), "--data", str(sample / "ETH_USDT_1h.parquet"),
               "--json", "-")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    payload = orjson.loads(proc.stdout)
    methods = {(row["method"], row["level"]) for row in payload["symbols"][0]["var"]}
    assert methods == {(m, lv) for m in ("historical", "normal", "cornish_fisher", "ewma") for lv in (0.95, 0.99)}
    assert payload["portfolio"]["symbols"] == ["BTC/USDT", "ETH/USDT"]
    correlation = payload["portfolio"]["correlation"]
    assert correlation[0][0] == 1.0 and 0.5 < correlation[0][1] < 1.0 and correlation[0][1] == correlation[1][0]
    for estimate in payload["portfolio"]["estimates"]:
        if estimate["method"] == "normal":  # Euler allocation: components add up to the total
            assert abs(sum(estimate["component_var_pct"].values()) - estimate["var_pct"]) < 1e-9
    assert payload["symbols"][0]["liquidity"]["adv_quote"] > 0
    table = atb("risk")
    assert table.returncode == 0 and "VaR backtest" in table.stdout and "Order cost estimates" in table.stdout
    assert atb("risk", "--levels", "1.5").returncode == 2


def test_open_position_metrics_at_the_end_of_a_run() -> None:
    proc = atb("backtest", "-p", "short=true", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    result = orjson.loads(proc.stdout)
    (position,) = result["positions"]  # stop-and-reverse always ends in a position
    last = result["trades"][-1]
    assert last["open"] and position["side"] == last["side"] and position["quantity"] == last["quantity"]
    equity = Decimal(result["portfolio"]["equity"])
    assert equity == Decimal(result["stats"]["final_equity_exact"])
    assert (
        Decimal(result["portfolio"]["cash"])
        + (Decimal(position["notional"]) * (1 if position["side"] == "long" else -1))
        == equity
    )
    assert "Open positions at the end" in proc.stderr
