"""A generic HTTPS webhook notifier: the message as a JSON POST, signed with HMAC-SHA256.

Headers:
    X-Huifang-Timestamp:  seconds since the epoch
    X-Huifang-Signature:  sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    Idempotency-Key:      the outbox idempotency key (the receiver must de-duplicate on it)
The receiver verifies with `verify()`. 2xx is success; 408, 429 and 5xx are retried; other 4xx
are final. Plain http is refused except to a loopback address (tests, a local relay).

Two senders share `post_signed`: `WebhookSender` relays SMS/WeChat messages to one configured URL;
`EventWebhookSender` delivers the outbox's "webhook" channel (call results the web app queued) to
the lender webhook each row names, with that webhook's own secret.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from ..db.store import store_of
from .notifier import Delivery

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, max_age_s: int = 300,
           now: float | None = None) -> bool:
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= max_age_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookSender:
    def __init__(self, url: str, secret: str, *, name: str = "webhook", timeout_s: float = 10.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ValueError(f"webhook url must be https (plain http only to loopback): {url}")
        if not secret:
            raise ValueError("webhook secret must not be empty")
        self.url, self.secret, self.name, self.timeout_s = url, secret, name, timeout_s

    def payload(self, message: dict) -> dict:
        return {"id": message["id"], "idempotency_key": message["idempotency_key"], "channel": message["channel"],
                "to": message["to_address"], "locale": message["locale"], "template": message["template"],
                "params": json.loads(message.get("params") or "{}"), "text": message["body"],
                "borrower_id": message.get("borrower_id"), "campaign_id": message.get("campaign_id")}

    def send(self, message: dict) -> Delivery:
        body = json.dumps(self.payload(message), ensure_ascii=False, sort_keys=True).encode("utf-8")
        return post_signed(self.url, self.secret, body, message["idempotency_key"], timeout_s=self.timeout_s)


class EventWebhookSender:
    """The outbox's event channel: POST the row's JSON body to webhook <to_address> of table `webhooks`."""

    def __init__(self, db, *, name: str = "webhook-events", timeout_s: float = 10.0):
        """`db`: the handle `ivr.db.connect.open_database` gives (SQLite or PostgreSQL)."""
        self.db, self.name, self.timeout_s = db, name, timeout_s

    def send(self, message: dict) -> Delivery:
        hook = store_of(self.db).one("SELECT url, secret, active FROM webhooks WHERE id = :id",
                                     {"id": int(message["to_address"])})
        if hook is None or not hook["active"]:
            return Delivery(ok=False, retryable=False, error=f"webhook {message['to_address']} removed or disabled")
        key = json.loads(message.get("params") or "{}").get("idempotency_key") or message["idempotency_key"]
        return post_signed(hook["url"], hook["secret"], message["body"].encode("utf-8"), key,
                           timeout_s=self.timeout_s)


def post_signed(url: str, secret: str, body: bytes, idempotency_key: str, *, timeout_s: float = 10.0) -> Delivery:
    """One signed JSON POST; the result as a Delivery (retryable unless a final 4xx)."""
    ts = str(int(time.time()))
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "X-Huifang-Timestamp": ts,
        "X-Huifang-Signature": sign(secret, ts, body), "Idempotency-Key": idempotency_key,
        "User-Agent": "huifang-notify/1"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            text = resp.read(4096).decode("utf-8", "replace")
            provider_id = None
            try:
                provider_id = str(json.loads(text).get("id")) if text else None
            except (ValueError, AttributeError):
                pass
            return Delivery(ok=True, status_code=resp.status, provider_id=provider_id, response=text)
    except urllib.error.HTTPError as exc:
        text = exc.read(4096).decode("utf-8", "replace")
        retryable = exc.code in (408, 429) or exc.code >= 500
        return Delivery(ok=False, status_code=exc.code, response=text, error=f"HTTP {exc.code}",
                        retryable=retryable)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return Delivery(ok=False, error=f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
