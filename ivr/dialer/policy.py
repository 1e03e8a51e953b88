"""Who may be dialled, on which number, with which flow, now: pure rules over facts.

Nothing here touches the database or the clock: `scheduler` gathers the facts (`Candidate`)
and passes `now`. The rules, in the order they are checked for a due borrower:

  1. public holiday in the borrower's local date (optional, zh-CN borrowers; `holidays`: the
     `chinese-calendar` package completed by the lender's holiday file); a day of a year the
     calendar does not know is refused ("holiday-calendar-missing"), never called
  2. calling hours in the borrower's local time zone: default 08:00-21:00; configuration may
     narrow it but never widen it past the hard limits 08:00-22:00
  3. never while the borrower is on a call (any campaign)
  4. at most 3 connected (answered) calls per borrower per local day
  5. a number is usable if its status is ok (not invalid, wrong_person, removed), it is not on
     the do-not-call list and it had fewer than 6 unanswered attempts this local day
  6. the borrower's own numbers (mobile, home, work) first, least tried today first; third-party
     contacts only once the borrower is unreachable (every own number invalid / unusable for
     good, or `unreachable_after_fails` consecutive unanswered attempts), with flow `third_party`,
     and each third-party contact at most once connected
Every "no" is a `Refuse` with a reason and the time it stops applying (None: never).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any
from functools import lru_cache
from zoneinfo import ZoneInfo

from . import limits
from .holidays import HolidayCalendar, MissingHolidayYear
from .limits import HARD_END, HARD_START  # noqa: F401  (re-exported: the hard calling hours)
THIRD_PARTY_FLOW = "third_party"
OWN_KINDS = ("mobile", "home", "work")
# contact statuses that end a number for good
DEAD_STATUSES = ("invalid", "wrong_person", "removed", "dnc")

REASONS = {
    "public-holiday": "the borrower's local date is a public holiday",
    "holiday-calendar-missing": "the holiday calendar does not know the year of the borrower's local date",
    "outside-calling-hours": "outside the calling window in the borrower's local time",
    "borrower-on-call": "the borrower is on another call",
    "borrower-daily-connected-cap": "the borrower already had the maximum connected calls today",
    "number-daily-unanswered-cap": "every usable number had the maximum unanswered attempts today",
    "do-not-call": "every remaining number is on the do-not-call list",
    "no-dialable-number": "no valid number left (own numbers invalid, no usable third-party contact)",
}


@dataclass(frozen=True)
class Policy:
    window_start: dt.time = dt.time(8, 0)
    window_end: dt.time = dt.time(21, 0)
    max_connected_per_borrower_day: int = 3
    max_unanswered_per_number_day: int = 6
    skip_holidays: bool = False
    unreachable_after_fails: int = 3
    on_call_recheck_s: int = 30
    refusal_log_interval_s: int = 900

    @property
    def window(self) -> tuple[dt.time, dt.time]:
        """The calling window actually applied: the configured one clamped to the hard limits."""
        return max(self.window_start, HARD_START), min(self.window_end, HARD_END)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Policy":
        """The policy a campaign's stored settings give, always within the hard limits (`limits`):
        a stored cap above its limit (a row written before the limits, or by hand) is applied as
        the limit. Setting a campaign refuses or clamps earlier, in `limits.campaign_settings`."""
        data = dict(data or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown policy setting(s): {', '.join(unknown)}")
        for name in ("window_start", "window_end"):
            if name in data:
                data[name] = limits.hhmm(name, data[name])
        for name, limit in limits.POLICY_LIMITS.items():
            if name in data:
                data[name] = limits.clamp(name, data[name], limit)
        if "skip_holidays" in data:
            data["skip_holidays"] = data["skip_holidays"] is True
        policy = cls(**data)
        start, end = policy.window
        if start >= end:
            raise limits.LimitError("empty_window", start=f"{start:%H:%M}", end=f"{end:%H:%M}")
        return policy

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["window_start"] = self.window_start.strftime("%H:%M")
        d["window_end"] = self.window_end.strftime("%H:%M")
        return d


@dataclass(frozen=True)
class ContactFacts:
    contact_id: int
    phone: str
    kind: str = "mobile"             # mobile, home, work, third_party
    status: str = "ok"
    position: int = 1
    dnc: bool = False
    unanswered_today: int = 0        # attempts to this number (any borrower, any campaign) today, not answered
    attempts_today: int = 0
    answered_ever: int = 0           # connected calls to this contact ever (third-party: at most one)


@dataclass(frozen=True)
class Candidate:
    campaign_id: int
    borrower_id: int
    timezone: str
    locale: str
    flow: str
    attempts: int                    # attempts in this campaign so far
    next_at: str
    fails_in_row: int = 0
    on_call: bool = False
    connected_today: int = 0
    contacts: tuple[ContactFacts, ...] = ()

    @property
    def fresh(self) -> bool:
        return self.attempts == 0


@dataclass(frozen=True)
class Dial:
    campaign_id: int
    borrower_id: int
    contact_id: int
    number: str
    locale: str
    flow: str


@dataclass(frozen=True)
class Refuse:
    campaign_id: int
    borrower_id: int
    reason: str
    until: dt.datetime | None       # None: never (the target is done)
    contact_id: int | None = None
    number: str | None = None
    detail: str = ""


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_DEFAULT_CALENDAR: HolidayCalendar | None = None
MISSING_CALENDAR_RECHECK = dt.timedelta(hours=1)


def default_calendar() -> HolidayCalendar:
    """The package's calendar alone (no holiday file): what callers that pass none get."""
    global _DEFAULT_CALENDAR
    if _DEFAULT_CALENDAR is None:
        _DEFAULT_CALENDAR = HolidayCalendar()
    return _DEFAULT_CALENDAR


