"""Who took the borrower the dialog handed over: escalations tied to the agent whose phone answered.

The dialog server writes the escalation (ivr/dialog/runner.py) before the call enters the queue.
Asterisk's app_queue then reports, on AMI, `AgentConnect` when a member's phone answers: its
Uniqueid is the caller's channel (our attempt id), `Interface` the member (PJSIP/huifang-<name>)
and `DestChannel` the agent's channel. That event, not a click in the web app, decides whose
escalation it is: the web app shows an escalation to that agent only (ivr/web/agent.py).

When the attempt ends and no agent ever answered, the escalation closes itself (outcome
`no_agent`) and becomes a callback: the borrower is called again after NO_AGENT_CALLBACK_DELAY
(the dialer's `answered-no-agent` rule schedules the campaign target at that time).

Both functions work through the Store of the handle they are given, on SQLite or PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from ..agents.credentials import name_from_interface
from ..ami.protocol import Message
from ..db.store import HasStore, Store, store_of

log = logging.getLogger(__name__)
NO_AGENT_CALLBACK_DELAY = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class AgentAnswer:
    attempt_id: str
    agent: str          # agent endpoint name (users.agent_ext)
    channel: str        # the agent's channel, e.g. PJSIP/huifang-agent1-00000004


def _h(event: Message, name: str) -> str:
    value = event.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def agent_answer(event: Message) -> AgentAnswer | None:
    """Pure: the AgentConnect event of our queue -> who answered which attempt (None otherwise)."""
    if _h(event, "Event") != "AgentConnect" or _h(event, "Queue") not in ("", "huifang-agents"):
        return None
    # the caller's Linkedid is the attempt id (the Originate ChannelId); its Uniqueid is the
    # borrower's trunk channel, which runs the answered call (dialplans/huifang.conf)
    attempt_id = _h(event, "Linkedid") or _h(event, "Uniqueid")
    agent = (name_from_interface(_h(event, "Interface")) or name_from_interface(_h(event, "DestChannel")))
    if not attempt_id or agent is None:
        return None
    return AgentAnswer(attempt_id, agent, _h(event, "DestChannel"))


def assign(db: Store | HasStore, answer: AgentAnswer, at: str) -> bool:
    """Give the attempt's open escalation to the agent whose phone answered. False when there is
    no such escalation, or it is closed, or another agent already has it (never taken away)."""
    changed = store_of(db).execute(
        "UPDATE escalations SET agent = :agent, agent_channel = :channel, assigned_at = :at, "
        "answered_at = coalesce(answered_at, :at) WHERE attempt_id = :attempt AND closed_at IS NULL "
        "AND (agent IS NULL OR agent = :agent)",
        {"agent": answer.agent, "channel": answer.channel, "at": at, "attempt": answer.attempt_id})
    if changed != 1:
        log.warning("attempt %s: AgentConnect from %s matched no open escalation", answer.attempt_id, answer.agent)
        return False
    log.info("attempt %s: escalation assigned to %s (%s)", answer.attempt_id, answer.agent, answer.channel)
    return True


def close_unanswered(db: Store | HasStore, attempt_id: str, now: dt.datetime) -> dict[str, Any] | None:
    """The call is over: an escalation no agent answered closes itself and becomes a callback.
    Returns the callback row (None when there is nothing to close). Idempotent."""
    store = store_of(db)
    e = store.one("SELECT * FROM escalations WHERE attempt_id = :attempt AND agent IS NULL AND closed_at IS NULL "
                  "ORDER BY id", {"attempt": attempt_id})
    if e is None:
        return None
    stamp = now.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")
    due = (now + NO_AGENT_CALLBACK_DELAY).astimezone(dt.timezone.utc).isoformat(timespec="minutes")
    with store.transaction():
        if store.execute("UPDATE escalations SET outcome = 'no_agent', closed_at = :at "
                         "WHERE id = :id AND agent IS NULL AND closed_at IS NULL", {"at": stamp, "id": e["id"]}) != 1:
            return None
        # the dialog server's no-agent apology may have written the callback already (without a time)
        existing = store.one("SELECT * FROM callbacks WHERE attempt_id = :attempt AND reason = 'no_agent' ORDER BY id",
                             {"attempt": attempt_id})
        if existing is not None:
            store.execute("UPDATE callbacks SET due_at = coalesce(due_at, :due) WHERE id = :id",
                          {"due": due, "id": existing["id"]})
            callback = {**existing, "due_at": existing["due_at"] or due}
        else:
            callback = {"attempt_id": attempt_id, "borrower_id": e["borrower_id"], "reason": "no_agent",
                        "due_at": due, "created_at": stamp}
            callback["id"] = store.insert("callbacks", callback)
    log.info("attempt %s: no agent answered; escalation %s closed, callback due %s", attempt_id, e["id"],
             callback["due_at"])
    return callback
