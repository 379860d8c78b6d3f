"""REST API tokens: created by `atb token create`, stored only as SHA-256 hashes, checked per request.

A token is `atb_` + 32 random bytes (URL-safe base64): 256 bits, so a plain SHA-256 is the right
hash — a slow password hash buys nothing against a secret nobody can guess, and would cost every
request milliseconds. The database holds only the hash, so a copy of it grants nothing.

Two scopes, ordered: `read` (dashboards, Grafana, Prometheus) < `trade` (submit and cancel
orders, silence alerts, start backtests). A trade token can do everything a read token can.

Lives in `api` rather than `store` because only the API and its CLI use tokens; the table itself
(`ApiTokenRow`) is part of the store's schema and migrations.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from atb.errors import UserInputError
from atb.store import session_scope
from atb.store.models import ApiTokenRow

__all__ = [
    "SCOPES",
    "Scope",
    "TokenInfo",
    "TokenUsage",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
    "verify_token",
]

Scope = Literal["read", "trade"]
SCOPES: tuple[Scope, ...] = ("read", "trade")
PREFIX = "atb_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_TOUCH_EVERY_NS = 60 * 1_000_000_000
"""`last_used_ns` is written at most once a minute per token: a write per request would compete with
the node's own writes on SQLite for a timestamp nobody needs to the second."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    scope: Scope
    created_ns: int
    last_used_ns: int | None
    revoked: bool

    def allows(self, needed: Scope) -> bool:
        """`trade` implies `read`."""
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


def _info(row: ApiTokenRow) -> TokenInfo:
    scope: Scope = "trade" if row.scope == "trade" else "read"
    return TokenInfo(row.id, row.name, scope, row.created_ns, row.last_used_ns, bool(row.revoked))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(sessions: sessionmaker[Session], scope: str, name: str | None = None) -> tuple[str, TokenInfo]:
    """A new token (returned once, never stored) and its record. Active token names are unique."""
    if scope not in SCOPES:
        raise UserInputError(f"--scope must be read or trade, got {scope!r}")
    if name is not None and not _NAME.match(name):
        raise UserInputError("token name: 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit")
    token = PREFIX + secrets.token_urlsafe(32)
    now = time.time_ns()
    with session_scope(sessions) as session:
        active = set(session.scalars(select(ApiTokenRow.name).where(ApiTokenRow.revoked.is_(False))).all())
        if name is None:
            n = 1
            while f"{scope}-{n}" in active:
                n += 1
            name = f"{scope}-{n}"
        elif name in active:
            raise UserInputError(f"a token named {name!r} exists; revoke it first (atb token revoke {name})")
        row = ApiTokenRow(name=name, token_hash=hash_token(token), scope=scope, created_ns=now, revoked=False)
        session.add(row)
        session.flush()
        return token, _info(row)


def list_tokens(sessions: sessionmaker[Session]) -> list[TokenInfo]:
    with session_scope(sessions) as session:
        return [_info(r) for r in session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id)).all()]


def revoke_token(sessions: sessionmaker[Session], name: str) -> int:
    """Revoke every active token named `name`; how many. Unknown names are a user error."""
    with session_scope(sessions) as session:
        rows = session.scalars(
            select(ApiTokenRow).where(ApiTokenRow.name == name, ApiTokenRow.revoked.is_(False))
        ).all()
        if not rows:
            raise UserInputError(f"no active token named {name!r} (atb token list shows them)")
        for row in rows:
            row.revoked = True
        return len(rows)


def verify_token(sessions: sessionmaker[Session], token: str) -> TokenInfo | None:
    """The active token's record, or None for an unknown, malformed or revoked token (read-only).

    Looked up by hash (an index), then the hashes compared with `hmac.compare_digest`, so the
    answer's timing never depends on how much of a guessed token was right.
    """
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    with session_scope(sessions) as session:
        row = session.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == digest)).one_or_none()
        if row is None or row.revoked or not hmac.compare_digest(row.token_hash, digest):
            return None
        return _info(row)


class TokenUsage:
    """When each token was last used, noted by any request thread and written in batches by one writer.

    Requests only read the database: on SQLite a write from a request thread could land between a
    read and a write of one of the node's transactions, and SQLite answers that transaction "database
    is locked" at once (a deferred transaction cannot be upgraded past a newer commit). The serving
    process's writes therefore all happen on the node's event loop thread (`flush`, called by the
    monitor), between the node's own transactions.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}
        self._written: dict[int, int] = {}

    def note(self, info: TokenInfo) -> None:
        now = time.time_ns()
        last = self._written.get(info.id, info.last_used_ns or 0)
        if now - last > _TOUCH_EVERY_NS:
            with self._lock:
                self._pending[info.id] = now

    def flush(self, sessions: sessionmaker[Session]) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        with session_scope(sessions) as session:
            for row in session.scalars(select(ApiTokenRow).where(ApiTokenRow.id.in_(pending))).all():
                row.last_used_ns = pending[row.id]
        self._written.update(pending)
        return len(pending)
