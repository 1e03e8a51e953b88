"""Campaigns: who to call (selection), how (flow, locale, pacing, retries), when (schedule), and
the state machine

    draft --start--> running --pause--> paused --resume--> running
    draft|running|paused --stop--> stopped          running --(all done / schedule over)--> finished

Transitions are validated: anything else is refused with a reason. The web app writes rows to
`commands`; the controller applies them with `process_commands` (the CLI applies its command at
once through the same path and records it as processed). On the first start the selection is
materialised into `campaign_targets` (borrowers imported later are not added) by `target_state.add`,
which, as every change of a target's status, lives in `target_state`.

Every function takes the handle its caller has (`open_database`'s: sqlite-utils with `.store`, or a
Store on PostgreSQL) and works through its Store, so the same code runs on both engines.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from ..db.store import HasStore, Store, store_of
from . import caller_id as caller_ids
from . import dispositions, holidays, limits, target_state
from .clock import iso, parse_iso
from .policy import Policy

STATES = ("draft", "running", "paused", "stopped", "finished")
TRANSITIONS = {
    ("draft", "start"): "running",
    ("running", "pause"): "paused",
    ("paused", "resume"): "running",
    ("draft", "stop"): "stopped",
    ("running", "stop"): "stopped",
    ("paused", "stop"): "stopped",
    ("running", "finish"): "finished",
}
COMMANDS = ("start", "pause", "resume", "stop")
SELECTION_KEYS = {"all", "batch_id", "loan_ids", "due_from", "due_to"}
Handle = Store | HasStore


class CampaignError(ValueError):
    pass


def transition(state: str, command: str) -> str:
    """The state after `command`, or CampaignError saying why not."""
    if command not in COMMANDS and command != "finish":
        raise CampaignError(f"unknown command {command!r} (known: {', '.join(COMMANDS)})")
    new = TRANSITIONS.get((state, command))
    if new is None:
        raise CampaignError(f"cannot {command} a campaign that is {state}")
    return new


def _validate_selection(selection: object) -> dict[str, Any]:
    if not isinstance(selection, dict) or not selection:
        raise CampaignError("selection must be an object, e.g. {\"all\": true}")
    unknown = set(selection) - SELECTION_KEYS
    if unknown:
        raise CampaignError(f"unknown selection key(s): {', '.join(sorted(unknown))}")
    if "loan_ids" in selection and (not isinstance(selection["loan_ids"], list) or not selection["loan_ids"]):
        raise CampaignError("selection loan_ids must be a non-empty list")
    for k in ("due_from", "due_to"):
        if k in selection:
            try:
                dt.date.fromisoformat(selection[k])
            except (TypeError, ValueError):
                raise CampaignError(f"selection {k} must be YYYY-MM-DD") from None
    return selection


def create(db: Handle, *, name: str, selection: dict[str, Any], flow: str = "followup", locale_default: str = "zh-CN",
           schedule_start: str | None = None, schedule_end: str | None = None, max_concurrent: int = 4,
           max_cps: float = 1.0, max_attempts: int = 6, retry_policy: dict[str, Any] | None = None,
           policy: dict[str, Any] | None = None, fallback: dict[str, Any] | None = None, created_by: str | None = None,
           now: dt.datetime | None = None, caller_id: str = "", caller_id_pool: object = None) -> int:
    """Create a draft campaign (every setting validated); returns its id.

    Every cap goes through `limits.campaign_settings`: a value that makes no sense is refused
    (CampaignError, caused by the `limits.LimitError`), one above its hard limit is stored as the limit."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    _validate_selection(selection)
    try:
        capped, _ = limits.campaign_settings(max_concurrent=max_concurrent, max_cps=max_cps,
                                             max_attempts=max_attempts, retry_policy=retry_policy, policy=policy)
    except limits.LimitError as exc:
        raise CampaignError(str(exc)) from exc
    max_concurrent, max_cps, max_attempts = capped["max_concurrent"], capped["max_cps"], capped["max_attempts"]
    retry_policy, policy = capped["retry_policy"], capped["policy"]
    try:
        dispositions.rules(retry_policy or {})
        Policy.from_dict(policy or {})
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    for label, value in (("schedule_start", schedule_start), ("schedule_end", schedule_end)):
        if value:
            try:
                parse_iso(value)
            except ValueError:
                raise CampaignError(f"{label} must be an ISO timestamp") from None
    if schedule_start and schedule_end and parse_iso(schedule_end) <= parse_iso(schedule_start):
        raise CampaignError("schedule_end must be after schedule_start")
    caller_id, caller_id_pool = caller_id_settings(caller_id, caller_id_pool)
    fallback = fallback or {}
    if fallback.get("channel") not in (None, "", "sms", "wechat"):
        raise CampaignError("fallback channel must be sms or wechat")
    stamp = iso(now)
    campaign_id: int = store_of(db).insert("campaigns", {
        "name": name, "state": "draft", "flow": flow, "locale_default": locale_default,
        "selection": json.dumps(selection, ensure_ascii=False),
        "schedule_start": iso(parse_iso(schedule_start)) if schedule_start else None,
        "schedule_end": iso(parse_iso(schedule_end)) if schedule_end else None,
        "max_concurrent": max_concurrent, "max_cps": max_cps, "max_attempts": max_attempts,
        "retry_policy": json.dumps(retry_policy or {}), "policy": json.dumps(policy or {}),
        "fallback": json.dumps(fallback), "created_by": created_by, "created_at": stamp, "updated_at": stamp,
        "caller_id": caller_id, "caller_id_pool": json.dumps(caller_id_pool, ensure_ascii=False),
    })
    return campaign_id


