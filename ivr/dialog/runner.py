"""Walk one call through a follow-up flow: say, ask, branch, transfer, hang up.

The runner owns the conversation's logic only. Audio goes through `CallAudio`, recognition
through `SpeechEngine`, understanding through `intents`, records through `DialogStore`.
A hangup anywhere raises `CallHungUp`; the caller's `finally` writes the disposition.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from ..db.clock import now_iso
from . import intents
from .intents.keypad import keypad_date, keypad_time
from .agi import CallHungUp
from .flow import Flow, Node
from .prompts import Prompts
from .speech import NoModel, SpeechEngine
from .store import DialogStore
from .turns import CallAudio, Turn

log = logging.getLogger("ivr.dialog")


@dataclass
class CallContext:
    attempt_id: str
    locale: str
    borrower: dict
    today: dt.date
    slots: dict = field(default_factory=dict)       # what the borrower told us (promise date, amount, ...)
    result: str = "completed"
    actions: list = field(default_factory=list)
    next: str = "hangup"                              # hangup or queue
    last_node: str | None = None
    no_match_at: str | None = None                    # the question the machine could not understand
    played: list = field(default_factory=list)        # every prompt as heard: {node, prompt, text, at}
    seq: int = 0

    def prompt_values(self) -> dict:
        b = self.borrower
        return {"name": b.get("name") or "", "amount": b.get("amount_due"), "due_date": b.get("due_date"),
                "promise_date": self.slots.get("promise_date"), "promise_amount": self.slots.get("promise_amount")}


def _wall(mono: float | None, ref_mono: float, ref_wall: dt.datetime) -> str | None:
    if mono is None:
        return None
    return (ref_wall + dt.timedelta(seconds=mono - ref_mono)).isoformat(timespec="milliseconds")


class FlowRunner:
    MAX_STEPS = 60  # a safety net against a loop in a flow

    def __init__(self, flow: Flow, prompts: Prompts, speech: SpeechEngine, audio: CallAudio,
                 store: DialogStore, ctx: CallContext):
        self.flow, self.prompts, self.speech, self.audio, self.store, self.ctx = flow, prompts, speech, audio, store, ctx

    async def run(self) -> CallContext:
        self.prefetch()
        node = self.flow.nodes[self.flow.start]
        for _ in range(self.MAX_STEPS):
            self.ctx.last_node = node.name
            if node.result:
                self.ctx.result = node.result
            if node.action:
                await self._act(node)
            log.info("call %s: node %s (%s)", self.ctx.attempt_id, node.name, node.kind)
            target = await getattr(self, f"_{node.kind}")(node)
            if target is None:
                return self.ctx
            node = self.flow.nodes[target]
        log.warning("call %s: flow exceeded %d steps", self.ctx.attempt_id, self.MAX_STEPS)
        return self.ctx

    # ---- node kinds --------------------------------------------------------------------------
    async def _prompt(self, node: Node, key: str) -> tuple[str, bytes]:
        # synthesis (espeak-ng) and file reads block: never on the event loop that paces every call's audio
        loop = asyncio.get_running_loop()
        text, pcm = await loop.run_in_executor(None, self.prompts.audio, self.ctx.locale, key,
                                               self.ctx.prompt_values())
        self.ctx.played.append({"node": node.name, "prompt": key, "text": text, "at": now_iso()})
        return text, pcm

    def prefetch(self) -> None:
        """Synthesize this call's borrower-specific prompts while the greeting plays, so that no gap
        opens between two prompts (a gap reads as 'your turn' to a caller)."""
        loop = asyncio.get_running_loop()
        values = self.ctx.prompt_values()
        keys = {k for n in self.flow.nodes.values() for k in (n.prompt, n.reprompt) if k}
        for key in sorted(keys):
            loop.run_in_executor(None, self.prompts.audio, self.ctx.locale, key, values)

    async def _say(self, node: Node) -> str | None:
        _, pcm = await self._prompt(node, node.prompt)
        try:
            await self.audio.say(pcm)
        finally:
            await self._note_reply()
        return node.next

    async def _transfer(self, node: Node) -> None:
        _, pcm = await self._prompt(node, node.prompt)
        try:
            await self.audio.say(pcm)
        finally:
            await self._note_reply()
        self.ctx.next = "queue"
        return None

    async def _note_reply(self) -> None:
        """Turn latency (bench/turn_latency.py): store when the first frame of the prompt that
        followed the last answer went out, as answers.reply_audio_at of that answer."""
        pending, self._reply_for = getattr(self, "_reply_for", None), None
        conn = getattr(self.audio, "conn", None)
        if pending is None or conn is None or getattr(conn, "bursts", 0) <= pending[1] or conn.burst_started_at is None:
            return
        at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=time.monotonic() - conn.burst_started_at)
        await self.store.reply(self.ctx.attempt_id, pending[0], at.isoformat(timespec="milliseconds"))

    async def _hangup(self, node: Node) -> None:
        self.ctx.next = "hangup"
        return None

    async def _branch(self, node: Node) -> str:
        value = getattr(self, f"_cond_{node.condition}")()
        return node.when["true" if value else "false"]

    def _cond_id_matches(self) -> bool:
        expected = (self.ctx.borrower.get("id_last4") or "").upper()
        return bool(expected) and self.ctx.slots.get("digits", "").upper() == expected

    def _cond_promise_complete(self) -> bool:
        return bool(self.ctx.slots.get("promise_date")) and bool(self.ctx.slots.get("promise_amount"))

    async def _ask(self, node: Node) -> str:
        tries = node.retries + 1
        for attempt in range(1, tries + 1):
            key = node.prompt if attempt == 1 or not node.reprompt else node.reprompt
            text, pcm = await self._prompt(node, key)
            utterance = None
            if self.speech.available(self.ctx.locale):
                try:
                    utterance = self.speech.recognizer(self.ctx.locale, intents.grammar(self.ctx.locale, node.step))
                except NoModel:
                    utterance = None
            ref_mono, ref_wall = time.monotonic(), dt.datetime.now(dt.timezone.utc)
            try:
                try:
                    turn = await self.audio.ask(pcm, utterance, timeout_ms=node.timeout_ms, max_digits=node.max_digits,
                                            end_silence_ms=node.end_silence_ms)
                finally:
                    await self._note_reply()
            except CallHungUp:
                # the borrower hung up while being asked: that is an answer too, for QA
                gone = Turn(via="hangup", prompt_started=ref_mono, result_at=time.monotonic())
                await self._record(node, attempt, text, gone, {"intent": "hangup"}, ref_mono, ref_wall)
                raise
            meaning = self._understand(node, turn)
            await self._record(node, attempt, text, turn, meaning, ref_mono, ref_wall)
            intent = meaning["intent"]
            if turn.via == "none":
                if attempt == tries:
                    return node.on_no_input
                continue
            if intent in node.when:
                self._remember(node, meaning)
                return node.when[intent]
            if attempt == tries:
                self.ctx.no_match_at = node.name
                return node.on_no_match
        return node.on_no_match

    # ---- actions: the records a conversation leaves behind ------------------------------------
    async def _act(self, node: Node) -> None:
        self.ctx.actions.append({"action": node.action, "node": node.name, "slots": dict(self.ctx.slots)})
        borrower_id = self.ctx.borrower.get("id")
        if node.action == "record_promise":
            await self.store.promise({"attempt_id": self.ctx.attempt_id, "borrower_id": borrower_id,
                                      "promise_date": self.ctx.slots.get("promise_date"),
                                      "amount": self.ctx.slots.get("promise_amount"),
                                      "confirmed": int(node.result == "promise")})
        elif node.action == "schedule_callback":
            date, hhmm = self.ctx.slots.get("callback_date"), self.ctx.slots.get("callback_time")
            due = f"{date}T{hhmm or '10:00'}" if date else None
            await self.store.callback({"attempt_id": self.ctx.attempt_id, "borrower_id": borrower_id,
                                       "reason": "requested", "requested_date": date, "requested_time": hhmm,
                                       "due_at": due})
        elif node.action == "escalate":
            b = self.ctx.borrower
            said = await self.store.answers(self.ctx.attempt_id)
            await self.store.escalation({
                "attempt_id": self.ctx.attempt_id, "borrower_id": borrower_id,
                "reason": (node.result if node.result not in (None, "transferred")
                           else "no_match" if self.ctx.no_match_at else "requested"),
                "context": {"name": b.get("name"), "loan_id": b.get("loan_id"), "amount_due": b.get("amount_due"),
                            "due_date": b.get("due_date"), "locale": self.ctx.locale,
                            "identity_verified": self.ctx.result == "identity_confirmed"
                            or bool(self.ctx.slots.get("digits")) and self._cond_id_matches(),
                            "slots": dict(self.ctx.slots), "answers": said}})
        log.info("call %s: action %s", self.ctx.attempt_id, node.action)

    # ---- helpers -----------------------------------------------------------------------------
    def _understand(self, node: Node, turn: Turn) -> dict:
        if turn.via == "keypad":
            keys = turn.digits.rstrip("#")
            if node.keypad == "date":
                return keypad_date(keys, self.ctx.today)
            if node.keypad == "time":
                return keypad_time(keys, self.ctx.today)
            return intents.keypad(node.step, keys)
        if turn.via == "voice" and turn.text:
            return intents.understand(turn.text, locale=self.ctx.locale, step=node.step, today=self.ctx.today)
        return {"intent": "no_input" if turn.via == "none" else "unknown", "date": None, "time": None,
                "amount": None, "digits": None}

    def _remember(self, node: Node, meaning: dict) -> None:
        if node.step == "digits" and meaning.get("digits"):
            self.ctx.slots["digits"] = meaning["digits"]
        if node.step == "plan" and node.capture != "callback_time":
            if meaning.get("date"):
                self.ctx.slots["promise_date"] = meaning["date"]
            if meaning.get("amount"):
                self.ctx.slots["promise_amount"] = meaning["amount"]
            if meaning["intent"] == "promise" and not self.ctx.slots.get("promise_amount") and meaning.get("date"):
                self.ctx.slots["promise_amount"] = self.ctx.borrower.get("amount_due")
        if meaning["intent"] == "callback" or node.capture == "callback_time":
            if meaning.get("date") or meaning.get("time"):
                self.ctx.slots["callback_date"] = meaning.get("date") or self.ctx.today.isoformat()
                self.ctx.slots["callback_time"] = meaning.get("time")

    async def _record(self, node: Node, attempt: int, text: str, turn: Turn, meaning: dict,
                      ref_mono: float, ref_wall: dt.datetime) -> None:
        self.ctx.seq += 1
        slots = {k: v for k, v in meaning.items() if k != "intent" and v is not None}
        await self.store.answer({
            "attempt_id": self.ctx.attempt_id, "seq": self.ctx.seq, "step": node.step, "node": node.name,
            "try": attempt, "prompt_text": text, "via": turn.via, "text": turn.text, "confidence": turn.confidence,
            "intent": meaning["intent"], "slots": slots, "digits": turn.digits or None,
            "barge_in": int(turn.barge_in),
            "prompt_started_at": _wall(turn.prompt_started, ref_mono, ref_wall),
            "prompt_ended_at": _wall(turn.prompt_ended, ref_mono, ref_wall),
            "speech_started_at": _wall(turn.speech_started, ref_mono, ref_wall),
            "speech_ended_at": _wall(turn.speech_ended, ref_mono, ref_wall),
            "result_at": _wall(turn.result_at, ref_mono, ref_wall) or now_iso(),
        })
        conn = getattr(self.audio, "conn", None)
        self._reply_for = (self.ctx.seq, getattr(conn, "bursts", 0)) if turn.via in ("voice", "keypad") else None
        log.info("call %s: %s try %d via %s text=%r digits=%r -> %s", self.ctx.attempt_id, node.name, attempt,
                 turn.via, turn.text, turn.digits, meaning["intent"])
