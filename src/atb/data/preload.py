"""One data file loaded on a background thread while the process does other work.

The one-command `atb backtest` spends its first ~0.1 s importing the engine,
the analytics and Rich, all Python, while Arrow's CSV reader, which releases
the GIL, could already be parsing the file on the machine's cores. The CLI
starts a `DataPreload` for its data file before those imports, and
`services.backtest.prepare_backtest` takes the result when the request asks
for exactly that file, symbol and repair setting; any other request loads as
before. The load is the ordinary `load_ohlcv`, and an error it raises is
raised again where the result is taken, so a bad file reads the same either
way.
"""

from __future__ import annotations

import threading
from pathlib import Path

from atb.data.loader import LoadResult, load_ohlcv


class DataPreload:
    """`load_ohlcv(path, symbol=..., repair=...)` running on a daemon thread."""

    def __init__(self, path: Path, *, symbol: str | None, repair: bool) -> None:
        self._key = (Path(path), symbol, repair)
        self._result: LoadResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="atb-data-preload", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        path, symbol, repair = self._key
        try:
            self._result = load_ohlcv(path, symbol=symbol, repair=repair)
        except BaseException as exc:  # handed to the taker, raised there (a thread's own error would be lost)
            self._error = exc

    def take(self, path: Path, *, symbol: str | None, repair: bool) -> LoadResult | None:
        """The preloaded result if it is for exactly this load (waiting for it), else None: load it yourself."""
        if (Path(path), symbol, repair) != self._key:
            return None
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result
