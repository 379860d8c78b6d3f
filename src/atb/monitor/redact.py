"""Keeping the secrets of Apprise URLs out of every log line.

Apprise URLs carry credentials in every position: ``mailto://user:pass@host``,
``tgram://bottoken/chatid`` (the host is the token), ``slack://TokenA/TokenB/TokenC``,
``json://host/path?token=x``. Our own log lines name a destination only by `redact_url`. That
is not enough: Apprise logs the request URL (``Telegram POST URL: https://api.telegram.org/bot<token>/``)
and urllib3 logs the request path, both at DEBUG. `SecretScrubber` is a logging filter the
notifier puts on those loggers to mask the secret parts of its URLs in whatever they print.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import unquote

__all__ = ["MASK", "THIRD_PARTY_LOGGERS", "SecretScrubber", "redact_url", "url_secrets"]

MASK = "***"
SAFE_QUERY_KEYS = frozenset({"format", "overflow", "mode", "method", "verify", "rto", "cto", "emojis", "tz"})
"""Query options that configure delivery and never hold a credential; every other value is masked."""
MIN_SECRET = 4
"""URL parts shorter than this are not scrubbed from free text: masking every "x" would garble logs for nothing."""
THIRD_PARTY_LOGGERS = (
    "apprise",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)
"""Loggers that print request URLs (logger filters do not apply to child loggers, hence each module)."""

_HOSTNAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


class _Parts(NamedTuple):
    scheme: str
    users: list[str]
    hostport: str
    public: bool
    segments: list[str]
    pairs: list[tuple[str, str]]
    fragment: bool


def _is_public_host(hostport: str) -> bool:
    """A real host name or address (shown), as opposed to a token in the host position (``tgram://TOKEN/..``)."""
    if hostport.startswith("["):  # [IPv6]:port
        host = hostport.partition("]")[0] + "]"
    else:
        name, sep, port = hostport.rpartition(":")
        host = name if sep and port.isdigit() else hostport
    if host == "localhost" or _HOSTNAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _parts(url: str) -> _Parts | None:
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    rest, hash_sep, _fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    return _Parts(
        scheme=scheme,
        users=userinfo.split(":", 1) if at else [],
        hostport=hostport,
        public=_is_public_host(hostport),
        segments=path.split("/") if slash else [],
        pairs=[(k, v) for k, _, v in (item.partition("=") for item in query.split("&") if item)],
        fragment=bool(hash_sep),
    )


def redact_url(url: str) -> str:
    """`url` safe to log: scheme, real host names and ports, path shape and query keys stay; secrets go.

    ``mailto://user:pass@smtp.example.com:587?to=a@b.c&mode=ssl`` →
    ``mailto://***:***@smtp.example.com:587?to=***&mode=ssl``; ``tgram://123:ABC/456`` →
    ``tgram://***/***``. A host that is not a host name or IP address is taken for a token.
    """
    p = _parts(url)
    if p is None:
        return MASK
    out = f"{p.scheme}://"
    if p.users:
        out += ":".join(MASK for _ in p.users) + "@"
    out += p.hostport if p.public else MASK
    if p.segments:
        out += "/" + "/".join(MASK if seg else "" for seg in p.segments)
    if p.pairs:
        out += "?" + "&".join(f"{k}={v if k.lower() in SAFE_QUERY_KEYS else MASK}" for k, v in p.pairs)
    return out + (f"#{MASK}" if p.fragment else "")


def url_secrets(url: str) -> set[str]:
    """The parts of `url` that `redact_url` masks, raw and percent-decoded (at least `MIN_SECRET` long)."""
    p = _parts(url)
    if p is None:
        return {url}
    raw = [*p.users, *p.segments, *(v for k, v in p.pairs if k.lower() not in SAFE_QUERY_KEYS)]
    if not p.public:
        raw.append(p.hostport)
    return {s for r in raw for s in (r, unquote(r)) if len(s) >= MIN_SECRET}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `MASK`, longest first (a secret may contain a shorter one)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class SecretScrubber(logging.Filter):
    """Masks the secret parts of some URLs in every record of the loggers it is attached to."""

    def __init__(self, urls: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for url in urls for s in url_secrets(url)}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        return True

    def attach(self, names: Iterable[str] = THIRD_PARTY_LOGGERS) -> None:
        for name in names:
            logging.getLogger(name).addFilter(self)

    def detach(self, names: Iterable[str] = THIRD_PARTY_LOGGERS) -> None:
        for name in names:
            logging.getLogger(name).removeFilter(self)
