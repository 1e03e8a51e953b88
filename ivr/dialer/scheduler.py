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
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any
from zoneinfo import ZoneInfo

from .. import metrics
from ..db.store import HasStore, Store, store_of
from . import limits, target_state
from .clock import NO_SHIFT, iso
from .holidays import HolidayCalendar
from .policy import Candidate, ContactFacts, Dial, Policy, Refuse, plan

FETCH_FACTOR = 4  # due targets fetched per free slot (the policy may refuse some)
Handle = Store | HasStore


def running_campaigns(db: Handle, now: dt.datetime) -> list[dict[str, Any]]:
    stamp = iso(now)
    return [c for c in store_of(db).query("SELECT * FROM campaigns WHERE state = 'running' ORDER BY id")
            if (not c["schedule_start"] or c["schedule_start"] <= stamp)
            and (not c["schedule_end"] or c["schedule_end"] > stamp)]


def policy_of(campaign: dict[str, Any]) -> Policy:
    return Policy.from_dict(json.loads(campaign["policy"] or "{}"))


def local_day_start(now: dt.datetime, tz_name: str, policy_shift: dt.timedelta = NO_SHIFT) -> str:
    """The real time at which the borrower's local day (as the policy sees it) began."""
    local = (now + policy_shift).astimezone(ZoneInfo(tz_name))
    return iso(dt.datetime.combine(local.date(), dt.time(0), tzinfo=local.tzinfo) - policy_shift)


