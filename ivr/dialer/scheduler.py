"""The scheduler: from the database, the due borrowers of every running campaign with the facts
the policy needs; the policy's plan; refusals written (rate-limited) and targets pushed to the
moment their refusal stops applying, so a refused borrower is not looked at again every tick.

Everything is counted from the `attempts` table (all campaigns, all runs of the controller), so
the caps hold across campaigns and restarts. "Today" is the borrower's local calendar day.

`now` is always real time: it is what gets stored and compared with stored times. Only the
policy's decision sees `now + policy_shift` (zero in production; `ivr demo` and tests shift it
in-process, see `clock`); a refusal's "until" and the start of the borrower's day are moved back
by the same shift, so every time stored or compared with stored times stays real.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import time
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from .. import metrics
from . import target_state
from .clock import NO_SHIFT, iso
from .policy import Candidate, ContactFacts, Dial, Policy, Refuse, plan

FETCH_FACTOR = 4  # due targets fetched per free slot (the policy may refuse some)


def running_campaigns(db: Database, now: dt.datetime) -> list[dict]:
    stamp = iso(now)
    return [c for c in db.query("SELECT * FROM campaigns WHERE state = 'running' ORDER BY id")
            if (not c["schedule_start"] or c["schedule_start"] <= stamp)
            and (not c["schedule_end"] or c["schedule_end"] > stamp)]


def policy_of(campaign: dict) -> Policy:
    return Policy.from_dict(json.loads(campaign["policy"] or "{}"))


def local_day_start(now: dt.datetime, tz_name: str, policy_shift: dt.timedelta = NO_SHIFT) -> str:
    """The real time at which the borrower's local day (as the policy sees it) began."""
    local = (now + policy_shift).astimezone(ZoneInfo(tz_name))
    return iso(dt.datetime.combine(local.date(), dt.time(0), tzinfo=local.tzinfo) - policy_shift)


def due_targets(db: Database, campaign: dict, now: dt.datetime, limit: int) -> list[dict]:
    """Pending targets whose next_at has come: fresh ones first, then retries, oldest first."""
    out: list[dict] = []
    for retry in (0, 1):
        if len(out) >= limit:
            break
        out += list(db.query(
            "SELECT t.*, b.timezone, b.locale FROM campaign_targets t JOIN borrowers b ON b.id = t.borrower_id "
            "WHERE t.campaign_id = ? AND t.status = 'pending' AND t.retry = ? AND t.next_at <= ? "
            "ORDER BY t.next_at, t.borrower_id LIMIT ?", [campaign["id"], retry, iso(now), limit - len(out)]))
    return out


def _in(values) -> str:
    return ",".join("?" * len(values))


def gather(db: Database, targets: list[dict], campaigns: dict[int, dict], now: dt.datetime,
           in_flight: set[int] = frozenset(), policy_shift: dt.timedelta = NO_SHIFT) -> list[Candidate]:
    """The policy's facts for each due target, with a few batched queries."""
    if not targets:
        return []
    borrowers = sorted({t["borrower_id"] for t in targets})
    day_start = {t["borrower_id"]: local_day_start(now, t["timezone"], policy_shift) for t in targets}
    since = min(day_start.values())
    contacts: dict[int, list[dict]] = {}
    for row in db.query(f"SELECT * FROM contacts WHERE borrower_id IN ({_in(borrowers)}) ORDER BY position, id",
                        borrowers):
        contacts.setdefault(row["borrower_id"], []).append(row)
    phones = sorted({c["phone"] for cs in contacts.values() for c in cs})
    contact_ids = sorted({c["id"] for cs in contacts.values() for c in cs})
    dnc = {r["number"] for r in db.query(f"SELECT number FROM dnc WHERE number IN ({_in(phones)})", phones)} \
        if phones else set()
    by_number: dict[str, list[dict]] = {}
    if phones:
        for r in db.query(f"SELECT number, created_at, answered_at, outcome FROM attempts "
                          f"WHERE number IN ({_in(phones)}) AND created_at >= ?", phones + [since]):
            by_number.setdefault(r["number"], []).append(r)
    by_borrower: dict[int, list[dict]] = {}
    for r in db.query(f"SELECT borrower_id, created_at, answered_at, outcome FROM attempts "
                      f"WHERE borrower_id IN ({_in(borrowers)}) AND created_at >= ?", borrowers + [since]):
        by_borrower.setdefault(r["borrower_id"], []).append(r)
    on_call = {r["borrower_id"] for r in db.query(
        f"SELECT DISTINCT borrower_id FROM attempts WHERE state != 'ended' AND borrower_id IN ({_in(borrowers)})",
        borrowers)}
    answered_contacts = {r["contact_id"] for r in db.query(
        f"SELECT DISTINCT contact_id FROM attempts WHERE contact_id IN ({_in(contact_ids)}) "
        f"AND (answered_at IS NOT NULL OR outcome = 'answered')", contact_ids)} if contact_ids else set()

    def connected(r):
        return r["answered_at"] is not None or r["outcome"] == "answered"

    out = []
    for t in targets:
        b, start = t["borrower_id"], day_start[t["borrower_id"]]
        facts = []
        for c in contacts.get(b, []):
            today = [r for r in by_number.get(c["phone"], []) if r["created_at"] >= start]
            facts.append(ContactFacts(
                contact_id=c["id"], phone=c["phone"], kind=c["kind"], status=c["status"], position=c["position"],
                dnc=c["phone"] in dnc, unanswered_today=sum(1 for r in today if not connected(r)),
                attempts_today=len(today), answered_ever=1 if c["id"] in answered_contacts else 0))
        campaign = campaigns[t["campaign_id"]]
        out.append(Candidate(
            campaign_id=t["campaign_id"], borrower_id=b, timezone=t["timezone"],
            locale=t["locale"] or campaign["locale_default"], flow=campaign["flow"], attempts=t["attempts"],
            next_at=t["next_at"], fails_in_row=t["fails_in_row"], on_call=b in on_call or b in in_flight,
            connected_today=sum(1 for r in by_borrower.get(b, []) if r["created_at"] >= start and connected(r)),
            contacts=tuple(facts)))
    return out


