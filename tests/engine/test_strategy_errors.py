"""A strategy that raises stops the run with a message naming the bar, its time and the strategy's line."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import textwrap
from pathlib import Path

import pytest

from atb.engine.backtest import StrategyError
from atb.errors import UserInputError
from atb.strategy.base import Strategy

from .helpers import flat_bars, run


class Boom(Strategy):
    line = 0

    def on_bar(self) -> None:
        if len(self.data.close) == 4:
            Boom.line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
            raise ZeroDivisionError("no luck")


def test_error_in_on_bar_names_bar_time_and_line() -> None:
    with pytest.raises(StrategyError) as info:
        run(Boom(), flat_bars(6))
    message = str(info.value)
    assert message.startswith("strategy raised ZeroDivisionError: no luck at bar 3 (2023-11-15T01:00:00Z)")
    assert f"{__file__}:{Boom.line} in on_bar" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert isinstance(info.value, UserInputError)


def test_error_in_on_start_and_on_fill_are_reported_too() -> None:
    class BadStart(Strategy):
        def on_start(self) -> None:
            {}["missing"]

    with pytest.raises(StrategyError, match=r"KeyError: 'missing' at bar 0 .*in on_start\)"):
        run(BadStart(), flat_bars(3))

    class BadFill(Strategy):
        def on_bar(self) -> None:
            if len(self.data.close) == 1:
                self.buy(quantity=1)

        def on_fill(self, fill: object) -> None:
            raise RuntimeError("fill handler")

    with pytest.raises(StrategyError, match=r"RuntimeError: fill handler at bar \d .*in on_fill\)"):
        run(BadFill(), flat_bars(3))


def test_user_input_errors_from_the_strategy_pass_through_unwrapped() -> None:
    class Unknown(Strategy):
        def on_bar(self) -> None:
            self.feed("NOPE/USD")

    with pytest.raises(UserInputError) as info:
        run(Unknown(), flat_bars(3))
    assert not isinstance(info.value, StrategyError)


def test_strategy_file_under_a_directory_named_atb_is_still_named(tmp_path: Path) -> None:
    """The user's file is found by being outside the atb package, not by the text '/atb/' in its path."""
    folder = tmp_path / "atb"
    folder.mkdir()
    path = folder / "my_strategy.py"
    path.write_text(
        textwrap.dedent(
            """
            from atb.strategy.base import Strategy

            class Mine(Strategy):
                def on_bar(self):
                    if len(self.data.close) == 2:
                        raise ValueError("bad value")
            """
        )
    )
    spec = importlib.util.spec_from_file_location("user_strategy_under_atb", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(StrategyError) as info:
        run(module.Mine(), flat_bars(4))
    assert re.search(rf"at bar 1 \(.*Z\) \({re.escape(str(path))}:7 in on_bar\)$", str(info.value))


def test_error_raised_inside_a_library_names_the_strategy_line_that_called_it() -> None:
    class Parse(Strategy):
        line = 0

        def on_bar(self) -> None:
            Parse.line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
            json.loads("not json")

    with pytest.raises(StrategyError) as info:
        run(Parse(), flat_bars(3))
    assert str(info.value).endswith(f"({__file__}:{Parse.line} in on_bar)")