def is_public_holiday(day: dt.date, calendar: HolidayCalendar | None = None) -> bool:
    """A statutory holiday in mainland China (weekends and make-up workdays are not). Raises
    MissingHolidayYear for a year the calendar does not know."""
    return (calendar or default_calendar()).is_holiday(day)


def window_open_at(local_day: dt.date, tz: ZoneInfo, policy: Policy) -> dt.datetime:
    return dt.datetime.combine(local_day, policy.window[0], tzinfo=tz)


def next_window_open(now: dt.datetime, tz_name: str, policy: Policy, *, skip_today: bool = False,
                     holidays: bool = False, calendar: HolidayCalendar | None = None) -> dt.datetime:
    """The next moment the calling window opens for a borrower in tz_name (after now). A day of a
    year the calendar does not know ends the search: `decide` refuses that day in its turn."""
    tz = _zone(tz_name)
    local = now.astimezone(tz)
    day = local.date()
    if skip_today or local.time() >= policy.window[0]:
        day += dt.timedelta(days=1)
    for _ in range(60):
        try:
            if not (holidays and is_public_holiday(day, calendar)):
                break
        except MissingHolidayYear:
            break
        day += dt.timedelta(days=1)
    return window_open_at(day, tz, policy)


def usable(c: ContactFacts, policy: Policy) -> bool:
    return c.status == "ok" and not c.dnc and c.unanswered_today < policy.max_unanswered_per_number_day


def is_unreachable(cand: Candidate, policy: Policy) -> bool:
    own = [c for c in cand.contacts if c.kind in OWN_KINDS]
    alive = [c for c in own if c.status == "ok" and not c.dnc]
    return not alive or cand.fails_in_row >= policy.unreachable_after_fails


