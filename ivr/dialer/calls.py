"""Place calls over AMI and follow each one to its outcome.

The attempt row is written before the Originate is sent; its id is the Originate ChannelId, so it
is the Uniqueid (and Linkedid) of every channel event of the call, the Attempt of every UserEvent
of our dialplan, the AudioSocket UUID and the recording's name. An Originate is never re-sent:
if AMI drops while it is in flight the attempt is closed as failed, not retried here.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import redact
from ..ami.client import AmiClient, AmiDisconnected, AmiError, StateHandler
from ..ami.protocol import Message
from ..asterisk import media
from ..asterisk.secret import ami_secret
from ..config import Settings, Trunk
from ..db import attempts as attempts_db
from ..db.clock import now_iso
from ..db.writer import AsyncDb
from . import escalations
from .attempt_state import AttemptView, reduce
from .dial_number import dial_variables
from .outcomes import classify
from .queue_wait import QueueWaits

log = logging.getLogger(__name__)

# event headers worth keeping in the events table
KEEP = ("Event", "UserEvent", "Channel", "Uniqueid", "Linkedid", "ChannelStateDesc", "Cause", "Cause-txt",
        "DialStatus", "TechCause", "Stage", "Reason", "Response", "Recording", "Next", "AgiStatus", "QueueStatus",
        "ProgressMs", "Announcement", "AnnouncementVia", "AnnouncementScore", "EarlyMedia", "Trunk", "Tried",
        "SipCode", "Try", "Queue", "Interface", "MemberName", "DestChannel", "HoldTime", "RingTime")
FAILED_GRACE_S = 3.0


@dataclasses.dataclass
class Tracker:
    view: AttemptView
    done: asyncio.Event
    action_id: str
    ended_view: AttemptView | None = None


class CallPlacer:
    def __init__(self, settings: Settings, db: AsyncDb, on_state: StateHandler | None = None) -> None:
        self.settings = settings
        self.db = db
        self.ami = AmiClient(settings.ami_host, settings.ami_port_effective, settings.ami_user, ami_secret(settings),
                             on_event=self._on_event, on_state=on_state)
        self._by_key: dict[str, Tracker] = {}
        self._queue_waits = QueueWaits()   # huifang_queue_wait_seconds

    async def start(self) -> None:
        await self.ami.start()

    async def close(self) -> None:
        await self.ami.close()

    # ---- placing ------------------------------------------------------------------------------
    async def place(self, number: str, *, locale: str, borrower_id: int | None = None,
                    contact_id: int | None = None, campaign_id: int | None = None, flow: str = "followup",
                    attempt_id: str | None = None, created_at: str | None = None,
                    trunks: list[Trunk] | None = None, caller_id: str | None = None,
                    recorded: bool = False) -> str:
        """`attempt_id`: an id chosen (and recorded) by the caller beforehand; `created_at`: the
        caller's clock, so that caps counted on attempts.created_at follow that clock; `trunks`: the
        trunks to try in order (default: every configured one); `caller_id`: the number shown
        (default: the `default_caller_id` setting); `recorded`: the caller already wrote the attempt
        row (`attempts.new_row`), as the controller does in the transaction that claims the call. A
        number a trunk cannot dial raises `NumberError` after the attempt row is written (the
        controller closes it as a dialer error)."""
        attempt_id = attempt_id or str(uuid.uuid4())
        trunks = trunks or self.settings.trunks()
        caller_id = caller_id or self.settings.default_caller_id
        if not recorded:
            await self.db.call(attempts_db.create, attempts_db.new_row(
                attempt_id, number, locale=locale, borrower_id=borrower_id, contact_id=contact_id,
                campaign_id=campaign_id, flow=flow, caller_id=caller_id, trunk=trunks[0].endpoint,
                created_at=created_at))
        trunk_vars = dial_variables(number, trunks)   # NumberError: the caller closes the attempt
        action_id = f"orig-{attempt_id}"
        tracker = Tracker(view=AttemptView(attempt_id), done=asyncio.Event(), action_id=action_id)
        self._by_key[attempt_id] = tracker
        self._by_key[action_id] = tracker
        # a failover leg rings again after the first one failed: the Originate waits for both
        timeout_ms = (self.settings.ring_timeout_s * len(trunks) + 10) * 1000
        action = {
            "Action": "Originate", "ActionID": action_id,
            "Channel": f"Local/{attempt_id}@huifang-dial/n",  # named after the attempt: no number in logs
            "Context": "huifang-line", "Exten": "s", "Priority": "1",   # ;1 waits; the answered call runs huifang-call
            "Timeout": str(timeout_ms), "Async": "true",
            "ChannelId": attempt_id,
            "CallerID": f"<{caller_id}>",
            "Variable": [f"IVR_ATTEMPT={attempt_id}", f"IVR_LOCALE={locale}", f"IVR_NUMBER={number}",
                         f"IVR_RING_TIMEOUT={self.settings.ring_timeout_s}", f"IVR_CALLER_ID={caller_id}",
                         *trunk_vars],
        }
        if not await self.db.call(attempts_db.mark_dialing, attempt_id, now_iso()):
            # closed meanwhile (it was judged lost): never originate an attempt that is over
            log.warning("attempt %s: closed before its Originate was sent: not placing it", attempt_id)
            tracker.view = dataclasses.replace(tracker.view, originate_ok=False, main_hangup=True)
            tracker.done.set()
            return attempt_id
        tracker.view = dataclasses.replace(tracker.view, state="dialing")
        try:
            response = await self.ami.send_action(action, timeout=10)
        except (AmiDisconnected, AmiError, asyncio.TimeoutError) as exc:
            # never re-sent: the call may or may not have been placed; follow it if events arrive
            log.warning("attempt %s: Originate not confirmed: %s", attempt_id, exc)
            await self.db.call(attempts_db.add_event, attempt_id, "controller", "OriginateUnconfirmed",
                               {"error": str(exc)})
            asyncio.get_running_loop().call_later(self.settings.ring_timeout_s + 20, self._expire, tracker)
            return attempt_id
        if str(response.get("Response", "")).lower() != "success":
            log.warning("attempt %s: Originate refused: %s", attempt_id, response.get("Message"))
            tracker.view = dataclasses.replace(tracker.view, originate_ok=False, main_hangup=True)
            await self._finish(tracker)
        log.info("attempt %s: originating to %s", attempt_id, redact.phone(number))
        return attempt_id

    async def wait(self, attempt_id: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The attempt's row, once it has ended if it is being followed (None: no such attempt)."""
        tracker = self._by_key.get(attempt_id)
        if tracker is not None:
            await asyncio.wait_for(tracker.done.wait(), timeout)
        return await self.db.call(attempts_db.get, attempt_id)

    # ---- attempts of an earlier run, lost events ---------------------------------------------
    def adopt(self, attempt_id: str, *, state: str) -> None:
        """Follow an attempt placed before a restart whose channel still exists: its later events
        (HuifangDial, Hangup, ...) are reduced and it is closed by `_finish` like any other."""
        answered = state in ("answered", "in_dialog")
        # its channel exists, so the Originate did create it: the main channel's Hangup ends it
        # even when the events before the restart (answer, OriginateResponse) were missed; an
        # answered one ends with its call's HuifangHangup (attempt_state: the Local pair is gone)
        view = AttemptView(attempt_id, state=state, answered=answered, originate_ok=True)
        tracker = Tracker(view=view, done=asyncio.Event(), action_id=f"orig-{attempt_id}")
        self._by_key[attempt_id] = tracker
        self._by_key[tracker.action_id] = tracker

    def pending_ids(self) -> list[str]:
        """Attempts being followed that have not ended."""
        return sorted({t.view.attempt_id for t in self._by_key.values() if not t.done.is_set()})

    def view(self, attempt_id: str) -> AttemptView | None:
        tracker = self._by_key.get(attempt_id)
        return tracker.view if tracker else None

    def release(self, attempt_id: str) -> AttemptView | None:
        """Stop following an attempt whose channel is gone without us seeing its end (AMI was
        down, or the controller restarted): the caller writes what can be inferred. `wait()`
        returns at once afterwards."""
        tracker = self._by_key.get(attempt_id)
        if tracker is None or tracker.done.is_set():
            return None
        tracker.done.set()
        self._forget(tracker)
        return tracker.view

    # ---- following ----------------------------------------------------------------------------
    def _tracker_for(self, event: Message) -> Tracker | None:
        for key in ("Attempt", "ActionID", "Uniqueid", "Linkedid"):
            value = event.get(key)
            if isinstance(value, list):
                value = value[0] if value else None
            if value:
                tracker = self._by_key.get(str(value)[:36]) or self._by_key.get(str(value))
                if tracker is not None:
                    return tracker
        return None

    async def _on_event(self, event: Message) -> None:
        tracker = self._tracker_for(event)
        if tracker is None or tracker.done.is_set():
            return
        before = tracker.view
        tracker.view = reduce(before, event)
        data = {k: event[k] for k in KEEP if k in event}
        aid = tracker.view.attempt_id
        self._queue_waits.observe(aid, event)
        await self.db.call(attempts_db.add_event, aid, "ami", str(event.get("UserEvent") or event.get("Event")), data)
        changes: dict[str, Any] = {}
        if tracker.view.state != before.state and tracker.view.state != "ended":
            changes["state"] = tracker.view.state
            if tracker.view.state == "in_dialog" and not before.answered:
                changes["answered_at"] = now_iso()
        if event.get("UserEvent") in ("HuifangTrunk", "HuifangDial") and event.get("Trunk"):
            changes["trunk"] = str(event["Trunk"])
        if tracker.view.recording and tracker.view.recording != before.recording:
            changes["recording_path"] = self._host_path(tracker.view.recording)
        if changes:
            await self.db.call(attempts_db.update, aid, changes)
        answer = escalations.agent_answer(event)
        if answer is not None and answer.attempt_id == aid:
            await self.db.call(escalations.assign, answer, now_iso())
        if tracker.view.finished:
            await self._finish(tracker)
        elif tracker.view.originate_ok is False and before.originate_ok is None:
            asyncio.get_running_loop().call_later(FAILED_GRACE_S, self._expire, tracker)

    def _host_path(self, asterisk_path: str) -> str:
        return str(media.to_host(self.settings, asterisk_path))

    def _expire(self, tracker: Tracker) -> None:
        if not tracker.done.is_set():
            tracker.view = dataclasses.replace(tracker.view, main_hangup=True)
            asyncio.ensure_future(self._finish(tracker))

    async def _finish(self, tracker: Tracker) -> None:
        if tracker.done.is_set():
            return
        tracker.done.set()
        view = tracker.view
        outcome, cause = classify(view)
        changes: dict[str, Any] = {"state": "ended", "ended_at": now_iso(), "outcome": outcome, "cause": cause,
                   "dial_status": view.dial_status, "sip_code": view.sip_code,
                   "originate_reason": view.originate_reason, "cause_txt": view.tech_cause}
        if view.announcement:
            changes["announcement"] = view.announcement
        await self.db.call(attempts_db.update, view.attempt_id, changes)
        if view.answered and view.recording:
            # early media of an answered call (colour ring-back) is nobody's evidence: the dial
            # wrapper keeps it only when non-empty, and only failed calls' is worth keeping
            early = Path(self._host_path(view.recording)).with_name(f"early-{view.attempt_id}.sln")
            early.unlink(missing_ok=True)
        if view.recording:
            await self.db.call(attempts_db.note_recording, view.attempt_id, self._host_path(view.recording))
        if view.answered:
            await self.db.call(escalations.close_unanswered, view.attempt_id, datetime.now(timezone.utc))
        log.info("attempt %s: ended %s (cause %s, dial %s, sip %s)", view.attempt_id, outcome, cause,
                 view.dial_status, view.sip_code)
        # forget this call's keys a little later (late events of it are ignored meanwhile)
        asyncio.get_running_loop().call_later(30, self._forget, tracker)

    def _forget(self, tracker: Tracker) -> None:
        for key in (tracker.view.attempt_id, tracker.action_id):
            self._by_key.pop(key, None)
