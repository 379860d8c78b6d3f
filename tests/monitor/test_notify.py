"""Notifications through real Apprise to a local SMTP server and a local webhook, on 127.0.0.1 only.

Timing is never asserted: "notify does not block" is shown by holding the delivery (a webhook
that waits on an Event, a backoff sleep that waits on an Event) and seeing `notify` return and
the test carry on while the delivery is still held.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("apprise", reason="notifications need the 'api' extra")
pytest.importorskip("tenacity", reason="notification retries need tenacity")

from atb.errors import MissingExtraError, UserInputError
from atb.monitor.alerts import AlertEvent, AlertKind, AlertRule, Severity
from atb.monitor.notify import Notifier, redact_url
from atb.monitor.redact import SecretScrubber

from .conftest import SMTP_PASSWORD, SMTP_USER, Mailbox, Webhook

T0 = 1_767_225_600.0
WAIT = 30.0  # generous bound for events that should happen almost at once; never a timing assertion


def event(
    severity: Severity = Severity.ERROR,
    kind: AlertKind = AlertKind.FIRED,
    name: str = "daily_loss_pct",
    value: float = 7,
) -> AlertEvent:
    rule = AlertRule(
        name=name,
        metric="daily_loss_pct",
        comparison=">",
        threshold=5,
        severity=severity,
        description="Today's loss exceeds 5% of the day's opening equity.",
    )
    fired_at = T0 if kind is not AlertKind.SILENCED else None
    return AlertEvent(rule, kind, value, T0 + 300 if kind is AlertKind.RESOLVED else T0, fired_at)


@pytest.fixture
def notifiers() -> Iterator[list[Notifier]]:
    made: list[Notifier] = []
    yield made
    for n in made:
        n.close(timeout=WAIT)


def make(notifiers: list[Notifier], routes: dict[Severity, list[str]], **kw: object) -> Notifier:
    n = Notifier(routes, **kw)  # type: ignore[arg-type]
    notifiers.append(n)
    return n


def test_an_error_alert_arrives_by_email(smtp_server: Mailbox, notifiers: list[Notifier]) -> None:
    n = make(notifiers, {Severity.ERROR: [smtp_server.url()]})
    ev = event()
    assert n.notify(ev) == 1
    assert n.flush(WAIT)
    (msg,) = smtp_server.messages
    assert msg["Subject"] == "[ERROR] daily_loss_pct > 5 (value 7) FIRING" == ev.title
    assert msg["To"] == "ops@example.com" and "atb@example.com" in msg["From"]
    text = msg.get_body(preferencelist=("plain", "html")).get_content()  # type: ignore[union-attr]
    for line in ("Today's loss exceeds 5% of the day's opening equity.", "Value: 7 (threshold 5)", "Firing since:"):
        assert line in text
    assert smtp_server.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode(), True)]
    assert n.stats().delivered == 1 and n.stats().failed == 0


def test_the_webhook_gets_title_body_and_type(webhook: Webhook, notifiers: list[Notifier]) -> None:
    n = make(notifiers, {Severity.CRITICAL: [webhook.url("hooks/atb")]})
    fired, resolved = event(Severity.CRITICAL), event(Severity.CRITICAL, AlertKind.RESOLVED, value=3)
    assert n.notify(fired) == 1 and n.notify(resolved) == 1
    assert n.flush(WAIT)
    assert [path for path, _ in webhook.posts] == ["/hooks/atb", "/hooks/atb"]
    (_, first), (_, second) = webhook.posts
    assert (first["title"], first["message"], first["type"]) == (fired.title, fired.body, "failure")
    assert second["title"] == "[CRITICAL] daily_loss_pct > 5 RESOLVED after 5m (value 3)"
    assert second["type"] == "success" and "the condition no longer holds" in second["message"]


def test_routing_by_severity(smtp_server: Mailbox, webhook: Webhook, notifiers: list[Notifier]) -> None:
    n = make(
        notifiers,
        {Severity.CRITICAL: [smtp_server.url(), webhook.url()], Severity.ERROR: [smtp_server.url()], Severity.INFO: []},
    )
    assert n.notify(event(Severity.CRITICAL)) == 2
    assert n.notify(event(Severity.INFO)) == 0
    assert n.notify(event(Severity.WARNING)) == 0
    assert n.flush(WAIT)
    assert [m["Subject"] for m in smtp_server.messages] == ["[CRITICAL] daily_loss_pct > 5 (value 7) FIRING"]
    assert [p["title"] for _, p in webhook.posts] == ["[CRITICAL] daily_loss_pct > 5 (value 7) FIRING"]
    assert n.destinations(Severity.INFO) == [] and len(n.destinations(Severity.CRITICAL)) == 2
    assert n.stats().queued == 2 and n.stats().delivered == 2


def test_a_silenced_event_is_not_delivered(webhook: Webhook, notifiers: list[Notifier]) -> None:
    n = make(notifiers, {Severity.ERROR: [webhook.url()]})
    ev = event()
    muted = AlertEvent(ev.rule, ev.kind, ev.value, ev.at, ev.fired_at, silenced=True, silenced_until=T0 + 60)
    assert n.notify(muted) == 0
    assert n.flush(WAIT) and webhook.posts == []


def test_a_failing_url_is_retried_with_backoff_then_logged_without_blocking_anyone(
    closed_port: int, webhook: Webhook, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    waits: list[float] = []
    in_backoff, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        in_backoff.set()
        release.wait(WAIT)

    dead = f"json://127.0.0.1:{closed_port}/dead"
    n = make(notifiers, {Severity.CRITICAL: [dead, webhook.url()]}, attempts=3, backoff_seconds=0.5, sleep=sleep)
    caplog.set_level(logging.INFO, logger="atb.monitor.notify")
    assert n.notify(event(Severity.CRITICAL)) == 2
    # notify has returned while the dead destination is held in its first backoff wait
    assert in_backoff.wait(WAIT)
    assert n.stats().failed == 0
    # ... and the live destination was not held up by it
    for _ in range(int(WAIT * 100)):
        if webhook.posts:
            break
        threading.Event().wait(0.01)
    assert len(webhook.posts) == 1
    release.set()
    assert n.flush(WAIT)
    assert waits == [0.5, 1.0]
    stats = n.stats()
    assert (stats.delivered, stats.failed, stats.retries) == (1, 1, 2)
    label = f"json://127.0.0.1:{closed_port}/***"
    failures = [r.getMessage() for r in caplog.records if r.name == "atb.monitor.notify" and r.levelno >= logging.ERROR]
    assert failures == [
        f"alert notification to {label} failed after 3 attempts (not accepted or unreachable): "
        "[CRITICAL] daily_loss_pct > 5 (value 7) FIRING"
    ]
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert [m.split("retrying in ")[1] for m in retries] == ["0.5s", "1.0s"]


def test_notify_returns_while_a_delivery_is_in_flight(webhook: Webhook, notifiers: list[Notifier]) -> None:
    webhook.gate.clear()
    n = make(notifiers, {Severity.ERROR: [webhook.url()]})
    assert n.notify(event()) == 1
    assert webhook.entered.wait(WAIT)  # the request is at the receiver, held there
    assert webhook.posts == [] and n.stats().delivered == 0
    assert n.flush(timeout=0.05) is False
    webhook.gate.set()
    assert n.flush(WAIT) and len(webhook.posts) == 1


def test_a_full_queue_sheds_the_oldest_of_the_lowest_severity(
    webhook: Webhook, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    webhook.gate.clear()
    n = make(notifiers, {s: [webhook.url()] for s in Severity}, queue_size=3)
    n.notify(event(Severity.CRITICAL, name="in_flight"))
    assert webhook.entered.wait(WAIT)  # taken off the queue and held at the receiver
    for severity, name in [(Severity.INFO, "a"), (Severity.WARNING, "b"), (Severity.INFO, "c")]:
        assert n.notify(event(severity, name=name)) == 1
    assert n.notify(event(Severity.ERROR, name="d")) == 1  # drops "a", the oldest INFO
    assert n.notify(event(Severity.INFO, name="e")) == 1  # drops "c": INFO again, and older
    for name in ("f", "g"):  # the queue now holds b (WARNING), d (ERROR), e (INFO)
        n.notify(event(Severity.WARNING, name=name))  # f drops e; g drops b, the oldest WARNING
    assert n.notify(event(Severity.INFO, name="h")) == 0  # lower than everything queued: the new one goes
    webhook.gate.set()
    assert n.flush(WAIT)
    names = [p["title"].split("] ")[1].split(":")[0] for _, p in webhook.posts]
    assert names == ["in_flight", "d", "f", "g"]
    assert n.stats().dropped == 5
    dropped = [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records if "queue full" in r.getMessage()]
    assert dropped == ["a", "c", "e", "b", "h"]


def test_close_delivers_what_is_queued_and_refuses_new_messages(
    webhook: Webhook, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    n = make(notifiers, {Severity.ERROR: [webhook.url()]})
    n.notify(event(name="one"))
    n.notify(event(name="two"))
    assert n.close(timeout=WAIT) is True
    assert len(webhook.posts) == 2
    assert n.notify(event(name="three")) == 0
    assert any("notifier is closed" in r.getMessage() for r in caplog.records)


def test_close_gives_up_on_a_stuck_destination_and_says_what_was_lost(
    webhook: Webhook, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture
) -> None:
    webhook.gate.clear()
    n = make(notifiers, {Severity.ERROR: [webhook.url()]})
    n.notify(event(name="held"))
    assert webhook.entered.wait(WAIT)
    n.notify(event(name="queued"))
    assert n.close(timeout=0.1) is False
    assert any("1 undelivered at shutdown" in r.getMessage() for r in caplog.records)
    assert n.stats().dropped == 1
    webhook.gate.set()


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("mailto://user:pass@host", "mailto://***:***@***"),
        (
            "mailto://user:pass@smtp.example.com:587?to=a@b.cd&mode=ssl",
            "mailto://***:***@smtp.example.com:587?to=***&mode=ssl",
        ),
        ("mailtos://alerts@example.com", "mailtos://***@example.com"),
        ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654", "tgram://***/***"),
        ("tgram://bottoken/chatid", "tgram://***/***"),
        ("slack://TokenA/TokenB/TokenC", "slack://***/***/***"),
        ("slack://TokenA/TokenB/TokenC/#general", "slack://***/***/***/#***"),
        ("json://user:pass@host/path?token=x", "json://***:***@***/***?token=***"),
        (
            "json://user:pass@hooks.example.com/path?token=x&method=POST",
            "json://***:***@hooks.example.com/***?token=***&method=POST",
        ),
        ("json://127.0.0.1:8080/", "json://127.0.0.1:8080/"),
        ("jsons://[::1]:8443/hook", "jsons://[::1]:8443/***"),
        ("discord://webhook_id/webhook_token", "discord://***/***"),
        ("not a url with s3cret", "***"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_no_secret_reaches_any_log(
    smtp_server: Mailbox,
    webhook: Webhook,
    closed_port: int,
    notifiers: list[Notifier],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, Apprise's and urllib3's included
    hook = webhook.url("tok3n-in-path/s3g2?token=qs-tok3n-9", auth="hookuser:hook-pw-77@")
    dead = f"json://deaduser:dead-pw-88@127.0.0.1:{closed_port}/dead-tok3n?apikey=dead-key-99"
    n = make(
        notifiers,
        {Severity.CRITICAL: [smtp_server.url(), hook, dead]},
        attempts=2,
        sleep=lambda _s: None,
    )
    n.notify(event(Severity.CRITICAL))
    assert n.flush(WAIT) and n.close(WAIT)
    assert len(smtp_server.messages) == 1 and len(webhook.posts) == 1 and n.stats().failed == 1
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    # the secrets were where third-party loggers print them: request paths, URLs
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert any(r.name == "apprise" for r in caplog.records)
    for secret in (
        SMTP_PASSWORD,
        "hook-pw-77",
        "tok3n-in-path",
        "qs-tok3n-9",
        "dead-pw-88",
        "dead-tok3n",
        "dead-key-99",
    ):
        assert secret not in logged, secret
    assert webhook.posts[0][0] == "/tok3n-in-path/s3g2"  # and yet it was delivered to the real path


def test_an_unusable_url_is_refused_at_construction_without_showing_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UserInputError, match=r"Apprise cannot use nosuchscheme://\*\*\*:\*\*\*@") as info:
        Notifier({Severity.ERROR: ["nosuchscheme://me:hunter22@example.com/x"]})
    assert "hunter22" not in str(info.value) and "hunter22" not in caplog.text
    assert not any(isinstance(f, SecretScrubber) for f in logging.getLogger("apprise").filters)  # detached again


def test_missing_apprise_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # makes `import apprise` raise ImportError
    with pytest.raises(
        MissingExtraError, match=r"alert notifications needs the optional package 'apprise'.*atb\[api\]"
    ):
        Notifier({Severity.ERROR: ["json://127.0.0.1:1/x"]})


def test_importing_the_monitor_package_stays_light() -> None:
    code = (
        "import sys, atb.monitor, atb.monitor.notify, atb.monitor.alerts\n"
        "heavy = [m for m in ('apprise', 'prometheus_client', 'tenacity', 'psutil', 'requests') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
