"""The dialer's long-running loop (`ivr dialer run`).

Every tick (default 0.2 s):
  0. every few seconds, write this process's heartbeat (`heartbeat`: the web app says when no
     controller is running) and its node's (`nodes`: the Asterisk it places calls on, its capacity);
  1. apply the commands the web app queued (`commands`), finish campaigns that are over;
  2. if AMI is down, originate nothing (the AMI client reconnects with backoff by itself); after
     a reconnect, reconcile first (calls may have ended while we could not hear); if it stays down
     for `node_lost_after_s` (its Asterisk is gone), close this node's open calls as lost;
  3. ask the scheduler who is due within each campaign's pacing (max concurrent, calls per
     second) and the global channel limit; place those calls through `CallPlacer`;
  4. when an attempt ends: its disposition, the campaign's retry rule, the contact's status,
     the target's next time or its end, and the fallback message if the borrower stayed
     unreachable.

Crash safety. A call is claimed in one transaction (`claim_dial`): the policy asked again from the
database (so caps hold across controllers sharing it), the target made active for an attempt id
chosen in advance, the attempt row written (queued, with this controller's node); only then is the
Originate sent. On start (and after every AMI reconnect) `reconcile` compares the open attempts of
this node in the database with its Asterisk's channels (`CoreShowChannels`):
  * channel still up: followed to its end (`CallPlacer.adopt`);
  * channel gone: closed with what can be inferred (the dialog's result, the AMI events we had
    recorded) or disposition `unknown-after-restart`; it counts toward the caps like any attempt;
  * active target whose attempt row does not exist: the Originate was never sent; back to pending;
  * active target whose attempt ended but was never applied (the process died inside finalize, or
    the database refused the finalize): applied now — at start-up for every node even when AMI
    does not answer, and at every later reconcile for this node's attempts no task is following.
So no borrower is called twice because of a restart.

Time. `clock` stamps everything written (always the real clock in production; unit tests may pass
a `FixedClock` in-process). `policy_shift` (a timedelta, zero unless `ivr demo` or a test passes
one in-process) moves only the time the calling-hours policy decides on; no flag, environment
variable or setting reaches it, and stored times are never shifted.

Database. Every database function here takes the handle the loop's `AsyncDb` holds
(`open_database(settings)`: sqlite-utils with `.store` on SQLite, a Store on PostgreSQL) and works
through its Store, so `database_url` switches the controller between the engines. A disposition is
applied in one Store transaction (BEGIN IMMEDIATE on SQLite; on PostgreSQL the target's row is locked
first, so two controllers finalizing one attempt take turns and the second finds it settled).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from .. import metrics, redact
from ..config import Settings, Trunk
from ..db import attempts as attempts_db
from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from ..db.writer import AsyncDb
from . import campaigns as campaigns_mod
from . import caller_id as caller_ids
from . import dispositions, escalations, heartbeat, limits, nodes, scheduler, target_state
from .attempt_state import AttemptView, reduce
from .clock import NO_SHIFT, Clock, SystemClock, iso, parse_iso
from .holidays import HolidayCalendar, HolidayFileError
from .outcomes import classify as classify_outcome
from .policy import OWN_KINDS, Dial
from .trunk_pacing import TrunkPacing

if TYPE_CHECKING:
    from ..notify.notifier import Notifier
    from .calls import CallPlacer

log = logging.getLogger(__name__)
OPEN_STATES = ("queued", "dialing", "ringing", "answered", "in_dialog")
MESSAGE_RESULTS = ("message_requested",)     # dialog results / answer intents asking for a message
MESSAGE_INTENTS = ("send_message", "message")
FALLBACK_REASONS = ("exhausted", "no-dialable-number")
DIALOG_RESULT_WAIT_S = 5.0
Handle = Store | HasStore


# ---- database work (runs in the db thread) ------------------------------------------------------
def _row(db: Handle, sql: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    return store_of(db).one(sql, params)


def claim_dial(db: Handle, dial: Dial, attempt: dict[str, Any], campaign: dict[str, Any], now: dt.datetime, *,
               policy_shift: dt.timedelta = NO_SHIFT, calendar: HolidayCalendar | None = None) -> bool:
    """One transaction: the policy still wants this call (scheduler.still_due), the target goes
    active for it, and its attempt row is written (queued) — so every other controller sees the
    borrower on a call from the same instant the call counts. False: nothing was written."""
    store = store_of(db)
    with store.transaction():
        if not scheduler.lock_for_claim(store, dial):
            return False
        if not scheduler.still_due(store, dial, campaign, now, policy_shift=policy_shift, calendar=calendar):
            return False
        if not scheduler.within_pace(store, campaign, now):
            return False
        if not target_state.claim(store, dial.campaign_id, dial.borrower_id, attempt["id"], now):
            return False
        attempts_db.create(store, attempt)
        return True


def replay_events(db: Handle, attempt_id: str) -> AttemptView:
    """The attempt's view rebuilt from the AMI events we recorded (after a restart)."""
    view = AttemptView(attempt_id)
    for row in store_of(db).query("SELECT data FROM events WHERE attempt_id = :a AND source = 'ami' ORDER BY id",
                                  {"a": attempt_id}):
        try:
            event = json.loads(row["data"])
        except ValueError:
            continue
        view = reduce(view, event)
    return view