def decide(cand: Candidate, now: dt.datetime, policy: Policy, calendar: HolidayCalendar | None = None) -> Dial | Refuse:
    """Dial this due borrower now (on which number, with which flow), or why not and until when."""
    def refuse(reason: str, until: dt.datetime | None, detail: str = "",
               contact: ContactFacts | None = None) -> Refuse:
        return Refuse(cand.campaign_id, cand.borrower_id, reason, until, contact.contact_id if contact else None,
                      contact.phone if contact else None, detail)

    tz = _zone(cand.timezone)
    local = now.astimezone(tz)
    holidays = policy.skip_holidays and cand.locale == "zh-CN"
    if holidays:
        try:
            holiday = is_public_holiday(local.date(), calendar)
        except MissingHolidayYear as exc:   # never call on a day nobody said is not a holiday
            return refuse("holiday-calendar-missing", now + MISSING_CALENDAR_RECHECK, str(exc))
        if holiday:
            return refuse("public-holiday", next_window_open(now, cand.timezone, policy, skip_today=True,
                                                             holidays=True, calendar=calendar),
                          local.date().isoformat())
    start, end = policy.window
    if local.time() < start:
        return refuse("outside-calling-hours", window_open_at(local.date(), tz, policy),
                      f"local {local:%H:%M} before {start:%H:%M}")
    if local.time() >= end:
        return refuse("outside-calling-hours", next_window_open(now, cand.timezone, policy, holidays=holidays,
                                                                calendar=calendar),
                      f"local {local:%H:%M} after {end:%H:%M}")
    if cand.on_call:
        return refuse("borrower-on-call", now + dt.timedelta(seconds=policy.on_call_recheck_s))
    tomorrow = next_window_open(now, cand.timezone, policy, skip_today=True, holidays=holidays, calendar=calendar)
    if cand.connected_today >= policy.max_connected_per_borrower_day:
        return refuse("borrower-daily-connected-cap", tomorrow, f"{cand.connected_today} connected today")

    own = [c for c in cand.contacts if c.kind in OWN_KINDS]
    pool, flow = own, cand.flow
    if is_unreachable(cand, policy):
        third = [c for c in cand.contacts if c.kind == "third_party" and c.answered_ever == 0]
        third_ok = [c for c in third if usable(c, policy)]
        own_ok = [c for c in own if usable(c, policy)]
        if third_ok:
            pool, flow = third, THIRD_PARTY_FLOW
        elif own_ok:
            pool = own
        else:
            pool = third + own
            # fall through to explain why nothing is usable; third-party flow if that is what is left
            flow = THIRD_PARTY_FLOW if third and not [c for c in own if c.status == "ok"] else cand.flow
    choices = sorted((c for c in pool if usable(c, policy)), key=lambda c: (c.attempts_today, c.position, c.contact_id))
    if choices:
        c = choices[0]
        return Dial(cand.campaign_id, cand.borrower_id, c.contact_id, c.phone, cand.locale, flow)

    alive = [c for c in pool if c.status == "ok"]
    if not alive:
        return refuse("no-dialable-number", None, ", ".join(f"{c.phone}:{c.status}" for c in pool) or "no contacts")
    if all(c.dnc for c in alive):
        return refuse("do-not-call", None, ", ".join(c.phone for c in alive))
    return refuse("number-daily-unanswered-cap", tomorrow,
                  ", ".join(f"{c.phone}:{c.unanswered_today}" for c in alive if not c.dnc))


def order_key(cand: Candidate) -> tuple[int, str, int, int]:
    """Fresh borrowers first, then due retries, oldest due first."""
    return (0 if cand.fresh else 1, cand.next_at, cand.campaign_id, cand.borrower_id)


@dataclass(frozen=True)
class Budget:
    """How many new calls a campaign may start now (concurrency and calls-per-second pacing)."""
    slots: int


def plan(candidates: list[Candidate], now: dt.datetime, policies: dict[int, Policy],
         budgets: dict[int, int], global_slots: int | None = None,
         calendar: HolidayCalendar | None = None) -> tuple[list[Dial], list[Refuse]]:
    """Decide, in order, across all running campaigns: the calls to start now and the refusals.

    A borrower gets at most one call per plan (a borrower due in two campaigns: the second is
    refused as on-call); a campaign without budget is skipped, not refused (it is just waiting)."""
    dials: list[Dial] = []
    refusals: list[Refuse] = []
    budgets = dict(budgets)
    taken: set[int] = set()
    for cand in sorted(candidates, key=order_key):
        if global_slots is not None and len(dials) >= global_slots:
            break
        if budgets.get(cand.campaign_id, 0) <= 0:
            continue
        policy = policies[cand.campaign_id]
        if cand.borrower_id in taken:
            cand = dataclasses.replace(cand, on_call=True)
        decision = decide(cand, now, policy, calendar)
        if isinstance(decision, Dial):
            dials.append(decision)
            taken.add(cand.borrower_id)
            budgets[cand.campaign_id] -= 1
        else:
            refusals.append(decision)
    return dials, refusals
