"""The life of one attempt as a pure reducer: (view, AMI event) -> view.

    queued -> dialing -> ringing -> answered -> in_dialog -> ended

Everything the controller learns about an attempt comes from AMI events that carry its id: the
UserEvents of our dialplan (`Attempt: <id>`), and channel events whose Uniqueid or Linkedid is
the id (the Originate ChannelId). The reducer is pure so that recorded event streams can be
replayed against it in tests.

Which channel's end ends the attempt: before an answer, our originated ;1 channel (Uniqueid ==
attempt id). Once the borrower answers, the dialplan splits the legs (Dial's G(), see
dialplans/huifang.conf): the Local pair hangs up at once and the borrower's own channel runs the
call, so an answered attempt ends with that channel — its `HuifangHangup` (the call's hangup
handler) or its Hangup event (its Uniqueid comes with `HuifangStage answered`).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..ami.protocol import Message

STATES = ("queued", "dialing", "ringing", "answered", "in_dialog", "ended")


@dataclass(frozen=True)
class AttemptView:
    attempt_id: str
    state: str = "queued"
    answered: bool = False
    originate_reason: int | None = None
    originate_ok: bool | None = None
    dial_status: str | None = None
    cause: int | None = None          # Q.850, of the borrower's leg where we know it
    tech_cause: str | None = None     # e.g. "SIP 486 Busy Here"
    recording: str | None = None
    failed_reason: int | None = None
    main_hangup: bool = False         # our ;1 channel (Uniqueid == attempt id) is gone
    hangup_cause: int | None = None   # cause on the channel that ended the attempt
    call_channel: str | None = None   # Uniqueid of the channel running the answered call
    call_ended: bool = False          # that channel is gone (HuifangHangup or its Hangup)
    early_media: bool = False         # the borrower's leg sent 183 (PROGRESSTIME of the Dial)
    announcement: str | None = None   # carrier announcement recognized in that early media

    @property
    def sip_code(self) -> int | None:
        """The final SIP response that failed the borrower's leg (a provisional 18x is not one)."""
        m = re.match(r"SIP (\d{3})", self.tech_cause or "")
        code = int(m.group(1)) if m else None
        return code if code and code >= 300 else None

    @property
    def finished(self) -> bool:
        """Enough is known to close the attempt."""
        if self.answered or self.dial_status == "ANSWER":
            return self.call_ended
        if not self.main_hangup:
            return False
        return self.originate_ok is not None or self.failed_reason is not None or self.dial_status is not None


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _h(event: Message, name: str) -> str:
    value = event.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def belongs(event: Message, attempt_id: str, originate_action_id: str | None = None) -> bool:
    if _h(event, "Attempt") == attempt_id:
        return True
    if originate_action_id and _h(event, "ActionID") == originate_action_id:
        return True
    for key in ("Uniqueid", "Linkedid"):
        if _h(event, key).startswith(attempt_id):
            return True
    return False


def _advance(view: AttemptView, state: str) -> AttemptView:
    if STATES.index(state) > STATES.index(view.state):
        return dataclasses.replace(view, state=state)
    return view


def reduce(view: AttemptView, event: Message) -> AttemptView:
    name = _h(event, "Event")
    aid = view.attempt_id
    if name == "OriginateResponse":
        ok = _h(event, "Response").lower() == "success"
        view = dataclasses.replace(view, originate_ok=ok, originate_reason=_int(_h(event, "Reason")))
        if ok:   # an Originate succeeds only once its channel is answered
            view = dataclasses.replace(_advance(view, "answered"), answered=True)
    elif name == "UserEvent":
        kind = _h(event, "UserEvent")
        if kind == "HuifangDial":
            view = dataclasses.replace(view, dial_status=_h(event, "DialStatus") or None,
                                       cause=_int(_h(event, "Cause")) or view.cause,
                                       tech_cause=_h(event, "TechCause") or view.tech_cause,
                                       early_media=view.early_media or bool(_h(event, "ProgressMs")),
                                       announcement=_h(event, "Announcement") or view.announcement)
        elif kind == "HuifangStage":
            stage = _h(event, "Stage")
            if stage == "answered":
                view = dataclasses.replace(_advance(view, "in_dialog"), answered=True,
                                           recording=_h(event, "Recording") or view.recording,
                                           call_channel=_h(event, "Uniqueid") or view.call_channel)
        elif kind == "HuifangHangup":
            view = dataclasses.replace(view, call_ended=True,
                                       hangup_cause=_int(_h(event, "Cause")) or view.hangup_cause)
        elif kind == "HuifangFailed":
            view = dataclasses.replace(view, failed_reason=_int(_h(event, "Reason")))
    elif name == "Newstate":
        desc = _h(event, "ChannelStateDesc")
        if desc == "Ringing" or desc == "Ring":
            view = _advance(view, "ringing")
        elif desc == "Up" and _h(event, "Uniqueid") == aid:
            view = dataclasses.replace(_advance(view, "answered"), answered=True)
    elif name in ("DialState", "DialBegin") and _h(event, "DialStatus") == "RINGING":
        view = _advance(view, "ringing")
    elif name == "Hangup":
        cause = _int(_h(event, "Cause"))
        uniqueid = _h(event, "Uniqueid")
        if uniqueid == aid:
            view = dataclasses.replace(view, main_hangup=True, hangup_cause=view.hangup_cause or cause)
        elif uniqueid and uniqueid == view.call_channel:
            view = dataclasses.replace(view, call_ended=True, hangup_cause=cause or view.hangup_cause)
        elif view.cause is None and cause:
            view = dataclasses.replace(view, cause=cause)
    if view.finished:
        view = _advance(view, "ended")
    return view