def close_lost(db: Handle, attempt_id: str, view: AttemptView | None, now: dt.datetime) -> dict[str, Any]:
    """An open attempt whose channel is gone and whose end we did not see: write what we can infer."""
    attempt = attempts_db.get(db, attempt_id)
    if attempt is None or attempt["state"] == "ended":
        return attempt or {}
    view = view or replay_events(db, attempt_id)
    dialog = _row(db, "SELECT * FROM dialogs WHERE attempt_id = :a", {"a": attempt_id})
    changes: dict[str, Any] = {"state": "ended", "ended_at": iso(now)}
    if attempt["state"] == "queued":
        # the row is written before the state goes to dialing and the Originate is sent
        changes.update(outcome="failed", disposition="dialer-error")
    elif dialog is not None:
        changes.update(outcome="answered", answered_at=attempt["answered_at"] or dialog["started_at"])
        if not dialog["result"]:
            changes["disposition"] = "unknown-after-restart"
    elif view.answered:
        changes.update(outcome="answered", answered_at=attempt["answered_at"] or iso(now),
                       disposition="unknown-after-restart")
    elif view.dial_status is not None or view.failed_reason is not None or view.sip_code is not None:
        outcome, cause = classify_outcome(view)
        changes.update(outcome=outcome, cause=cause, dial_status=view.dial_status, sip_code=view.sip_code)
    else:
        changes["disposition"] = "unknown-after-restart"
    store = store_of(db)
    store.update("attempts", attempt_id, changes)
    if "disposition" in changes:   # finalize keeps it: counted here, where it is written
        count_call(changes.get("outcome", attempt["outcome"]), changes["disposition"])
    escalations.close_unanswered(db, attempt_id, now)
    store.insert("events", {"attempt_id": attempt_id, "at": iso(now), "source": "controller", "name": "ClosedLost",
                            "data": json.dumps(changes, default=str)})
    return {**attempt, **changes}


