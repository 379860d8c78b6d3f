"""Alert delivery through Apprise URLs (Slack, e-mail, SMS, Telegram, webhooks), off the caller's thread.

Why a worker thread per destination: `Notifier.notify` is called from the trading loop, and an
SMTP server that takes 15 s to time out, or a webhook being retried with backoff, must never
hold up an order. `notify` only appends to a bounded in-memory queue and returns; each distinct
URL has its own queue and thread, so one dead destination delays nobody else's messages. A full
queue sheds the least important message (the oldest of the lowest severity, INFO first) and says
so in the log rather than growing without bound while a destination is down.

Secrets: Apprise URLs carry credentials (see `atb.monitor.redact`). Every log line here names a
destination only by `redact_url`, text from exceptions is scrubbed of the URL's secret parts, and
while a notifier is open a `SecretScrubber` masks them in what Apprise and urllib3 log too.

Apprise (``api`` extra) and tenacity (``live`` extra) are imported when a `Notifier` is built, so
importing this module is cheap and a missing extra is named in a `MissingExtraError`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from atb.errors import MissingExtraError, UserInputError
from atb.monitor.alerts import AlertEvent, AlertKind, AlertsConfig, Severity
from atb.monitor.redact import SecretScrubber, redact_url, scrub, url_secrets

if TYPE_CHECKING:
    import apprise
    from tenacity import RetryCallState

__all__ = ["DeliveryStats", "Notifier", "redact_url"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Counts since start, per message and destination (one alert to two URLs counts twice)."""

    queued: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0


class _DeliveryError(Exception):
    """One attempt failed; tenacity retries on exactly this."""


class _Destination:
    """One Apprise URL: its client, queue and worker thread."""

    def __init__(
        self, url: str, client: apprise.Apprise, capacity: int, worker: Callable[[_Destination], None], name: str
    ) -> None:
        self.label = redact_url(url)
        self.client = client
        self.capacity = capacity
        self.queue: deque[AlertEvent] = deque()
        self.cond = threading.Condition()
        self.busy = False
        self.closing = False
        self._secrets = url_secrets(url)
        self.thread = threading.Thread(target=worker, args=(self,), name=name, daemon=True)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)


_APPRISE_TYPE = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.ERROR: "failure",
    Severity.CRITICAL: "failure",
}


