"""deploy/: the Prometheus scrape config and the Grafana dashboard query metrics the node really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from atb.monitor.metrics import AtbMetrics, BusinessSnapshot

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _exported_samples(tmp_path: Path) -> set[str]:
    """Sample names of a registry that has seen one of everything (labelled series exist once used)."""
    metrics = AtbMetrics(disk_path=tmp_path)
    metrics.sample_system()
    metrics.observe_event_loop_lag(0.001)
    metrics.set_sample_interval(15.0)
    metrics.observe_business(BusinessSnapshot(10_000.0, 5.0, -2.0, 1.5, 500.0, 0.8, 2, 10_100.0))
    metrics.order_submitted()
    metrics.order_status("filled")
    metrics.order_rejected("max_order_notional")
    metrics.fill()
    metrics.order_roundtrip(0.05)
    metrics.feed_staleness("BTC/USDT", 0.0)
    metrics.breaker_state("binance", "closed")
    return {s.name for f in text_string_to_metric_families(metrics.render().decode()) for s in f.samples}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_grafana_dashboard_queries_only_exported_metrics(tmp_path: Path) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "atb-dashboard.json").read_text())
    exported = _exported_samples(tmp_path)
    panels = _panels(dashboard)
    queried: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\batb_[a-z0-9_]+", target["expr"]))
            assert names, target["expr"]
            missing = names - exported
            assert not missing, f"panel {panel['title']!r} queries {missing}, which the node does not export"
            queried |= names
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    titles = " | ".join(p["title"].lower() for p in panels)
    for topic in ("equity", "drawdown", "pnl", "exposure", "var 95", "open orders", "rejects", "round-trip",
                  "staleness", "breaker", "cpu", "memory", "disk", "event-loop lag"):  # fmt: skip
        assert topic in titles, topic
    assert {"atb_order_roundtrip_seconds_bucket", "atb_order_rejects_total", "atb_orders_total"} <= queried


def test_prometheus_config_scrapes_metrics_with_a_bearer_token_file() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "atb" and job["metrics_path"] == "/metrics"
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/atb-token"}
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