def finalize(db: Handle, attempt_id: str, now: dt.datetime, lender: str = "") -> dict[str, Any] | None:
    """Apply an ended attempt's disposition: attempts.disposition, contact status, target's next
    step, fallback message. Idempotent: the target moves only if it is still active for this attempt."""
    store = store_of(db)
    attempt = attempts_db.get(db, attempt_id)
    if attempt is None or attempt["state"] != "ended":
        return None
    dialog = _row(db, "SELECT * FROM dialogs WHERE attempt_id = :a", {"a": attempt_id})
    if dialog is not None and (attempt["outcome"] != "answered" or not attempt["answered_at"]):
        # a call followed after a restart whose answer we did not see: the dialog server talked to
        # someone, and its start is the best answer time we have (talk time in reports needs one)
        fix = {"outcome": "answered", "answered_at": attempt["answered_at"] or dialog["started_at"],
               "cause": attempt["cause"] if attempt["outcome"] in (None, "answered") else 16}
        store.update("attempts", attempt_id, fix)
        attempt = {**attempt, **fix}
    early = store.scalar("SELECT 1 FROM events WHERE attempt_id = :a AND name = 'DialState' "
                         "AND data LIKE '%PROGRESS%' LIMIT 1", {"a": attempt_id}) is not None
    if dialog is not None and dialog.get("announcement") and not attempt["announcement"]:
        # answered (200) by the network's announcement instead of a person (dialog/answer_screen.py)
        store.update("attempts", attempt_id, {"announcement": dialog["announcement"]})
        attempt = {**attempt, "announcement": dialog["announcement"]}
    escalation = _row(db, "SELECT agent, outcome FROM escalations WHERE attempt_id = :a ORDER BY id",
                      {"a": attempt_id})
    disposition = dispositions.classify(attempt, dialog["result"] if dialog else None, early_media=early,
                                        escalation=escalation)
    result: dict[str, Any] = {"attempt_id": attempt_id, "disposition": disposition}
    if attempt["disposition"] is None:   # first classified here (a repeated finalize counts nothing)
        count_call(attempt["outcome"], disposition)
    with store.transaction():
        # the target's row first, locked on PostgreSQL: a second controller finalizing this attempt
        # waits here, then finds the target settled (SQLite's BEGIN IMMEDIATE holds the database)
        target = None
        if attempt["campaign_id"] is not None:
            lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
            target = _row(db, "SELECT * FROM campaign_targets WHERE campaign_id = :c AND borrower_id = :b" + lock,
                          {"c": attempt["campaign_id"], "b": attempt["borrower_id"]})
        store.update("attempts", attempt_id, {"disposition": disposition})
        if attempt["campaign_id"] is None:
            return result
        campaign = _existing(store, "campaigns", attempt["campaign_id"])
        contact = store.get("contacts", attempt["contact_id"]) if attempt["contact_id"] else None
        borrower = _existing(store, "borrowers", attempt["borrower_id"])
        rules = dispositions.rules(campaign["retry_policy"])
        rule = rules[disposition]
        answers = attempts_db.answers(db, attempt_id)
        callback_at = None
        if rule.action == "callback":
            callback_at = requested_callback(db, attempt_id, borrower["timezone"]) \
                or dispositions.callback_time(answers, borrower["timezone"])
        nxt = dispositions.next_step(disposition, rule, attempts=target["attempts"] if target else 1,
                                     max_attempts=campaign["max_attempts"], fails_in_row=target["fails_in_row"] if target else 0,
                                     now=now, callback_at=callback_at, kind=contact["kind"] if contact else "mobile")
        if nxt.mark_contact and contact and contact["status"] == "ok":
            store.update("contacts", contact["id"], {"status": nxt.mark_contact, "status_at": iso(now),
                                                     "status_reason": f"{disposition} on attempt {attempt_id}"})
        result.update(status=nxt.status, next_at=iso(nxt.next_at) if nxt.next_at else None, done_reason=nxt.done_reason)
        if target is None or target["status"] != "active" or target["last_attempt_id"] != attempt_id:
            return result
        if not target_state.settle(db, attempt["campaign_id"], attempt["borrower_id"], attempt_id, status=nxt.status,
                                   next_at=nxt.next_at, done_reason=nxt.done_reason, fails_in_row=nxt.fails_in_row,
                                   disposition=disposition, now=now):
            return result    # another finalize of this attempt settled it first: its message, not ours
        wants_message = (dialog and dialog["result"] in MESSAGE_RESULTS) or any(
            a["intent"] in MESSAGE_INTENTS for a in answers)
        if wants_message:
            result["fallback"] = queue_fallback(db, campaign, borrower, "message_requested", now, lender, force=True)
        elif nxt.status == "done":
            result["fallback"] = queue_fallback(db, campaign, borrower, "unreachable", now, lender,
                                                reason=nxt.done_reason)
    return result


def _existing(store: Store, table: str, pk_value: Any) -> dict[str, Any]:
    """The row an attempt refers to (a foreign key: it exists); LookupError naming it if not."""
    row = store.get(table, pk_value)
    if row is None:
        raise LookupError(f"no row {pk_value!r} in {table}")
    return row


def count_call(outcome: str | None, disposition: str) -> None:
    """huifang_calls_total: one per attempt, when its disposition is first written."""
    metrics.CALLS.labels(metrics.label(outcome), metrics.label(disposition)).inc()


def requested_callback(db: Handle, attempt_id: str, tz_name: str) -> dt.datetime | None:
    """The callback time the dialog server recorded (`callbacks.due_at`, 0003), if any."""
    row = _row(db, "SELECT due_at FROM callbacks WHERE attempt_id = :a AND due_at IS NOT NULL "
                   "ORDER BY id DESC LIMIT 1", {"a": attempt_id})
    if row is None:
        return None
    try:
        value = dt.datetime.fromisoformat(row["due_at"])
    except ValueError:
        return None
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo
        value = value.replace(tzinfo=ZoneInfo(tz_name))
    return value