def record_refusals(db: Database, refusals: list[Refuse], now: dt.datetime, policies: dict[int, Policy]) -> int:
    """Push each refused target to `until` (or close it), and log the refusal unless the same
    reason was logged for that borrower within the policy's refusal_log_interval_s. Returns the
    number of rows logged."""
    logged = 0
    stamp = iso(now)
    for r in refusals:
        metrics.REFUSALS.labels(r.reason).inc()   # every decision (the log below is rate-limited)
        if r.until is None:
            target_state.close(db, r.campaign_id, r.borrower_id, r.reason, now)
        else:
            target_state.defer(db, r.campaign_id, r.borrower_id, r.until, now)
        interval = policies[r.campaign_id].refusal_log_interval_s
        recent = db.execute("SELECT 1 FROM dial_refusals WHERE borrower_id = ? AND reason = ? AND campaign_id = ? "
                            "AND at > ? LIMIT 1", [r.borrower_id, r.reason, r.campaign_id,
                                                   iso(now - dt.timedelta(seconds=interval))]).fetchone()
        if recent:
            continue
        db["dial_refusals"].insert({"at": stamp, "campaign_id": r.campaign_id, "borrower_id": r.borrower_id,
                                    "contact_id": r.contact_id, "number": r.number, "reason": r.reason,
                                    "detail": r.detail, "until": iso(r.until) if r.until else None})
        logged += 1
    return logged


@dataclasses.dataclass
class TickResult:
    dials: list[Dial]
    refusals: list[Refuse]
    considered: int
    seconds: float
    finished_targets: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)


def tick(db: Database, now: dt.datetime, budgets: dict[int, int], *, in_flight: set[int] = frozenset(),
         global_slots: int | None = None, campaigns: list[dict] | None = None,
         policy_shift: dt.timedelta = NO_SHIFT, calendar=None) -> TickResult:
    """One scheduling decision: read, decide (pure), write the refusals. The caller places the dials.

    `now` is real time; the policy decides at `now + policy_shift` (see the module docstring)."""
    started = time.perf_counter()
    campaigns = running_campaigns(db, now) if campaigns is None else campaigns
    by_id = {c["id"]: c for c in campaigns}
    policies = {c["id"]: policy_of(c) for c in campaigns}
    targets = []
    for c in campaigns:
        slots = budgets.get(c["id"], 0)
        if slots > 0:
            targets += due_targets(db, c, now, max(slots * FETCH_FACTOR, 8))
    candidates = gather(db, targets, by_id, now, set(in_flight), policy_shift)
    dials, refusals = plan(candidates, now + policy_shift, policies, budgets, global_slots, calendar)
    if policy_shift:
        refusals = [dataclasses.replace(r, until=r.until - policy_shift) if r.until else r for r in refusals]
    finished = [(r.campaign_id, r.borrower_id, r.reason) for r in refusals if r.until is None]
    with db.conn:
        db.execute("BEGIN IMMEDIATE")
        record_refusals(db, refusals, now, policies)
    return TickResult(dials, refusals, len(candidates), time.perf_counter() - started, finished)


def still_due(db: Database, dial: Dial, campaign: dict, now: dt.datetime, *,
              policy_shift: dt.timedelta = NO_SHIFT, calendar=None) -> bool:
    """Would the policy still place exactly this call? Asked again inside the transaction that
    claims it, from what the database says now: another controller may have called the borrower
    or the number since this one's tick read the facts, so the caps (connected, unanswered, never
    two calls at once) hold across every controller sharing the database."""
    targets = list(db.query(
        "SELECT t.*, b.timezone, b.locale FROM campaign_targets t JOIN borrowers b ON b.id = t.borrower_id "
        "WHERE t.campaign_id = ? AND t.borrower_id = ? AND t.status = 'pending'",
        [dial.campaign_id, dial.borrower_id]))
    if not targets:
        return False
    candidates = gather(db, targets, {campaign["id"]: campaign}, now, policy_shift=policy_shift)
    dials, _ = plan(candidates, now + policy_shift, {campaign["id"]: policy_of(campaign)}, {campaign["id"]: 1},
                    None, calendar)
    return bool(dials) and dials[0].contact_id == dial.contact_id


class Pacer:
    """Calls-per-second pacing for one campaign: a token bucket refilled at max_cps."""

    def __init__(self, max_cps: float, clock=time.monotonic):
        self.rate = max_cps
        self.capacity = max(1.0, max_cps)
        self.tokens = 1.0
        self.clock = clock
        self.last = clock()

    def available(self) -> int:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        return math.floor(self.tokens)

    def take(self, n: int = 1) -> None:
        self.tokens -= n