def caller_id_settings(caller_id: str = "", pool: object = None) -> tuple[str, dict[str, list[str]]]:
    """The campaign's caller ID (empty: the default_caller_id setting) and its province pool, checked
    (ivr/dialer/caller_id.py); a pool above its limits is clamped. CampaignError names what is wrong."""
    try:
        own = caller_ids.check(caller_id) if str(caller_id or "").strip() else ""
        checked, _ = caller_ids.parse_pool(pool) if pool else ({}, [])
    except caller_ids.CallerIdError as exc:
        raise CampaignError(str(exc)) from None
    return own, checked


def get(db: Handle, campaign_id: int) -> dict[str, Any]:
    row = store_of(db).get("campaigns", campaign_id)
    if row is None:
        raise CampaignError(f"no campaign {campaign_id}")
    return row


def select_borrowers(db: Handle, selection: Mapping[str, Any]) -> list[int]:
    where: list[str] = []
    params: dict[str, object] = {}
    if "batch_id" in selection:
        where.append("id IN (SELECT borrower_id FROM batch_borrowers WHERE batch_id = :batch)")
        params["batch"] = int(selection["batch_id"])
    if "loan_ids" in selection:
        where.append("loan_id IN :loans")
        params["loans"] = [str(x) for x in selection["loan_ids"]]   # validated non-empty
    if "due_from" in selection:
        where.append("due_date >= :due_from")
        params["due_from"] = selection["due_from"]
    if "due_to" in selection:
        where.append("due_date <= :due_to")
        params["due_to"] = selection["due_to"]
    sql = "SELECT id FROM borrowers" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
    return [r["id"] for r in store_of(db).query(sql, params)]


def _materialise(db: Handle, campaign: Mapping[str, Any], now: dt.datetime) -> int:
    ids = select_borrowers(db, json.loads(campaign["selection"]))
    target_state.add(db, campaign["id"], ids, campaign["schedule_start"] or iso(now), now)
    return len(ids)


def check_holidays(campaign: Mapping[str, Any], now: dt.datetime,
                   calendar: holidays.HolidayCalendar | None = None) -> None:
    """A campaign that skips holidays may not start (or resume) when a day it could call on is in a
    year the holiday calendar does not know: CampaignError naming the year and the holiday file."""
    try:
        skip = Policy.from_dict(json.loads(campaign["policy"] or "{}")).skip_holidays
        holidays.check_campaign(campaign, skip, now, calendar or holidays.HolidayCalendar())
    except (holidays.MissingHolidayYear, holidays.HolidayFileError) as exc:
        raise CampaignError(str(exc)) from exc


def apply_command(db: Handle, campaign_id: int, command: str, *, now: dt.datetime | None = None,
                  calendar: holidays.HolidayCalendar | None = None) -> str:
    """Apply one command to a campaign now; returns the new state, or raises CampaignError."""
    now = now or dt.datetime.now(dt.timezone.utc)
    store = store_of(db)
    with store.transaction():
        campaign = _locked(store, campaign_id)
        new = transition(campaign["state"], command)
        if command in ("start", "resume"):
            check_holidays(campaign, now, calendar)
        changes = {"state": new, "updated_at": iso(now)}
        if command == "start":
            changes["started_at"] = iso(now)
            count = _materialise(db, campaign, now)
            if count == 0:
                raise CampaignError("the selection matches no borrower")
        if new in ("stopped", "finished"):
            changes["ended_at"] = iso(now)
        store.update("campaigns", campaign_id, changes)
    return new


def _locked(store: Store, campaign_id: int) -> dict[str, Any]:
    """The campaign's row, locked until the transaction ends on PostgreSQL (SQLite's BEGIN IMMEDIATE
    already holds the whole database): two commands to one campaign take turns, the second one judged
    on the state the first one left."""
    lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
    row = store.one("SELECT * FROM campaigns WHERE id = :id" + lock, {"id": campaign_id})
    if row is None:
        raise CampaignError(f"no campaign {campaign_id}")
    return row