def queue_fallback(db: Handle, campaign: Mapping[str, Any], borrower: dict[str, Any], template: str,
                   now: dt.datetime, lender: str = "", *, reason: str | None = None,
                   force: bool = False) -> int | None:
    """Queue the campaign's fallback message for a borrower who stayed unreachable (or asked for one)."""
    from ..notify import outbox
    fallback = json.loads(campaign["fallback"] or "{}")
    channel = fallback.get("channel")
    if not channel:
        return None
    if not force:
        if reason not in FALLBACK_REASONS:
            return None
        reached = store_of(db).scalar(
            "SELECT 1 FROM attempts a JOIN contacts c ON c.id = a.contact_id WHERE a.campaign_id = :c "
            "AND a.borrower_id = :b AND c.kind != 'third_party' AND (a.answered_at IS NOT NULL OR a.outcome = 'answered') "
            "LIMIT 1", {"c": campaign["id"], "b": borrower["id"]})
        if reached:
            return None
    to = _row(db, "SELECT phone FROM contacts WHERE borrower_id = :b AND kind IN :kinds "
                  "AND status NOT IN ('invalid', 'removed', 'dnc', 'wrong_person') "
                  "AND phone NOT IN (SELECT number FROM dnc) "
                  "ORDER BY CASE WHEN kind = 'mobile' THEN 0 ELSE 1 END, position, id LIMIT 1",
              {"b": borrower["id"], "kinds": list(OWN_KINDS)})
    if to is None:
        return None
    key = f"campaign:{campaign['id']}:borrower:{borrower['id']}:{template}"
    outbox_id, _ = outbox.enqueue(db, key=key, channel=channel, borrower=borrower, to_address=to["phone"],
                                  template=fallback.get("template", template) if template == "unreachable" else template,
                                  campaign_id=campaign["id"], lender=lender, now=now)
    return outbox_id


def open_attempts(db: Handle, node: str) -> list[dict[str, Any]]:
    """The campaign calls of `node` not yet ended (and those written before nodes were recorded)."""
    return store_of(db).query("SELECT * FROM attempts WHERE campaign_id IS NOT NULL AND (node = :node OR node IS NULL) "
                              "AND state IN :states ORDER BY created_at, id", {"node": node, "states": list(OPEN_STATES)})


def fix_orphan_targets(db: Handle, now: dt.datetime) -> tuple[int, list[str]]:
    """Active targets without a live attempt: never originated -> pending again; ended but not
    applied -> returned for finalize."""
    reverted = 0
    to_finalize: list[str] = []
    for t in store_of(db).query("SELECT * FROM campaign_targets WHERE status = 'active' ORDER BY campaign_id, borrower_id"):
        attempt = _row(db, "SELECT id, state FROM attempts WHERE id = :a", {"a": t["last_attempt_id"]}) \
            if t["last_attempt_id"] else None
        if attempt is None:
            reverted += target_state.release(db, t["campaign_id"], t["borrower_id"], now)
        elif attempt["state"] == "ended":
            to_finalize.append(attempt["id"])
    return reverted, to_finalize


def unapplied_attempts(db: Handle, node: str) -> list[str]:
    """Ended attempts of `node` (or of no node) whose target is still active for them: their
    disposition was never applied (the finalize failed, or the process applying it died)."""
    return [r["id"] for r in store_of(db).query(
        "SELECT a.id FROM campaign_targets t JOIN attempts a ON a.id = t.last_attempt_id "
        "WHERE t.status = 'active' AND a.state = 'ended' AND (a.node = :node OR a.node IS NULL) "
        "ORDER BY a.created_at, a.id", {"node": node})]


def active_counts(db: Handle) -> dict[int, int]:
    return {r["campaign_id"]: r["n"] for r in store_of(db).query(
        "SELECT campaign_id, count(*) AS n FROM campaign_targets WHERE status = 'active' GROUP BY campaign_id")}


def _log_failure(task: "asyncio.Task[object]") -> None:
    """A call's task that raised (its attempt is applied by the next reconcile): said at once, in
    the log, rather than as "exception never retrieved" whenever the task is collected."""
    if not task.cancelled() and task.exception() is not None:
        log.error("a call's task failed", exc_info=task.exception())


