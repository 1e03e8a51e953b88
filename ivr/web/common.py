"""Small helpers shared by the pages: local time, durations, promise status, borrower access."""
from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import abort, current_app, g

from . import audit, privacy

# attempts.state values of a call not yet ended, as SQL; queries name `INDEXED BY attempts_state`
# because with ANALYZE statistics (few distinct states) SQLite would rather scan every attempt
OPEN_STATES = "('queued', 'dialing', 'ringing', 'answered', 'in_dialog')"


@lru_cache(maxsize=64)
def tz(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Asia/Shanghai")
    except Exception:
        return ZoneInfo("Asia/Shanghai")


def parse(ts) -> dt.datetime | None:
    if not ts:
        return None
    try:
        d = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)


def local(ts, zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    d = parse(ts)
    if d is None:
        return ""
    return d.astimezone(tz(zone or current_app.config["DISPLAY_TZ"])).strftime(fmt)


def today_local() -> dt.date:
    """Today in the app's display time zone (a Beijing user's 'today' at 01:00 is not UTC's)."""
    return dt.datetime.now(tz(current_app.config["DISPLAY_TZ"])).date()


def duration(start, end=None) -> str:
    a = parse(start)
    if a is None:
        return ""
    b = parse(end) or dt.datetime.now(dt.timezone.utc)
    s = max(0, int((b - a).total_seconds()))
    return f"{s // 60}:{s % 60:02d}"


def loads(text, default=None):
    try:
        return json.loads(text) if text else default
    except (TypeError, ValueError):
        return default


def promise_status(p: dict, payments: list[dict], amount_due, today: dt.date | None = None) -> tuple[str, int]:
    """('kept' | 'broken' | 'pending' | 'undated', paid in the promise's window)."""
    today = today or dt.date.today()
    try:
        due = dt.date.fromisoformat(str(p["promise_date"])[:10])
    except (TypeError, ValueError):
        return "undated", 0
    start = str(p["created_at"])[:10]
    end = (due + dt.timedelta(days=1)).isoformat()
    paid = sum(x["paid_amount"] for x in payments if start <= str(x["paid_at"])[:10] <= end)
    need = int(p["amount"] or amount_due or 1)
    if paid >= need:
        return "kept", paid
    return ("pending" if due + dt.timedelta(days=1) >= today else "broken"), paid


def agent_names(user) -> list[str]:
    """The names escalations.agent holds for this web account: its endpoint (users.agent_ext), which
    the dialer writes from the queue's AgentConnect event. Not the user name: an endpoint is its own
    namespace, and a user name that happens to equal another agent's endpoint must not see its calls."""
    return [user["agent_ext"]] if user["agent_ext"] else []


def current_escalation_borrowers(db, user) -> set[int]:
    """Borrowers on the agent's open escalations."""
    names = agent_names(user)
    if not names:
        return set()
    rows = db.query(f"SELECT borrower_id FROM escalations WHERE closed_at IS NULL AND agent IN "
                    f"({','.join('?' * len(names))})", names)
    return {r["borrower_id"] for r in rows if r["borrower_id"] is not None}


def borrower_view(db, borrower: dict, contacts: list[dict], *, purpose: str) -> privacy.View:
    """How the signed-in user may see this borrower (403 when not at all); unmasked views audited."""
    user = g.user
    role = user["role"]
    if role == "agent":
        if borrower["id"] not in current_escalation_borrowers(db, user):
            abort(403)
        unmasked = True
    elif role in ("admin", "supervisor"):
        unmasked = True
    elif role == "auditor":
        unmasked = bool(user["can_unmask"])
    else:
        unmasked = False
    phones = [c["phone"] for c in contacts]
    if unmasked:
        audit.log(db, "view_unmasked", "borrower", borrower["id"], {"purpose": purpose})
    return privacy.View(unmasked, borrower, phones)


def one(db, sql, params=()):
    rows = list(db.query(sql, params))
    return rows[0] if rows else None
