"""Monitoring: metrics, health checks, alert rules and notifications.

Import-light on purpose: the node imports this package on every start, and Apprise, tenacity,
prometheus_client and psutil (optional extras) are imported only by the objects that use them,
when they are built.
"""

from atb.monitor.alerts import (
    BUILTIN_METRICS,
    DEFAULT_RENOTIFY,
    ActiveAlert,
    AlertEngine,
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertsConfig,
    Severity,
    builtin_rules,
)
from atb.monitor.notify import DeliveryStats, Notifier
from atb.monitor.redact import redact_url

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_RENOTIFY",
    "ActiveAlert",
    "AlertEngine",
    "AlertEvent",
    "AlertKind",
    "AlertRule",
    "AlertsConfig",
    "DeliveryStats",
    "Notifier",
    "Severity",
    "builtin_rules",
    "redact_url",
]
