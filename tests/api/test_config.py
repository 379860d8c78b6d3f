"""`atb serve --config`: one TOML for node, alerts and monitor; every mistake is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from atb.api.config import load_serve_config
from atb.errors import UserInputError
from atb.monitor.alerts import Severity

NODE = """
[node]
name = "n1"
symbols = ["BTC/USDT"]
cash = "1000"
database = "sqlite:///x.db"

[risk]
max_order_notional = 500
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "serve.toml"
    path.write_text(text)
    return load_serve_config(path)


def test_a_full_file_splits_into_node_alerts_and_monitor(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        NODE + '[alerts]\nchannels = { ops = ["json://127.0.0.1:9/x"] }\nroutes = { ERROR = ["ops"] }\n'
        "[monitor]\ninterval_seconds = 5\n",
    )
    assert config.node is not None and config.node.node.name == "n1"  # type: ignore[attr-defined]
    assert str(config.node.risk.max_order_notional) == "500"  # type: ignore[attr-defined]
    assert config.alerts.urls_for(Severity.ERROR) == ["json://127.0.0.1:9/x"]  # type: ignore[attr-defined]
    assert (config.monitor.interval_seconds, config.monitor.fast) == (5.0, 2.0)  # type: ignore[attr-defined]
    assert _load(tmp_path, "[monitor]\ninterval_seconds = 1\n").monitor.fast == 1.0  # type: ignore[attr-defined]
    assert _load(tmp_path, "").node is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[alert]\n", "unknown section 'alert' (did you mean 'alerts'?)"),
        ("[risk]\nmax_order_notional = 5\n", "section(s) risk given without a 'node' section"),
        (NODE.replace("cash", "cassh"), "node: unknown setting 'cassh' (did you mean 'cash'?)"),
        ('[alerts]\nroutes = { ERROR = ["pager"] }\n', "alerts: routes.ERROR: unknown channel 'pager'"),
        ("[monitor]\ninterval_seconds = 1\nfast_interval_seconds = 5\n", "must not exceed interval_seconds"),
        ("[monitor]\nintervall = 1\n", "monitor.intervall: Extra inputs are not permitted"),
        ("[node\n", "not valid TOML"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserInputError) as error:
        _load(tmp_path, text)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).startswith(str(tmp_path / "serve.toml"))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"config file not found: .*nope\.toml"):
        load_serve_config(tmp_path / "nope.toml")
