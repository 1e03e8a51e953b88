"""Per-borrower risk flags and an explainable level (low / medium / high + the reasons).

Flags, each with its evidence (attempt ids, dates), from what the dialer and dialog server wrote:
  unreachable      >= 3 unanswered attempts on own numbers in the last 14 days and none answered,
                   or every own number invalid                                      (weight 2)
  false-info       a number turned out to be a wrong person, or ID digits did not match
                   (dialogs.result wrong_person / id_mismatch)                        (weight 3)
  refused          the borrower refused to pay (dialogs.result refused)               (weight 2)
  dispute          the borrower disputes the debt                                     (weight 1)
  hardship         the borrower reports hardship                                      (weight 1)
  broken-promise   a promise (date, amount) whose date has passed without payments of at least
                   the amount between the promise and its date + 1 day grace          (weight 3 each, max 2)
Score = sum of weights; level: high >= 5, medium >= 2, else low.

Promises come from the `promises` table (0003_conversation.sql, written by the dialog server) and,
for calls without a row there, from the answers' slots of calls whose dialog result is promise
(promise_date / promise_amount, or date / amount on the plan step).

Read through the Store of the handle given (`open_database`'s), on SQLite or PostgreSQL.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from ..db.store import HasStore, Store, store_of

WEIGHTS = {"unreachable": 2, "false-info": 3, "refused": 2, "dispute": 1, "hardship": 1, "broken-promise": 3}
LEVELS = ((5, "high"), (2, "medium"), (0, "low"))
Database = Store | HasStore


@dataclasses.dataclass
class Reason:
    flag: str
    detail: str
    weight: int


@dataclasses.dataclass
class Risk:
    borrower_id: int
    level: str
    score: int
    reasons: list[Reason]

    def as_dict(self) -> dict[str, Any]:
        return {"borrower_id": self.borrower_id, "level": self.level, "score": self.score,
                "reasons": [dataclasses.asdict(r) for r in self.reasons]}


def promises(db: Database, borrower_id: int) -> list[dict[str, Any]]:
    """The borrower's promises: rows of `promises` (0003, written by the dialog server), plus, for
    calls that have no such row, what the answers' slots say."""
    store = store_of(db)
    out = []
    recorded = set()
    for r in store.query("SELECT * FROM promises WHERE borrower_id = :b ORDER BY created_at, id", {"b": borrower_id}):
        recorded.add(r["attempt_id"])
        if r["promise_date"]:
            out.append({"attempt_id": r["attempt_id"], "promise_date": r["promise_date"], "amount": r["amount"],
                        "created_at": r["created_at"]})
    rows = store.query("SELECT a.id, a.created_at, g.result FROM attempts a JOIN dialogs g ON g.attempt_id = a.id "
                       "WHERE a.borrower_id = :b AND g.result IN ('promise', 'promise_unconfirmed') "
                       "ORDER BY a.created_at, a.id", {"b": borrower_id})
    for a in rows:
        if a["id"] in recorded:
            continue
        date = amount = None
        for ans in store.query("SELECT * FROM answers WHERE attempt_id = :a ORDER BY seq", {"a": a["id"]}):
            slots = json.loads(ans["slots"] or "{}")
            date = slots.get("promise_date") or (slots.get("date") if ans["intent"] == "promise" else None) or date
            amount = slots.get("promise_amount") or (slots.get("amount") if ans["intent"] == "promise" else None) or amount
        if date:
            out.append({"attempt_id": a["id"], "promise_date": date, "amount": amount, "created_at": a["created_at"]})
    return out


def assess(db: Database, borrower_id: int, today: dt.date | None = None) -> Risk:
    today = today or dt.date.today()
    store = store_of(db)
    reasons: list[Reason] = []
    borrower = store.get("borrowers", borrower_id)
    if borrower is None:
        raise KeyError(f"no borrower {borrower_id}")

    b = {"b": borrower_id}
    own = store.query("SELECT * FROM contacts WHERE borrower_id = :b AND kind != 'third_party' ORDER BY id", b)
    since = (today - dt.timedelta(days=14)).isoformat()
    recent = store.query(
        "SELECT a.* FROM attempts a LEFT JOIN contacts c ON c.id = a.contact_id WHERE a.borrower_id = :b "
        "AND a.state = 'ended' AND a.created_at >= :since AND (c.kind IS NULL OR c.kind != 'third_party')",
        {**b, "since": since})
    answered = [a for a in recent if a["answered_at"] or a["outcome"] == "answered"]
    if own and all(c["status"] in ("invalid", "removed") for c in own):
        reasons.append(Reason("unreachable", f"all {len(own)} own number(s) invalid", WEIGHTS["unreachable"]))
    elif len(recent) - len(answered) >= 3 and not answered:
        reasons.append(Reason("unreachable", f"{len(recent)} unanswered attempts in 14 days, none answered",
                              WEIGHTS["unreachable"]))

    results = store.query("SELECT g.result, a.id, a.created_at FROM dialogs g JOIN attempts a ON a.id = g.attempt_id "
                          "WHERE a.borrower_id = :b ORDER BY a.created_at, a.id", b)
    wrong = [c for c in own if c["status"] == "wrong_person"]
    false_info = [r for r in results if r["result"] in ("wrong_person", "id_mismatch")]
    if false_info or wrong:
        bits = [f"{r['result']} on attempt {r['id']}" for r in false_info] + [f"number {c['phone']} is a wrong person"
                                                                             for c in wrong]
        reasons.append(Reason("false-info", "; ".join(dict.fromkeys(bits)), WEIGHTS["false-info"]))
    for result, flag in (("refused", "refused"), ("dispute", "dispute"), ("hardship", "hardship")):
        hits = [r for r in results if r["result"] == result]
        if hits:
            reasons.append(Reason(flag, f"{result} on {len(hits)} call(s), last {hits[-1]['created_at'][:10]}",
                                  WEIGHTS[flag]))

    pays = store.query("SELECT * FROM payments WHERE borrower_id = :b", b)
    broken = []
    for p in promises(db, borrower_id):
        try:
            due = dt.date.fromisoformat(str(p["promise_date"])[:10])
        except ValueError:
            continue
        if due + dt.timedelta(days=1) >= today:
            continue  # not yet due (one day's grace)
        start = str(p["created_at"])[:10]
        paid = sum(x["paid_amount"] for x in pays if start <= str(x["paid_at"])[:10] <= (due + dt.timedelta(days=1)).isoformat())
        need = int(p["amount"] or borrower["amount_due"] or 1)
        if paid < need:
            broken.append(f"promised {need} by {due} (attempt {p['attempt_id']}), paid {paid}")
    for detail in broken[:2]:
        reasons.append(Reason("broken-promise", detail, WEIGHTS["broken-promise"]))

    score = sum(r.weight for r in reasons)
    level = next(name for floor, name in LEVELS if score >= floor)
    return Risk(borrower_id, level, score, reasons)


def assess_all(db: Database, today: dt.date | None = None) -> list[Risk]:
    return [assess(db, r["id"], today) for r in store_of(db).query("SELECT id FROM borrowers ORDER BY id")]
