"""The notifier's configuration: a TOML file naming a sender per channel.

    [notify]
    max_tries = 5
    base_delay_s = 30
    [sms]                       # see ivr.notify.aliyun, or provider = "webhook"
    provider = "aliyun"
    ...
    [wechat]
    provider = "webhook"
    url = "https://relay.example/wechat"
    secret = "..."

The outbox's "webhook" channel (call results for the webhooks configured in the web app) needs no
section: every notifier delivers it, with each webhook's URL and secret from the database.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from .notifier import Notifier


def build_sender(channel: str, section: dict):
    provider = section.get("provider")
    if provider == "webhook":
        from .webhook import WebhookSender
        return WebhookSender(section["url"], section["secret"], name=f"webhook-{channel}")
    if provider == "aliyun":
        from .aliyun import AliyunSmsSender
        return AliyunSmsSender(endpoint=section["endpoint"], access_key_id=section["access_key_id"],
                               access_key_secret=section["access_key_secret"], sign_name=section["sign_name"],
                               templates=section.get("templates", {}), protocol=section.get("protocol", "https"))
    raise ValueError(f"[{channel}] unknown provider {provider!r} (known: webhook, aliyun)")


def load_notifier(db, path: str | Path | None, clock=None) -> Notifier | None:
    """The notifier the TOML file at `path` describes (None without a file), sending from the outbox of
    `db`: the handle `ivr.db.connect.open_database(settings)` gives, on SQLite or PostgreSQL."""
    if not path:
        return None
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    senders = {ch: build_sender(ch, data[ch]) for ch in ("sms", "wechat") if ch in data}
    from .webhook import EventWebhookSender
    senders["webhook"] = EventWebhookSender(db)
    opts = data.get("notify", {})
    return Notifier(db, senders, max_tries=int(opts.get("max_tries", 5)),
                    base_delay_s=float(opts.get("base_delay_s", 30)), max_delay_s=float(opts.get("max_delay_s", 3600)),
                    clock=clock)
