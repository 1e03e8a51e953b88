"""Dispositions: what one attempt came to, and what the campaign does next because of it.

The disposition is derived from the attempt row (outcome, Q.850 cause, dial status, SIP code,
written by `calls.CallPlacer`) and the dialog server's `dialogs.result`, and written to
`attempts.disposition`. Taxonomy:

  answered-completed        the conversation reached its end (identity confirmed and a plan, refusal,
                            dispute, hardship, will pay on time, promise, ...)
  answered-transferred      handed to an agent
  answered-no-agent         handed over, but no agent's phone answered: a callback (escalations.py)
  answered-callback-requested  the borrower asked to be called back (at a time, if they said one)
  answered-hung-up-early    answered, then hung up before the conversation ended
  answered-wrong-person     whoever answered is not the borrower
  answered-id-mismatch      the ID digits given did not match
  answered-no-input         answered, never said or keyed anything usable
  answered-error            the dialog server reported an error
  answered-no-dialog        answered but the dialog server has no record of it (down, crashed)
  no-answer                 rang, nobody answered
  busy                      486 / 600 / cause 17
  rejected                  603 / 403 / cause 21 (declined)
  invalid-number            404 / 484 / 410 / cause 1, 22, 28
  carrier-announcement      early media (183) then failure: 空号/停机 announcements in China
  unreachable               480/503-ish, cause 3, 20, 27: switched off, out of coverage
  congestion                cause 34, 42 or DIALSTATUS CONGESTION: the network is full
  network-error             cause 38, 41 and other network failures
  dialer-error              our side failed (Originate refused, AMI lost while placing)
  unknown-after-restart     the controller restarted and the call's end could not be known

Each disposition maps to a `Rule` (DEFAULT_RULES; a campaign overrides any of them in its
`retry_policy` JSON, e.g. {"busy": {"delay_s": 60}}):
  action retry     call again after delay_s (on whichever number the policy picks)
  action callback  call again at the time the borrower asked for (else after delay_s)
  action done      the campaign is finished with this borrower (done_reason = `done_reason`)
  mark_contact     set the dialled contact's status (invalid, wrong_person): never dialled again
  failed           counts as an unanswered attempt in a row (towards "unreachable")
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .outcomes import ANNOUNCEMENT_DISPOSITIONS

DISPOSITIONS = (
    "answered-completed", "answered-transferred", "answered-no-agent", "answered-callback-requested", "answered-hung-up-early",
    "answered-wrong-person", "answered-id-mismatch", "answered-no-input", "answered-error", "answered-no-dialog",
    "no-answer", "busy", "rejected", "invalid-number", "carrier-announcement", "unreachable", "congestion",
    "network-error", "dialer-error", "unknown-after-restart",
)

RESULT_DISPOSITIONS = {
    "completed": "answered-completed", "identity_confirmed": "answered-completed",
    "will_pay_on_time": "answered-completed", "promise": "answered-completed",
    "promise_unconfirmed": "answered-completed", "refused": "answered-completed",
    # a dispute or hardship is handed to an agent by the flow
    "dispute": "answered-transferred", "hardship": "answered-transferred",
    "third_party_will_relay": "answered-completed", "third_party_declined": "answered-completed",
    "transferred": "answered-transferred", "callback_requested": "answered-callback-requested",
    "wrong_person": "answered-wrong-person", "id_mismatch": "answered-id-mismatch",
    "no_input": "answered-no-input", "hung_up": "answered-hung-up-early", "error": "answered-error",
}
CONGESTION_CAUSES = {34, 42, 44}
NETWORK_CAUSES = {38, 41, 47, 102, 111, 127}


@dataclass(frozen=True)
class Rule:
    action: str = "retry"             # retry, callback, done
    delay_s: int = 0
    mark_contact: str | None = None   # invalid, wrong_person
    failed: bool = False              # an unanswered attempt (counts toward unreachable)
    done_reason: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "Rule | None" = None) -> "Rule":
        base = base or cls()
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown retry rule field(s): {', '.join(sorted(unknown))}")
        rule = dataclasses.replace(base, **data)
        if rule.action not in ("retry", "callback", "done"):
            raise ValueError(f"retry rule action must be retry, callback or done, got {rule.action!r}")
        if rule.mark_contact not in (None, "invalid", "wrong_person"):
            raise ValueError(f"mark_contact must be invalid or wrong_person, got {rule.mark_contact!r}")
        # a finite delay within 0..7 days (limits; a stored delay above it is applied as 7 days)
        from . import limits
        return dataclasses.replace(rule, delay_s=int(limits.number("delay_s", rule.delay_s, limits.RETRY_DELAY)[0]))


MIN, HOUR = 60, 3600
DEFAULT_RULES: dict[str, Rule] = {
    "answered-completed": Rule("done", done_reason="completed"),
    "answered-transferred": Rule("done", done_reason="transferred"),
    "answered-no-agent": Rule("callback", delay_s=30 * MIN),
    "answered-callback-requested": Rule("callback", delay_s=4 * HOUR),
    "answered-hung-up-early": Rule("retry", delay_s=1 * HOUR),
    "answered-wrong-person": Rule("retry", delay_s=10 * MIN, mark_contact="wrong_person"),
    "answered-id-mismatch": Rule("done", done_reason="id-mismatch"),
    "answered-no-input": Rule("retry", delay_s=2 * HOUR),
    "answered-error": Rule("retry", delay_s=30 * MIN),
    "answered-no-dialog": Rule("retry", delay_s=30 * MIN),
    "no-answer": Rule("retry", delay_s=2 * HOUR, failed=True),
    "busy": Rule("retry", delay_s=10 * MIN, failed=True),
    "rejected": Rule("retry", delay_s=2 * HOUR, failed=True),
    "invalid-number": Rule("retry", delay_s=0, mark_contact="invalid", failed=True),
    "carrier-announcement": Rule("retry", delay_s=0, mark_contact="invalid", failed=True),
    "unreachable": Rule("retry", delay_s=1 * HOUR, failed=True),
    "congestion": Rule("retry", delay_s=10 * MIN, failed=True),
    "network-error": Rule("retry", delay_s=10 * MIN, failed=True),
    "dialer-error": Rule("retry", delay_s=2 * MIN),
    "unknown-after-restart": Rule("retry", delay_s=1 * HOUR),
}
assert set(DEFAULT_RULES) == set(DISPOSITIONS)


def rules(overrides: dict[str, Any] | str | None = None) -> dict[str, Rule]:
    """The campaign's rules: DEFAULT_RULES with its retry_policy overrides applied (validated)."""
    given: dict[str, Any] = (json.loads(overrides or "{}") if isinstance(overrides, str) else overrides) or {}
    out = dict(DEFAULT_RULES)
    for name, data in given.items():
        if name not in out:
            raise ValueError(f"retry policy: unknown disposition {name!r}")
        if not isinstance(data, dict):
            raise ValueError(f"retry policy {name}: expected an object")
        out[name] = Rule.from_dict(data, out[name])
    return out


