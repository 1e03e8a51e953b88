"""Small helpers shared by the pages: local time, durations, promise status, borrower access, and
the few SQL pieces the pages share (one row, an index hint that only SQLite has)."""
from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import abort, current_app, g

from ..db.store import HasStore, Store, store_of
from . import audit, privacy

# attempts.state values of a call not yet ended, as SQL; queries name `indexed_by(db, "attempts_state")`
# because with ANALYZE statistics (few distinct states) SQLite would rather scan every attempt
OPEN_STATES = "('queued', 'dialing', 'ringing', 'answered', 'in_dialog')"


def indexed_by(db: Store | HasStore, index: str) -> str:
    """`INDEXED BY <index>` on SQLite, nothing on PostgreSQL (which has no index hints, and whose
    planner uses its own statistics): put it right after the table's name (or alias) in FROM."""
    return f"INDEXED BY {index}" if store_of(db).dialect == "sqlite" else ""


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


def current_escalation_borrowers(db: Store | HasStore, user) -> set[int]:
    """Borrowers on the agent's open escalations."""
    names = agent_names(user)
    if not names:  # an empty IN list of text is refused on PostgreSQL
        return set()
    rows = store_of(db).query("SELECT borrower_id FROM escalations WHERE closed_at IS NULL AND agent IN :names",
                              {"names": names})
    return {r["borrower_id"] for r in rows if r["borrower_id"] is not None}


def borrower_view(db: Store | HasStore, borrower: dict, contacts: list[dict], *, purpose: str) -> privacy.View:
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


def by_id(db: Store | HasStore, table: str, row_id: int) -> dict | None:
    """The row of `table` (a name from our code, never from a request) whose `id` is `row_id`, or None.
    For ids from a URL or a form: SQLAlchemy binds `Store.get`'s key as the column's INTEGER, and an
    id past 2**31 - 1 (PostgreSQL's SERIAL) is then an error, not "no such row"; this plain SQL
    parameter compares as a bigint and finds nothing, on both engines."""
    return store_of(db).one(f"SELECT * FROM {table} WHERE id = :id", {"id": row_id})