# ---- the loop -----------------------------------------------------------------------------------
@dataclasses.dataclass
class ControllerStats:
    placed: int = 0
    ended: int = 0
    reconciled_adopted: int = 0
    reconciled_closed: int = 0
    reverted: int = 0
    ticks: int = 0
    tick_seconds_max: float = 0.0
    originate_times: list[float] = dataclasses.field(default_factory=list)


class Controller:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, placer: CallPlacer | None = None,
                 db: AsyncDb | None = None, tick_s: float = 0.2, max_channels: int = 30,
                 notifier: Notifier | None = None, lender: str = "", reconcile_every_s: float = 30.0,
                 policy_shift: dt.timedelta = NO_SHIFT, trunk_clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.policy_shift = policy_shift
        # the lender's holiday file completes the package's calendar (re-read when it changes)
        self.holidays = HolidayCalendar(settings.holiday_file or None)
        self.db = db
        self.placer = placer
        self.tick_s = tick_s
        self.max_channels = int(limits.clamp("max_channels", max_channels, limits.MAX_CHANNELS))
        self.notifier = notifier
        self.lender = lender
        self.reconcile_every_s = reconcile_every_s
        self.node_lost_after_s = settings.node_lost_after_s
        self.stats = ControllerStats()
        self._pacers: dict[int, scheduler.Pacer] = {}
        self.trunks = TrunkPacing(settings.trunks(), clock=trunk_clock or time.monotonic)
        self._trunk_of: dict[str, str] = {}   # attempt id -> the trunk endpoint it holds
        self._in_flight: dict[str, Dial] = {}
        self._placing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._needs_reconcile = True
        self._last_reconcile = 0.0
        self._last_notify = 0.0
        self._was_connected = True
        self._ami_down_since: float | None = None   # monotonic time AMI was first seen down
        self._stopping = False
        self._name = heartbeat.process_name()
        self.node = settings.node            # the Asterisk (+ dialog server) this controller places calls on
        self._started_at = now_iso()
        self._last_beat = -heartbeat.BEAT_EVERY_S

    # -- lifecycle --
    @property
    def _db(self) -> AsyncDb:
        """The database handle: the one given, or the one `start()` opened."""
        if self.db is None:
            raise RuntimeError("the controller has no database before start()")
        return self.db

    @property
    def _placer(self) -> CallPlacer:
        """The call placer: the one given, or the one `start()` made."""
        if self.placer is None:
            raise RuntimeError("the controller has no call placer before start()")
        return self.placer

    async def start(self) -> None:
        if self.db is None:
            self.db = AsyncDb(self.settings)   # open_database: database_url picks the engine
        if self.placer is None:
            from .calls import CallPlacer
            self.placer = CallPlacer(self.settings, self.db, on_state=self._on_ami_state)
        delay = 0.5
        while True:
            try:
                await self.placer.start()
                break
            except (OSError, asyncio.TimeoutError) as exc:
                log.warning("AMI not reachable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        await self.reconcile(startup=True)

    async def close(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.placer is not None:
            await self.placer.close()
        if self.db is not None:
            try:
                await self.db.call(heartbeat.stopped, self._name)
                await self.db.call(nodes.stopped, self.node, self._name)
            except Exception as exc:  # closing anyway; the beat goes stale on its own
                log.warning("could not record the controller's stop: %s", exc)

    async def _on_ami_state(self, connected: bool) -> None:
        log.warning("AMI %s", "connected" if connected else "disconnected: not originating")
        if connected:
            self._needs_reconcile = True

    def _busy(self) -> int:
        """Calls of this process: being placed (until the Originate was sent) or followed."""
        return len(self._placing | self._in_flight.keys())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def run(self, *, once: bool = False, until_idle: bool = False) -> None:
        """The loop. `once`: one tick, then wait for the calls it placed to end. `until_idle`:
        stop when no campaign is running and no call is in flight (tests, batch use)."""
        await self.start()
        try:
            while not self._stopping:
                await self.tick()
                if once:
                    break
                if until_idle and not self._busy():
                    running = await self._db.call(lambda d: store_of(d).scalar(
                        "SELECT count(*) FROM campaigns WHERE state IN ('running', 'paused')"))
                    if running == 0:
                        break
                await asyncio.sleep(self.tick_s)
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if self.notifier is not None:
                await asyncio.to_thread(self.notifier.run_once)
        finally:
            await self.close()

    # -- one tick --
    async def tick(self) -> None:
        started = time.perf_counter()
        now = self.clock.now()
        self.stats.ticks += 1
        metrics.CALLS_IN_FLIGHT.set(self._busy())
        try:
            self.holidays.refresh()
        except HolidayFileError as exc:   # keep the days read before; the policy refuses unknown years
            log.warning("%s", exc)
        connected = self._placer.ami.connected
        if time.monotonic() - self._last_beat >= heartbeat.BEAT_EVERY_S:
            self._last_beat = time.monotonic()
            await self._db.call(heartbeat.beat, self._name, self._started_at, connected)
            await self._db.call(lambda d: nodes.beat(
                d, self.node, ami_host=self.settings.ami_host, ami_port=self.settings.ami_port_effective,
                capacity=self.max_channels, controller=self._name, started_at=self._started_at,
                ami_connected=connected))
        await self._db.call(campaigns_mod.process_commands, now, self.holidays)
        await self._db.call(campaigns_mod.finish_due, now)
        if not connected:
            if self._was_connected:
                log.warning("AMI down: originating nothing until it is back")
            self._was_connected = False
            if self._ami_down_since is None:
                self._ami_down_since = time.monotonic()
            if time.monotonic() - self._ami_down_since >= self.node_lost_after_s:
                await self.close_own_lost_calls()
            return
        self._was_connected = True
        self._ami_down_since = None
        if self._needs_reconcile or time.monotonic() - self._last_reconcile > self.reconcile_every_s:
            await self.reconcile()
            await self.close_lost_nodes_calls()
        if self.notifier is not None and time.monotonic() - self._last_notify > 2.0:
            # its own connection, its own thread: a slow provider never holds up the dialer's writes
            self._last_notify = time.monotonic()
            await asyncio.to_thread(self.notifier.run_once)
        running = await self._db.call(scheduler.running_campaigns, now)
        active = await self._db.call(active_counts)
        budgets: dict[int, int] = {}
        for c in running:
            rate = limits.pacing_rate(c["max_cps"])   # within the hard limits whatever the row says
            pacer = self._pacers.get(c["id"])
            if pacer is None or pacer.rate != rate:
                pacer = self._pacers[c["id"]] = scheduler.Pacer(rate)
            budgets[c["id"]] = max(0, min(limits.concurrency(c["max_concurrent"]) - active.get(c["id"], 0),
                                          pacer.available()))
        global_slots = min(self.max_channels - self._busy(), self.trunks.room())
        if global_slots <= 0 or not any(budgets.values()):
            return
        in_flight_borrowers = {d.borrower_id for d in self._in_flight.values()}
        result = await self._db.call(lambda d: scheduler.tick(d, now, budgets, in_flight=in_flight_borrowers,
                                                             global_slots=global_slots, campaigns=running,
                                                             policy_shift=self.policy_shift,
                                                             calendar=self.holidays))
        for campaign_id, borrower_id, reason in result.finished_targets:
            await self._db.call(self._fallback_for_refusal, campaign_id, borrower_id, reason, now)
        campaign_rows = {c["id"]: c for c in running}
        for dial in result.dials:
            trunks = self.trunks.assign()
            if trunks is None:   # cannot happen (global_slots counted the trunks' room); never over a cap
                break
            self._pacers[dial.campaign_id].take(1)
            attempt_id = str(uuid.uuid4())
            self._trunk_of[attempt_id] = trunks[0].endpoint
            self._placing.add(attempt_id)
            shown = caller_ids.from_campaign(campaign_rows.get(dial.campaign_id), dial.number, dial.borrower_id,
                                             self.settings.default_caller_id)
            self._spawn(self._run_attempt(dial, attempt_id, campaign_rows[dial.campaign_id], trunks=trunks,
                                          caller_id=shown))
        self.stats.tick_seconds_max = max(self.stats.tick_seconds_max, time.perf_counter() - started)

    def _fallback_for_refusal(self, db: Handle, campaign_id: int, borrower_id: int, reason: str,
                              now: dt.datetime) -> int | None:
        campaign = _existing(store_of(db), "campaigns", campaign_id)
        borrower = _existing(store_of(db), "borrowers", borrower_id)
        return queue_fallback(db, campaign, borrower, "unreachable", now, self.lender, reason=reason)

    async def _run_attempt(self, dial: Dial, attempt_id: str, campaign: dict[str, Any], *, trunks: list[Trunk],
                           caller_id: str) -> None:
        try:
            now = self.clock.now()
            row = attempts_db.new_row(attempt_id, dial.number, locale=dial.locale, borrower_id=dial.borrower_id,
                                      contact_id=dial.contact_id, campaign_id=dial.campaign_id, flow=dial.flow,
                                      caller_id=caller_id, trunk=trunks[0].endpoint, created_at=iso(now),
                                      node=self.node)
            if not await self._db.call(lambda d: claim_dial(d, dial, row, campaign, now, policy_shift=self.policy_shift,
                                                           calendar=self.holidays)):
                log.info("attempt %s: not placed, the borrower's situation changed since the tick", attempt_id)
                return
            self._in_flight[attempt_id] = dial
            self.stats.placed += 1
            self.stats.originate_times.append(time.monotonic())
            log.info("attempt %s: campaign %s borrower %s -> %s (%s)", attempt_id, dial.campaign_id,
                     dial.borrower_id, redact.phone(dial.number), dial.flow)
            try:
                await self._placer.place(dial.number, locale=dial.locale, borrower_id=dial.borrower_id,
                                        contact_id=dial.contact_id, campaign_id=dial.campaign_id, flow=dial.flow,
                                        attempt_id=attempt_id, created_at=iso(now), trunks=trunks,
                                        caller_id=caller_id, recorded=True)
            except Exception:
                log.exception("attempt %s: placing failed", attempt_id)
                await self._db.call(self._close_failed_place, attempt_id)
            # placed (or closed): from now on reconcile may judge it by its channel
            self._placing.discard(attempt_id)
            await self._wait_and_finalize(attempt_id)
        finally:
            self._placing.discard(attempt_id)
            self._in_flight.pop(attempt_id, None)
            self.trunks.release(self._trunk_of.pop(attempt_id, None))

    def _close_failed_place(self, db: Handle, attempt_id: str) -> None:
        row = attempts_db.get(db, attempt_id)
        if row is None:
            # the attempt row was never written: no Originate either; the target goes back to pending
            fix_orphan_targets(db, self.clock.now())
            return
        if row["state"] != "ended":
            attempts_db.update(db, attempt_id, {"state": "ended", "ended_at": iso(self.clock.now()),
                                                "outcome": "failed", "disposition": "dialer-error"})
            count_call("failed", "dialer-error")
            self._placer.release(attempt_id)

    async def _wait_and_finalize(self, attempt_id: str) -> None:
        row = await self._placer.wait(attempt_id)
        if row is None or row["state"] != "ended":
            return  # released as lost: reconcile closes and finalizes it
        await self._finalize(attempt_id)

    async def _finalize(self, attempt_id: str) -> None:
        # the dialog server writes its result as the call ends: give it a moment
        deadline = time.monotonic() + DIALOG_RESULT_WAIT_S
        while time.monotonic() < deadline:
            state = await self._db.call(lambda d: _row(d, "SELECT a.outcome, g.attempt_id AS has_dialog, g.result "
                                                         "FROM attempts a LEFT JOIN dialogs g ON g.attempt_id = a.id "
                                                         "WHERE a.id = :a", {"a": attempt_id}))
            if state is None or not (state["outcome"] == "answered" or state["has_dialog"]) or state["result"]:
                break
            await asyncio.sleep(0.2)
        result = await self._db.call(finalize, attempt_id, self.clock.now(), self.lender)
        self.stats.ended += 1
        log.info("attempt %s: %s", attempt_id, result)

    # -- reconcile --
    async def alive_channels(self) -> set[str]:
        _, events = await self._placer.ami.send_action_list({"Action": "CoreShowChannels"}, timeout=10)
        alive: set[str] = set()
        for e in events:
            for key in ("Uniqueid", "Linkedid"):
                value = e.get(key)
                if isinstance(value, list):
                    value = value[0] if value else None
                if value:
                    alive.add(str(value)[:36])
        return alive

    async def reconcile(self, *, startup: bool = False) -> None:
        """Bring the database in line with Asterisk's channels (see the module docstring)."""
        try:
            alive = await self.alive_channels()
        except Exception as exc:  # AMI dropped again: try at the next tick
            log.warning("reconcile: CoreShowChannels failed: %s", exc)
            self._needs_reconcile = True
            if startup:   # what needs no channel list is done now: nothing later does it
                await self.apply_unapplied(startup=True)
            return
        self._needs_reconcile = False
        self._last_reconcile = time.monotonic()
        now = self.clock.now()
        rows = await self._db.call(open_attempts, self.node)
        tracked = set(self._placer.pending_ids())
        for a in rows:
            aid = a["id"]
            if aid in self._placing:
                continue     # its row is written before its Originate is sent: no channel yet, and none lost
            # just originated (CallPlacer stamps originated_at with the wall clock): its channel
            # may not exist yet
            wall = dt.datetime.now(dt.timezone.utc)
            if not startup and aid in tracked and a["originated_at"] and \
                    parse_iso(a["originated_at"]) > wall - dt.timedelta(seconds=5) and aid not in alive:
                continue
            if aid in alive:
                if aid not in tracked:
                    log.info("reconcile: attempt %s still up (%s): following it", aid, a["state"])
                    self._placer.adopt(aid, state=a["state"])
                    self.stats.reconciled_adopted += 1
                    self._spawn(self._follow_adopted(a))
                continue
            view = self._placer.release(aid) if aid in tracked else None
            log.warning("reconcile: attempt %s (%s) has no channel any more: closing it", aid, a["state"])
            await self._db.call(close_lost, aid, view, now)
            self.stats.reconciled_closed += 1
            await self._finalize(aid)
        await self.apply_unapplied(startup=startup)

    async def apply_unapplied(self, *, startup: bool) -> None:
        """Targets still active for an attempt that is over. At start-up (whether or not AMI
        answered): every node's, and targets whose attempt row was never written go back to pending
        (`fix_orphan_targets`). Later, at each reconcile: this node's attempts that ended but whose
        finalize failed in this process (the database refused it, e.g. SQLite's busy timeout ran
        out) — without this the target stays active and its campaign never finishes until a restart.
        An attempt a task of this process is still following or finalizing is left to that task."""
        now = self.clock.now()
        if startup:
            reverted, ended = await self._db.call(fix_orphan_targets, now)
            self.stats.reverted += reverted
        else:
            ended = [aid for aid in await self._db.call(unapplied_attempts, self.node) if aid not in self._in_flight]
        for aid in ended:
            if not startup:
                log.warning("attempt %s: ended, its disposition never applied: applying it now", aid)
            await self._finalize(aid)

    async def close_lost_nodes_calls(self) -> None:
        """Calls of nodes silent for longer than any call lasts (nodes.lost_attempts): closed as lost
        and finalized here, so their borrowers move on by the campaign's rules."""
        now = self.clock.now()
        for aid in await self._db.call(lambda d: nodes.lost_attempts(d, dt.datetime.now(dt.timezone.utc),
                                                                     self.node_lost_after_s)):
            log.warning("attempt %s: its node has been silent for over %.0f s: closing it as lost", aid,
                        self.node_lost_after_s)
            await self._db.call(close_lost, aid, None, now)
            await self._finalize(aid)

    async def close_own_lost_calls(self) -> None:
        """AMI has been down for `node_lost_after_s`: this node's Asterisk is gone and its calls with
        it (no call lasts that long). Each open call of the node is closed as lost and finalized here,
        so its borrower moves on by the campaign's rules; if AMI comes back, reconcile runs as usual."""
        if time.monotonic() - self._last_reconcile < self.reconcile_every_s:
            return
        self._last_reconcile = time.monotonic()
        now = self.clock.now()
        for a in await self._db.call(open_attempts, self.node):
            aid = a["id"]
            if aid in self._placing:
                continue     # its Originate cannot be sent without AMI: the placing task closes it
            view = self._placer.release(aid)
            log.warning("attempt %s (%s): AMI has been down for over %.0f s: closing it as lost", aid, a["state"],
                        self.node_lost_after_s)
            await self._db.call(close_lost, aid, view, now)
            self.stats.reconciled_closed += 1
            await self._finalize(aid)
        self._needs_reconcile = True   # whatever is left, when AMI is back

    async def _follow_adopted(self, attempt: dict[str, Any]) -> None:
        aid = attempt["id"]
        self._in_flight[aid] = Dial(attempt["campaign_id"], attempt["borrower_id"], attempt["contact_id"],
                                    attempt["number"], attempt["locale"], attempt["flow"])
        trunk = attempt.get("trunk")
        self.trunks.adopt(trunk)
        try:
            await self._wait_and_finalize(aid)
        finally:
            self._in_flight.pop(aid, None)
            self.trunks.release(trunk)
