"""Local delivery targets for the notifier tests: an SMTP server and a webhook receiver on 127.0.0.1.

Both listen on an ephemeral port chosen by the OS, so parallel workers never collide, and both
record what they received for the tests to compare with what was sent.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SMTP_USER = "alerts"
SMTP_PASSWORD = "s3cret-smtp-pw"


@dataclass
class Mailbox:
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[bytes, bytes, bool]] = field(default_factory=list)

    def url(self, **query: str) -> str:
        args = {"from": "atb@example.com", "to": "ops@example.com", **query}
        qs = "&".join(f"{k}={v}" for k, v in args.items())
        return f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}?{qs}"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """aiosmtpd on its own event loop thread; AUTH is offered without TLS and checks the credentials."""
    pytest.importorskip("aiosmtpd", reason="the SMTP test server is a dev dependency")
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's name)
            raw = envelope.original_content or b""
            box.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
            return "250 OK"

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if isinstance(data, LoginPassword):
            box.logins.append((data.login, data.password, ok))
        return AuthResult(success=ok)

    loop = asyncio.new_event_loop()

    def factory() -> SMTP:
        return SMTP(Handler(), authenticator=authenticator, auth_require_tls=False, hostname="localhost", loop=loop)

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    box.port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, name="test-smtp", daemon=True)
    thread.start()
    try:
        yield box
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


@dataclass
class Webhook:
    port: int = 0
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    """Requests wait on this before they are answered: cleared, it holds every delivery in flight."""
    entered: threading.Event = field(default_factory=threading.Event)
    """Set when a request arrived (before it waits on `gate`)."""

    def url(self, path: str = "hooks/atb", auth: str = "") -> str:
        return f"json://{auth}127.0.0.1:{self.port}/{path}"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.gate.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hook.entered.set()
            hook.gate.wait(30)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.posts.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="test-webhook", daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.gate.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