class Notifier:
    """Delivers `AlertEvent`s to the Apprise URLs routed for their severity, in the background.

    `routes` maps a severity to Apprise URLs (see `AlertsConfig.urls_for`); a severity with no
    URLs is not delivered anywhere. A failing delivery is tried ``attempts`` times in all,
    waiting ``backoff_seconds`` × 2ⁿ (at most ``max_backoff_seconds``) in between, then logged
    as failed. `sleep` replaces the wait between attempts (tests); by default it is cut short
    when `close` gives up waiting.
    """

    def __init__(
        self,
        routes: Mapping[Severity | str, Sequence[str]],
        *,
        attempts: int = 4,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 60.0,
        queue_size: int = 100,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if attempts < 1 or queue_size < 1 or backoff_seconds < 0 or max_backoff_seconds < backoff_seconds:
            raise UserInputError("notifier: attempts and queue_size must be >= 1 and 0 <= backoff <= max_backoff")
        apprise = _import("apprise", "api")
        _import("tenacity", "live")
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._abort = threading.Event()
        self._sleep = sleep if sleep is not None else self._interruptible_sleep
        self._lock = threading.Lock()
        self._stats = DeliveryStats()
        self._closed = False
        routed = {Severity(key): list(dict.fromkeys(urls)) for key, urls in routes.items()}
        # on before the clients are built: Apprise logs each URL as it loads it
        self._scrubber = SecretScrubber(url for urls in routed.values() for url in urls)
        self._scrubber.attach()
        try:
            by_url: dict[str, _Destination] = {}
            for urls in routed.values():
                for url in urls:
                    if url not in by_url:
                        name = f"atb-notify-{len(by_url)}"
                        by_url[url] = _Destination(url, _client(apprise, url), queue_size, self._worker, name)
        except BaseException:
            self._scrubber.detach()
            raise
        self._routes = {severity: [by_url[url] for url in urls] for severity, urls in routed.items()}
        self._destinations = list(by_url.values())
        for dest in self._destinations:
            dest.thread.start()

    @classmethod
    def from_config(cls, config: AlertsConfig, **kwargs: Any) -> Notifier:
        return cls({severity: config.urls_for(severity) for severity in Severity}, **kwargs)

    def destinations(self, severity: Severity) -> list[str]:
        """The redacted URLs an alert of `severity` goes to (for status pages and logs)."""
        return [d.label for d in self._routes.get(severity, [])]

    def stats(self) -> DeliveryStats:
        with self._lock:
            return self._stats

    def _count(self, **deltas: int) -> None:
        with self._lock:
            s = self._stats
            self._stats = replace(s, **{name: getattr(s, name) + n for name, n in deltas.items()})

    # ------------------------------------------------------------------ caller side (never blocks)

    def notify(self, event: AlertEvent) -> int:
        """Queue `event` for every destination of its severity; returns how many. Never waits for I/O."""
        if event.silenced:
            log.debug("alert %s %s is silenced: not delivered", event.name, event.kind)
            return 0
        if self._closed:
            log.warning("alert notifier is closed: %s not delivered", event.title)
            self._count(dropped=len(self._routes.get(event.severity, [])))
            return 0
        queued = 0
        for dest in self._routes.get(event.severity, []):
            queued += self._enqueue(dest, event)
        return queued

    def _enqueue(self, dest: _Destination, event: AlertEvent) -> int:
        with dest.cond:
            if len(dest.queue) >= dest.capacity:
                victim = _shed(dest.queue, event)
                dropped = event if victim is None else dest.queue[victim]
                log.warning(
                    "alert notifications to %s: queue full (%d), dropped %s [%s] %s",
                    dest.label,
                    dest.capacity,
                    dropped.kind,
                    dropped.severity,
                    dropped.name,
                )
                self._count(dropped=1)
                if victim is None:
                    return 0
                del dest.queue[victim]
            dest.queue.append(event)
            dest.cond.notify_all()
        self._count(queued=1)
        return 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued message is delivered or has failed; False if `timeout` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for dest in self._destinations:
            with dest.cond:
                while dest.queue or dest.busy:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    dest.cond.wait(remaining)
        return True

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop taking messages, deliver what is queued within `timeout`, then abandon the rest (logged)."""
        self._closed = True
        deadline = None if timeout is None else time.monotonic() + timeout
        for dest in self._destinations:
            with dest.cond:
                dest.closing = True
                dest.cond.notify_all()
        for dest in self._destinations:
            dest.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        stuck = [d for d in self._destinations if d.thread.is_alive()]
        if not stuck:
            self._scrubber.detach()
            return True
        # ends backoff waits and retries; the attempt in flight runs to its own timeout and may still
        # log, so the scrubber stays attached
        self._abort.set()
        for dest in stuck:
            with dest.cond:
                if dest.queue:
                    log.error("alert notifications to %s: %d undelivered at shutdown", dest.label, len(dest.queue))
                    self._count(dropped=len(dest.queue))
                    dest.queue.clear()
        return False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ worker side

    def _interruptible_sleep(self, seconds: float) -> None:
        self._abort.wait(seconds)

    def _worker(self, dest: _Destination) -> None:
        while True:
            with dest.cond:
                while not dest.queue and not dest.closing:
                    dest.cond.wait()
                if not dest.queue:
                    return
                event = dest.queue.popleft()
                dest.busy = True
            try:
                self._deliver(dest, event)
            except Exception as exc:  # the worker must outlive any bug or surprise from a plugin
                log.error(
                    "alert notification to %s: unexpected %s: %s", dest.label, type(exc).__name__, dest.scrub(str(exc))
                )
                self._count(failed=1)
            finally:
                with dest.cond:
                    dest.busy = False
                    dest.cond.notify_all()

    def _deliver(self, dest: _Destination, event: AlertEvent) -> None:
        from tenacity import (
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            stop_when_event_set,
            wait_exponential,
        )

        tries = 0

        def attempt() -> None:
            nonlocal tries
            tries += 1
            self._send(dest, event)

        def before_sleep(state: RetryCallState) -> None:
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            error = state.outcome.exception() if state.outcome is not None else None
            log.warning(
                "alert notification to %s: attempt %d/%d failed (%s); retrying in %.1fs",
                dest.label,
                state.attempt_number,
                self._attempts,
                error,
                wait,
            )
            self._count(retries=1)

        retrying = Retrying(
            stop=stop_after_attempt(self._attempts) | stop_when_event_set(self._abort),
            wait=wait_exponential(multiplier=self._backoff, max=self._max_backoff),
            retry=retry_if_exception_type(_DeliveryError),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            retrying(attempt)
        except _DeliveryError as exc:
            log.error("alert notification to %s failed after %d attempts (%s): %s", dest.label, tries, exc, event.title)
            self._count(failed=1)
            return
        log.info("alert notification delivered to %s: %s", dest.label, event.title)
        self._count(delivered=1)

    @staticmethod
    def _send(dest: _Destination, event: AlertEvent) -> None:
        kind = "success" if event.kind is AlertKind.RESOLVED else _APPRISE_TYPE[event.severity]
        try:
            ok = dest.client.notify(body=event.body, title=event.title, notify_type=kind, body_format="text")
        except Exception as exc:
            raise _DeliveryError(f"{type(exc).__name__}: {dest.scrub(str(exc))}") from exc
        if not ok:
            raise _DeliveryError("not accepted or unreachable")


def _shed(queue: deque[AlertEvent], incoming: AlertEvent) -> int | None:
    """Index of the message to drop from a full queue: the oldest of the lowest severity (None: the new one)."""
    lowest = min(queue, key=lambda e: e.severity.rank)
    if incoming.severity < lowest.severity:
        return None
    return next(i for i, e in enumerate(queue) if e.severity is lowest.severity)


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError("alert notifications", extra, module) from exc


def _client(apprise_module: Any, url: str) -> apprise.Apprise:
    client: apprise.Apprise = apprise_module.Apprise(asset=apprise_module.AppriseAsset(secure_logging=True))
    if not client.add(url):
        raise UserInputError(f"alert route: Apprise cannot use {redact_url(url)} (unknown scheme or malformed URL)")
    return client
