"""Alert history: every FIRED, REMINDER, RESOLVED and SILENCED event, in an append-only table.

The repository takes any object shaped like `atb.monitor.alerts.AlertEvent` (`AlertEventLike`)
rather than importing the monitor: the store stays below the monitor and knows nothing of rules
or engines, only of what an event says.

Metric values are floats; they are stored as their shortest round-trip text (``repr``), which
gives back the exact float, ``inf`` included (see `AlertRow`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from atb.store.models import AlertRow

__all__ = ["AlertEventLike", "AlertRecord", "AlertRepository"]


class AlertEventLike(Protocol):
    """What the store needs of an alert event (`atb.monitor.alerts.AlertEvent` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def message(self) -> str: ...
    @property
    def silenced(self) -> bool: ...
    @property
    def ts_ns(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    rule: str
    severity: str
    kind: str
    value: float
    threshold: float
    message: str
    silenced: bool
    ts_ns: int


def _text(value: float) -> str:
    return repr(float(value))


def _record(row: AlertRow) -> AlertRecord:
    return AlertRecord(
        id=row.id,
        rule=row.rule,
        severity=row.severity,
        kind=row.kind,
        value=float(row.value),
        threshold=float(row.threshold),
        message=row.message,
        silenced=row.silenced,
        ts_ns=row.ts_ns,
    )


class AlertRepository:
    """Append-only record of alert events (database triggers refuse UPDATE and DELETE)."""

    @staticmethod
    def append(session: Session, event: AlertEventLike) -> int:
        """Record `event` in the caller's transaction (in a SAVEPOINT, like every write); returns its id."""
        row = AlertRow(
            rule=event.name,
            severity=str(event.severity),
            kind=str(event.kind),
            value=_text(event.value),
            threshold=_text(event.threshold),
            message=event.message,
            silenced=bool(event.silenced),
            ts_ns=event.ts_ns,
        )
        with session.begin_nested():
            session.add(row)
            session.flush()
        return row.id

    @staticmethod
    def history(session: Session, *, limit: int = 100, rule: str | None = None) -> list[AlertRecord]:
        """The latest `limit` events (of one `rule` if given), oldest first like `AuditLog.entries`."""
        query = select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)
        if rule is not None:
            query = query.where(AlertRow.rule == rule)
        return [_record(r) for r in reversed(session.scalars(query).all())]
