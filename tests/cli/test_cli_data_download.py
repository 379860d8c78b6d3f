"""`atb data download` and `atb data list` end to end, against the local fake venue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def atb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atb.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_download_resumes_and_lists(fake_venue: Any, tmp_path: Path) -> None:
    store = tmp_path / "store"
    args = ["data", "download", "--api-url", fake_venue.base_url, "--symbols", "BTC/USDT", "--timeframe", "5m",
            "--since", "2021-03-16", "--until", "2021-03-20", "--store", str(store)]  # fmt: skip
    first = atb(*args)
    assert first.returncode == 0, first.stderr
    assert "BTC/USDT: 1,152 new bars" in first.stdout  # 4 days of 5-minute bars
    again = atb(*args)
    assert again.returncode == 0, again.stderr
    assert "BTC/USDT: 0 new bars in 0 requests" in again.stdout
    listing = atb("data", "list", "--store", str(store))
    assert listing.returncode == 0, listing.stderr
    assert "binance" in listing.stdout and "BTC/USDT" in listing.stdout and "1,152" in listing.stdout
    assert (store / "binance" / "BTC_USDT" / "5m.parquet").is_file()


def test_download_refuses_bad_input_in_one_line(fake_venue: Any, tmp_path: Path) -> None:
    base = ["data", "download", "--api-url", fake_venue.base_url, "--timeframe", "5m", "--store", str(tmp_path)]
    unknown = atb(*base, "--symbols", "NOPE/USDT", "--since", "2021-03-16")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr and "NOPE/USDT" in unknown.stderr
    bad_date = atb(*base, "--symbols", "BTC/USDT", "--since", "yesterday")
    assert bad_date.returncode == 2 and "--since" in bad_date.stderr
