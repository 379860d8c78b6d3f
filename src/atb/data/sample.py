"""Real market data shipped inside the package, for examples, docs and tests.

Binance spot klines converted to Parquet by `scripts/bundle_sample_data.py`,
gaps included (the data layer must show real gaps, not hide them):
BTC_USDT_2h, BTC_USDT_1d, BTC_USDT_5m, ETH_USDT_5m and ten aligned 1h series
under `multi_1h/` (names like "multi_1h/ETH_USDT_1h"; the bare "ETH_USDT_1h"
also works when it is unambiguous).
"""

from __future__ import annotations

from pathlib import Path

from atb.data.loader import LoadResult, load_ohlcv
from atb.errors import UserInputError

_SUFFIX = ".parquet"


def _sample_dir() -> Path:
    from importlib import resources  # 4 ms of imports (tempfile, shutil, ...) that a run on its own data skips

    root = resources.files("atb.data").joinpath("sample")
    # Installed as plain files (wheel or editable); a zipped install would need as_file().
    return Path(str(root))


def list_samples() -> list[str]:
    """Every bundled sample name, e.g. "BTC_USDT_2h", "multi_1h/BTC_USDT_1h" (sorted)."""
    root = _sample_dir()
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix()[: -len(_SUFFIX)] for p in root.rglob("*" + _SUFFIX))


def sample_path(name: str = "BTC_USDT_2h") -> Path:
    """Path of a bundled sample; an unknown name lists the available ones."""
    names = list_samples()
    key = name.strip().removesuffix(_SUFFIX)
    if key not in names:
        matches = [n for n in names if n.rsplit("/", 1)[-1] == key]
        if len(matches) != 1:
            raise UserInputError(f"no bundled sample named {name!r}; available: {', '.join(names) or 'none'}")
        key = matches[0]
    return _sample_dir() / (key + _SUFFIX)


def load_sample(name: str = "BTC_USDT_2h", *, repair: bool = False) -> LoadResult:
    """`load_ohlcv` on a bundled sample."""
    return load_ohlcv(sample_path(name), repair=repair)