def due_targets(db: Handle, campaign: dict[str, Any], now: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Pending targets whose next_at has come: fresh ones first, then retries, oldest first."""
    out: list[dict[str, Any]] = []
    for retry in (0, 1):
        if len(out) >= limit:
            break
        out += store_of(db).query(
            "SELECT t.*, b.timezone, b.locale FROM campaign_targets t JOIN borrowers b ON b.id = t.borrower_id "
            "WHERE t.campaign_id = :c AND t.status = 'pending' AND t.retry = :retry AND t.next_at <= :now "
            "ORDER BY t.next_at, t.borrower_id LIMIT :limit",
            {"c": campaign["id"], "retry": retry, "now": iso(now), "limit": limit - len(out)})
    return out


def gather(db: Handle, targets: list[dict[str, Any]], campaigns: dict[int, dict[str, Any]], now: dt.datetime,
           in_flight: AbstractSet[int] = frozenset(), policy_shift: dt.timedelta = NO_SHIFT) -> list[Candidate]:
    """The policy's facts for each due target, with a few batched queries."""
    if not targets:
        return []
    store = store_of(db)
    borrowers = sorted({t["borrower_id"] for t in targets})
    day_start = {t["borrower_id"]: local_day_start(now, t["timezone"], policy_shift) for t in targets}
    since = min(day_start.values())
    contacts: dict[int, list[dict[str, Any]]] = {}
    for row in store.query("SELECT * FROM contacts WHERE borrower_id IN :b ORDER BY position, id", {"b": borrowers}):
        contacts.setdefault(row["borrower_id"], []).append(row)
    phones = sorted({c["phone"] for cs in contacts.values() for c in cs})
    contact_ids = sorted({c["id"] for cs in contacts.values() for c in cs})
    dnc = {r["number"] for r in store.query("SELECT number FROM dnc WHERE number IN :p", {"p": phones})} \
        if phones else set()
    by_number: dict[str, list[dict[str, Any]]] = {}
    if phones:
        for r in store.query("SELECT number, created_at, answered_at, outcome FROM attempts "
                             "WHERE number IN :p AND created_at >= :since", {"p": phones, "since": since}):
            by_number.setdefault(r["number"], []).append(r)
    by_borrower: dict[int, list[dict[str, Any]]] = {}
    for r in store.query("SELECT borrower_id, created_at, answered_at, outcome FROM attempts "
                         "WHERE borrower_id IN :b AND created_at >= :since", {"b": borrowers, "since": since}):
        by_borrower.setdefault(r["borrower_id"], []).append(r)
    on_call = {r["borrower_id"] for r in store.query(
        "SELECT DISTINCT borrower_id FROM attempts WHERE state != 'ended' AND borrower_id IN :b", {"b": borrowers})}
    answered_contacts = {r["contact_id"] for r in store.query(
        "SELECT DISTINCT contact_id FROM attempts WHERE contact_id IN :c "
        "AND (answered_at IS NOT NULL OR outcome = 'answered')", {"c": contact_ids})} if contact_ids else set()

    def connected(r: Mapping[str, Any]) -> bool:
        return r["answered_at"] is not None or r["outcome"] == "answered"

    out: list[Candidate] = []
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


def record_refusals(db: Handle, refusals: list[Refuse], now: dt.datetime, policies: dict[int, Policy]) -> int:
    """Push each refused target to `until` (or close it), and log the refusal unless the same
    reason was logged for that borrower within the policy's refusal_log_interval_s. Returns the
    number of rows logged."""
    logged = 0
    stamp = iso(now)
    store = store_of(db)
    for r in refusals:
        metrics.REFUSALS.labels(r.reason).inc()   # every decision (the log below is rate-limited)
        if r.until is None:
            target_state.close(db, r.campaign_id, r.borrower_id, r.reason, now)
        else:
            target_state.defer(db, r.campaign_id, r.borrower_id, r.until, now)
        interval = policies[r.campaign_id].refusal_log_interval_s
        recent = store.scalar("SELECT 1 FROM dial_refusals WHERE borrower_id = :b AND reason = :reason "
                              "AND campaign_id = :c AND at > :since LIMIT 1",
                              {"b": r.borrower_id, "reason": r.reason, "c": r.campaign_id,
                               "since": iso(now - dt.timedelta(seconds=interval))})
        if recent:
            continue
        store.insert("dial_refusals", {"at": stamp, "campaign_id": r.campaign_id, "borrower_id": r.borrower_id,
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


def tick(db: Handle, now: dt.datetime, budgets: dict[int, int], *, in_flight: AbstractSet[int] = frozenset(),
         global_slots: int | None = None, campaigns: list[dict[str, Any]] | None = None,
         policy_shift: dt.timedelta = NO_SHIFT,
         calendar: HolidayCalendar | None = None) -> TickResult:
    """One scheduling decision: read, decide (pure), write the refusals. The caller places the dials.

    `now` is real time; the policy decides at `now + policy_shift` (see the module docstring)."""
    started = time.perf_counter()
    campaigns = running_campaigns(db, now) if campaigns is None else campaigns
    by_id = {c["id"]: c for c in campaigns}
    policies = {c["id"]: policy_of(c) for c in campaigns}
    targets: list[dict[str, Any]] = []
    for c in campaigns:
        slots = budgets.get(c["id"], 0)
        if slots > 0:
            targets += due_targets(db, c, now, max(slots * FETCH_FACTOR, 8))
    candidates = gather(db, targets, by_id, now, set(in_flight), policy_shift)
    dials, refusals = plan(candidates, now + policy_shift, policies, budgets, global_slots, calendar)
    if policy_shift:
        refusals = [dataclasses.replace(r, until=r.until - policy_shift) if r.until else r for r in refusals]
    finished = [(r.campaign_id, r.borrower_id, r.reason) for r in refusals if r.until is None]
    with store_of(db).transaction():
        record_refusals(db, refusals, now, policies)
    return TickResult(dials, refusals, len(candidates), time.perf_counter() - started, finished)


CLAIM_LOCK_SPACE = 0x4846   # "HF": the first key of the claim's advisory lock (the campaign id the second)


def lock_for_claim(db: Handle, dial: Dial) -> bool:
    """Inside the claiming transaction, before `still_due`: on PostgreSQL, the target row (skipped,
    not waited for, when another controller is claiming it: False), then the borrower's row and the
    rows of every contact with the dialled number (waited for, always in that order), so two
    controllers claiming calls to one borrower or one number take turns and the second sees the
    first's attempt. On SQLite the transaction's BEGIN IMMEDIATE already makes every claim take turns."""
    store = store_of(db)
    if store.dialect != "postgresql":
        return True
    # first, claims of one campaign take turns (its pace counts every controller's calls); an
    # advisory lock, so nothing else that locks the campaign row (commands) can wait on a claim's
    # locks in the other order
    store.execute("SELECT pg_advisory_xact_lock(:space, :c)", {"space": CLAIM_LOCK_SPACE, "c": dial.campaign_id})
    if store.scalar("SELECT 1 FROM campaign_targets WHERE campaign_id = :c AND borrower_id = :b "
                    "AND status = 'pending' FOR UPDATE SKIP LOCKED",
                    {"c": dial.campaign_id, "b": dial.borrower_id}) is None:
        return False
    store.query("SELECT id FROM borrowers WHERE id = :b FOR UPDATE", {"b": dial.borrower_id})
    store.query("SELECT id FROM contacts WHERE phone = :n ORDER BY id FOR UPDATE", {"n": dial.number})
    return True


def still_due(db: Handle, dial: Dial, campaign: dict[str, Any], now: dt.datetime, *,
              policy_shift: dt.timedelta = NO_SHIFT, calendar: HolidayCalendar | None = None) -> bool:
    """Would the policy still place exactly this call? Asked again inside the transaction that
    claims it, from what the database says now: another controller may have called the borrower
    or the number since this one's tick read the facts, so the caps (connected, unanswered, never
    two calls at once) hold across every controller sharing the database."""
    targets = store_of(db).query(
        "SELECT t.*, b.timezone, b.locale FROM campaign_targets t JOIN borrowers b ON b.id = t.borrower_id "
        "WHERE t.campaign_id = :c AND t.borrower_id = :b AND t.status = 'pending'",
        {"c": dial.campaign_id, "b": dial.borrower_id})
    if not targets:
        return False
    candidates = gather(db, targets, {campaign["id"]: campaign}, now, policy_shift=policy_shift)
    dials, _ = plan(candidates, now + policy_shift, {campaign["id"]: policy_of(campaign)}, {campaign["id"]: 1},
                    None, calendar)
    return bool(dials) and dials[0].contact_id == dial.contact_id


def within_pace(db: Handle, campaign: dict[str, Any], now: dt.datetime) -> bool:
    """Inside the claiming transaction: does the campaign's calls-per-second allow one more call now,
    counting the calls EVERY controller claimed (their attempt rows), not only this one's? Each
    controller also paces itself (`Pacer`), but two controllers on one campaign would place twice
    its max_cps. The window is one second (longer below 1 cps: 0.5 cps allows one call in 2 s).
    On PostgreSQL `lock_for_claim` has made claims of one campaign take turns; on SQLite BEGIN
    IMMEDIATE has."""
    rate = limits.pacing_rate(campaign.get("max_cps"))
    window_s = max(1.0, 1.0 / rate)
    allowed = max(1, math.floor(rate * window_s + 1e-9))
    placed = store_of(db).scalar(
        "SELECT count(*) FROM attempts WHERE created_at > :since AND campaign_id = :c",
        {"since": iso(now - dt.timedelta(seconds=window_s)), "c": campaign["id"]})
    return int(placed or 0) < allowed


class Pacer:
    """Calls-per-second pacing for one controller and campaign: a token bucket refilled at max_cps
    (and `within_pace` across controllers)."""

    def __init__(self, max_cps: float, clock: Callable[[], float] = time.monotonic) -> None:
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
