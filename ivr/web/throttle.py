"""Login throttling per user name and per client address, stored in the database.

Why it looks like this: the throttle used to key on `request.remote_addr` alone, so behind the
reverse proxy the README recommends every login came from the proxy's address, and 20 failures by
anyone locked everyone out. Now the client address is the one the trusted proxies report
(`web_trusted_proxies`, applied with Werkzeug's ProxyFix in `create_app`; 0 means the app is
reached directly and X-Forwarded-For is ignored, as anyone can send it), and two separate limits
apply within a sliding window:

* an address with LOGIN_MAX_FAILS_IP failures is blocked, whatever user name it tries, and only
  that address;
* a user name with LOGIN_MAX_FAILS_USER failures is locked for the window, whatever address tries
  it, so guessing one password from many addresses is slow too.

Failures are counted from `login_attempts` (shared by every web process, kept across restarts);
a refused (throttled) try is not counted again, so a lock ends one window after the last failure
that caused it.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from flask import current_app, request

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of

log = logging.getLogger(__name__)
MAX_TRUSTED_PROXIES = 5


@dataclass(frozen=True)
class Block:
    scope: str            # "address" or "user"
    retry_after_s: int    # when the oldest failure counted leaves the window


def trusted_proxies(value) -> int:
    """The `web_trusted_proxies` setting checked: a whole number 0..MAX_TRUSTED_PROXIES."""
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError(f"web_trusted_proxies: {value!r} is not a whole number (0 when no proxy)") from None
    if not 0 <= n <= MAX_TRUSTED_PROXIES:
        raise ValueError(f"web_trusted_proxies: {n} is outside 0..{MAX_TRUSTED_PROXIES}")
    return n


def client_address() -> str:
    """The client's address (after ProxyFix applied the trusted X-Forwarded-For hops)."""
    return (request.remote_addr or "?")[:64]


def _iso(d: dt.datetime) -> str:
    return d.isoformat(timespec="milliseconds")


def blocked(db: Store | HasStore, ip: str, username: str) -> Block | None:
    cfg = current_app.config
    window = dt.timedelta(seconds=cfg["LOGIN_WINDOW_S"])
    now = dt.datetime.now(dt.timezone.utc)
    since = _iso(now - window)
    for scope, column, key, limit in (("address", "ip", ip, cfg["LOGIN_MAX_FAILS_IP"]),
                                      ("user", "username", username, cfg["LOGIN_MAX_FAILS_USER"])):
        if not key:
            continue
        rows = store_of(db).query(f"SELECT at FROM login_attempts WHERE {column} = :key AND ok = 0 "
                                  f"AND at >= :since ORDER BY at DESC LIMIT :limit",
                                  {"key": key, "since": since, "limit": limit})
        if len(rows) >= limit:
            oldest = dt.datetime.fromisoformat(rows[-1]["at"])
            retry = max(1, int((oldest + window - now).total_seconds()) + 1)
            log.warning("login throttled: %s limit reached (retry in %ss)", scope, retry)
            return Block(scope, retry)
    return None


def record(db: Store | HasStore, ip: str, username: str, ok: bool) -> None:
    store_of(db).insert("login_attempts", {"at": now_iso(), "ip": ip, "username": username[:64], "ok": int(ok)})