def request(db: Handle, campaign_id: int, command: str, requested_by: str | None = None,
            now: dt.datetime | None = None) -> int:
    """What the web app does: queue a command for the controller."""
    if command not in COMMANDS:
        raise CampaignError(f"unknown command {command!r}")
    now = now or dt.datetime.now(dt.timezone.utc)
    command_id: int = store_of(db).insert("commands", {"campaign_id": campaign_id, "command": command,
                                                        "requested_by": requested_by, "created_at": iso(now)})
    return command_id


def process_commands(db: Handle, now: dt.datetime | None = None,
                     calendar: holidays.HolidayCalendar | None = None) -> list[dict[str, Any]]:
    """Apply every unprocessed command in order; each gets processed_at and result (ok / reason).
    Several controllers share the queue: each command is taken (processed_at set where it is still
    NULL) in the transaction that applies it, so exactly one controller applies it and its result is
    never overwritten by another's attempt at the same command."""
    now = now or dt.datetime.now(dt.timezone.utc)
    store = store_of(db)
    done: list[dict[str, Any]] = []
    for cmd in store.query("SELECT * FROM commands WHERE processed_at IS NULL ORDER BY id"):
        with store.transaction():
            if store.execute("UPDATE commands SET processed_at = :at WHERE id = :id AND processed_at IS NULL",
                             {"at": iso(now), "id": cmd["id"]}) != 1:
                continue        # another controller took it since we read the queue
            try:
                state = apply_command(db, cmd["campaign_id"], cmd["command"], now=now, calendar=calendar)
                result = f"ok: {state}"
            except CampaignError as exc:
                result = f"refused: {exc}"
            store.update("commands", cmd["id"], {"result": result})
        done.append({**cmd, "result": result})
    return done


def run_command_now(db: Handle, campaign_id: int, command: str, requested_by: str | None = None,
                    now: dt.datetime | None = None, calendar: holidays.HolidayCalendar | None = None) -> str:
    """The CLI's path: apply at once and record it in `commands` as processed."""
    now = now or dt.datetime.now(dt.timezone.utc)
    store = store_of(db)
    cmd_id = request(db, campaign_id, command, requested_by, now)
    try:
        state = apply_command(db, campaign_id, command, now=now, calendar=calendar)
        store.update("commands", cmd_id, {"processed_at": iso(now), "result": f"ok: {state}"})
        return state
    except CampaignError as exc:
        store.update("commands", cmd_id, {"processed_at": iso(now), "result": f"refused: {exc}"})
        raise


def finish_due(db: Handle, now: dt.datetime) -> list[int]:
    """Running campaigns whose schedule ended or whose every target is done become finished."""
    store = store_of(db)
    finished: list[int] = []
    for c in store.query("SELECT * FROM campaigns WHERE state = 'running' ORDER BY id"):
        over = c["schedule_end"] and c["schedule_end"] <= iso(now)
        left = store.scalar("SELECT count(*) FROM campaign_targets WHERE campaign_id = :c AND status != 'done'",
                            {"c": c["id"]})
        if over or left == 0:
            if over and left:
                active = store.scalar("SELECT count(*) FROM campaign_targets WHERE campaign_id = :c "
                                      "AND status = 'active'", {"c": c["id"]})
                if active:
                    continue  # let calls in progress end first
                target_state.close_all_pending(db, c["id"], "schedule-ended", now)
            try:
                apply_command(db, c["id"], "finish", now=now)
            except CampaignError:
                continue  # no longer running: another controller sharing the database finished (or stopped) it
            finished.append(c["id"])
    return finished


def status(db: Handle, campaign_id: int) -> dict[str, Any]:
    c = get(db, campaign_id)
    store, p = store_of(db), {"c": campaign_id}
    targets = {r["status"]: r["n"] for r in store.query(
        "SELECT status, count(*) AS n FROM campaign_targets WHERE campaign_id = :c GROUP BY status", p)}
    reasons = {r["done_reason"]: r["n"] for r in store.query(
        "SELECT done_reason, count(*) AS n FROM campaign_targets WHERE campaign_id = :c AND status = 'done' "
        "GROUP BY done_reason", p)}
    disp = {r["disposition"]: r["n"] for r in store.query(
        "SELECT disposition, count(*) AS n FROM attempts WHERE campaign_id = :c GROUP BY disposition", p)}
    refusals = {r["reason"]: r["n"] for r in store.query(
        "SELECT reason, count(*) AS n FROM dial_refusals WHERE campaign_id = :c GROUP BY reason", p)}
    return {"id": c["id"], "name": c["name"], "state": c["state"], "flow": c["flow"],
            "targets": targets, "done_reasons": reasons, "dispositions": disp, "refusals": refusals,
            "attempts": sum(disp.values())}