def classify(attempt: Mapping[str, Any], dialog_result: str | None, *, early_media: bool = False,
             escalation: Mapping[str, Any] | None = None) -> str:
    """The disposition of one ended attempt (`escalation`: its escalations row, if it had one)."""
    if attempt.get("disposition") == "unknown-after-restart":
        return "unknown-after-restart"
    outcome: str | None = attempt.get("outcome")
    cause = attempt.get("cause")
    announcement = attempt.get("announcement")   # recognized early media (announcements.py, 0005)
    if dialog_result == "announcement" and announcement in ANNOUNCEMENT_DISPOSITIONS:
        # the network answered (200) and played an announcement: the dialog never started
        return ANNOUNCEMENT_DISPOSITIONS[announcement]
    if outcome == "answered" or dialog_result:
        if not dialog_result:
            return "answered-no-dialog"
        if escalation is not None and escalation.get("outcome") == "no_agent" and not escalation.get("agent"):
            return "answered-no-agent"
        return RESULT_DISPOSITIONS.get(dialog_result, "answered-completed")
    if announcement in ANNOUNCEMENT_DISPOSITIONS:
        # 空号/停机: the number is dead; 关机/无法接通: retry later, keep the number; 忙: busy
        return ANNOUNCEMENT_DISPOSITIONS[announcement]
    if outcome == "invalid-number":
        return "carrier-announcement" if early_media else "invalid-number"
    if early_media and outcome in ("unreachable", "rejected", "failed") and attempt.get("sip_code") in (404, 410, 484, 604):
        return "carrier-announcement"
    if outcome in ("busy", "no-answer", "rejected"):
        return outcome
    if attempt.get("dial_status") == "CONGESTION" or cause in CONGESTION_CAUSES:
        return "congestion"
    if outcome == "unreachable":
        return "network-error" if cause in NETWORK_CAUSES else "unreachable"
    if outcome == "failed":
        if cause in NETWORK_CAUSES:
            return "network-error"
        return "dialer-error"
    if outcome is None:
        return "unknown-after-restart"
    return "network-error"


@dataclass(frozen=True)
class Next:
    """What to do with the campaign target after an attempt."""
    status: str                     # pending or done
    next_at: dt.datetime | None
    done_reason: str | None
    fails_in_row: int
    mark_contact: str | None


def next_step(disposition: str, rule: Rule, *, attempts: int, max_attempts: int, fails_in_row: int,
              now: dt.datetime, callback_at: dt.datetime | None = None, kind: str = "mobile") -> Next:
    """Pure: the target's next state after `attempts` attempts ended with `disposition`."""
    own = kind != "third_party"
    fails = (fails_in_row + 1 if rule.failed else 0) if own else fails_in_row
    if rule.action == "done":
        return Next("done", None, rule.done_reason or disposition, fails, rule.mark_contact)
    if attempts >= max_attempts:
        return Next("done", None, "exhausted", fails, rule.mark_contact)
    when = now + dt.timedelta(seconds=int(rule.delay_s))
    if rule.action == "callback" and callback_at is not None and callback_at > now:
        when = callback_at
    return Next("pending", when, None, fails, rule.mark_contact)


def callback_time(answers: Sequence[Mapping[str, Any]], tz_name: str) -> dt.datetime | None:
    """The time a borrower asked to be called back, from the answers' slots (callback_date/time)."""
    from zoneinfo import ZoneInfo
    for a in reversed(answers):
        try:
            slots = json.loads(a.get("slots") or "{}")
        except (TypeError, ValueError):
            continue
        date = slots.get("callback_date") or (slots.get("date") if a.get("intent") == "callback" else None)
        time = slots.get("callback_time") or (slots.get("time") if a.get("intent") == "callback" else None)
        if not date and not time:
            continue
        tz = ZoneInfo(tz_name)
        try:
            day = dt.date.fromisoformat(str(date)[:10]) if date else None
            clock = dt.time.fromisoformat(str(time)[:5]) if time else dt.time(10, 0)
        except ValueError:
            continue
        if day is None:
            return None  # a time without a day: the caller keeps its default delay
        return dt.datetime.combine(day, clock, tzinfo=tz)
    return None
