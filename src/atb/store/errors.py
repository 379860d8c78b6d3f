"""Errors of the state store, with the same `reason` / `remedy` contract as domain errors."""

from __future__ import annotations

from atb.domain.errors import Remedy


class StoreError(Exception):
    reason: str = "store_error"
    remedy: Remedy = Remedy.HALT


class DuplicateFillError(StoreError):
    """A fill whose trade id this order already has: venues re-send trades, the second is ignored."""

    reason = "duplicate_fill"
    remedy = Remedy.SKIP


class DuplicateOrderError(StoreError):
    """A client order id already recorded: ids must never be reused."""

    reason = "duplicate_order"
    remedy = Remedy.FIX


class UnknownOrderError(StoreError):
    reason = "unknown_order"
    remedy = Remedy.HALT


class StaleOrderError(StoreError):
    """The order object and its row disagree (another writer moved on): reload it with `by_client_id`."""

    reason = "stale_order"
    remedy = Remedy.RETRY
