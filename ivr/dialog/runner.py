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

from .. import metrics, redact
from ..db.clock import now_iso
from . import grammars, intents
from .agi import CallHungUp
from .decision import Decision, decide
from .intents.keypad import keypad_date, keypad_time
from .flow import COMPLETE_SILENCE_MS, Flow, Node
from .prompts import Prompts
from .speech import NoModel, Recognition, SpeechEngine
from .store import DialogStore
from .turns import CallAudio, Turn

log = logging.getLogger(__name__)


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
    heard: dict = field(default_factory=dict)         # the unsure answer being confirmed (for its prompt)
    announcement: str | None = None                   # a network announcement answered instead of a person

    def prompt_values(self) -> dict:
        b = self.borrower
        digits = self.heard.get("digits") or ""
        return {"name": b.get("name") or "", "amount": b.get("amount_due"), "due_date": b.get("due_date"),
                "promise_date": self.heard.get("date") or self.slots.get("promise_date"),
                "promise_amount": self.slots.get("promise_amount"), "digits": " ".join(digits)}


def whole_answer(text: str, *, locale: str, step: str, today: dt.date | None = None) -> bool:
    """Whether a running transcript is a whole answer to a question of kind `step`: every word one
    of the step's answer words (no garbage, no stray word piece) and an intent other than unknown."""
    heard = text.split()
    words = grammars.answer_words(locale, step)
    return bool(heard) and all(w in words for w in heard) and \
        intents.understand(text, locale=locale, step=step, today=today)["intent"] != "unknown"


def _wall(mono: float | None, ref_mono: float, ref_wall: dt.datetime) -> str | None:
    if mono is None:
        return None
    return (ref_wall + dt.timedelta(seconds=mono - ref_mono)).isoformat(timespec="milliseconds")


class FlowRunner:
    MAX_STEPS = 60  # a safety net against a loop in a flow

    def __init__(self, flow: Flow, prompts: Prompts, speech: SpeechEngine, audio: CallAudio,
                 store: DialogStore, ctx: CallContext, *, screen=None):
        self.flow, self.prompts, self.speech, self.audio, self.store, self.ctx = flow, prompts, speech, audio, store, ctx
        self.screen = screen      # async () -> answer_screen.Heard | None: who answered, before the greeting

    async def run(self) -> CallContext:
        opening = asyncio.gather(*self.prefetch(), return_exceptions=True)
        if self.screen is not None:
            heard, _ = await asyncio.gather(self.screen(), opening)
            if heard is not None and heard.reason:
                log.info("call %s: answered by a %s announcement: no dialog", self.ctx.attempt_id, heard.reason)
                self.ctx.result, self.ctx.announcement, self.ctx.next = "announcement", heard.reason, "hangup"
                return self.ctx
        else:
            await opening
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
        # a prompt already in memory is taken at once: queued behind other calls' synthesis in the
        # executor, it would open a gap between two prompts that reads as "your turn"
        values = self.ctx.prompt_values()
        found = self.prompts.ready(self.ctx.locale, key, values)
        if found is None:
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(None, self.prompts.audio, self.ctx.locale, key, values)
        text, pcm = found
        self.ctx.played.append({"node": node.name, "prompt": key, "text": text, "at": now_iso()})
        return text, pcm

    def prefetch(self) -> list:
        """Synthesize this call's borrower-specific prompts while the greeting plays, so that no gap
        opens between two prompts (a gap reads as 'your turn' to a caller). Returns the futures
        of the prompts up to the first question, which must be ready before the greeting starts:
        under load their synthesis can outlast a short greeting."""
        loop = asyncio.get_running_loop()
        values = self.ctx.prompt_values()
        opening, node = [], self.flow.nodes.get(self.flow.start)
        while node is not None and len(opening) < 5:
            opening.append(node.prompt)
            if node.kind != "say" or not node.next:
                break
            node = self.flow.nodes.get(node.next)
        keys = {k for n in self.flow.nodes.values() for k in (n.prompt, n.reprompt) if k}
        first = []
        for key in sorted(keys, key=lambda k: (k not in opening, k)):   # the opening ones first
            future = loop.run_in_executor(None, self.prompts.audio, self.ctx.locale, key, values)
            if key in opening:
                first.append(future)
        return first

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
        if pending[3] is not None:   # the answer's end (monotonic) to the reply's first frame
            metrics.TURN_LATENCY.labels(pending[2]).observe(max(0.0, conn.burst_started_at - pending[3]))
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
        """Ask, decide on the answer, act only on what is sure.

        A spoken answer is accepted, confirmed or rejected (``decision.decide``). A confirmed one
        is acted on only after the borrower confirms it; a rejected or unconfirmed one counts as
        not understood: the question is asked again, and once the voice tries are used up the
        keypad is offered explicitly, with voice off, before the node gives up."""
        tries = node.retries + 1
        heard_voice = False                       # some answer was spoken but not acted on
        for attempt in range(1, tries + 2):
            keypad_only = attempt > tries
            if keypad_only and not heard_voice:
                break
            key = (self._keypad_prompt(node) if keypad_only
                   else node.prompt if attempt == 1 or not node.reprompt else node.reprompt)
            turn, meaning, decision = await self._listen(node, key, attempt, voice=not keypad_only)
            intent = meaning["intent"]
            if turn.via == "none":
                if attempt >= tries:
                    return node.on_no_input if not heard_voice else node.on_no_match
                continue
            if decision is not None and decision.kind == "confirm" and intent in node.when:
                if intent in node.readback:
                    self._remember(node, meaning)
                    return node.when[intent]
                settled = await self._confirm(node, decision)
                if settled is not None and settled["intent"] in node.when:
                    self._remember(node, settled)
                    return node.when[settled["intent"]]
                heard_voice = True
                continue
            if decision is not None and decision.kind == "reject":
                heard_voice = True
                continue
            if intent in node.when:
                self._remember(node, meaning)
                return node.when[intent]
            heard_voice = heard_voice or turn.via == "voice"
            if attempt >= tries and not heard_voice:
                break
        self.ctx.no_match_at = node.name
        return node.on_no_match

    def _keypad_prompt(self, node: Node) -> str:
        key = {"date": "keypad_date", "time": "keypad_time"}.get(node.keypad)
        return key or self.prompts.first(self.ctx.locale, f"keypad_{node.name}", f"keypad_{node.step}")

    async def _listen(self, node: Node, key: str, attempt: int, *, voice: bool = True,
                      step: str | None = None, keypad: str | None = None, label: str | None = None
                      ) -> tuple[Turn, dict, Decision | None]:
        """Play one prompt, take one answer, understand and record it."""
        step = step or node.step
        text, pcm = await self._prompt(node, key)
        utterance = None
        if voice and self.speech.available(self.ctx.locale):
            try:
                utterance = self.speech.recognizer(self.ctx.locale, step)
            except NoModel:
                utterance = None
        ref_mono, ref_wall = time.monotonic(), dt.datetime.now(dt.timezone.utc)
        max_digits = node.max_digits if step == node.step else 1
        try:
            try:
                turn = await self.audio.ask(pcm, utterance, timeout_ms=node.timeout_ms, max_digits=max_digits,
                                            end_silence_ms=node.end_silence_ms if step == node.step else None,
                                            complete_silence_ms=COMPLETE_SILENCE_MS.get(step or ""),
                                            complete=self._answers(step))
            finally:
                await self._note_reply()
        except CallHungUp:
            # the borrower hung up while being asked: that is an answer too, for QA
            gone = Turn(via="hangup", prompt_started=ref_mono, result_at=time.monotonic())
            await self._record(node, attempt, text, gone, {"intent": "hangup"}, ref_mono, ref_wall,
                               step=step, label=label)
            raise
        meaning, decision = self._understand(node, turn, step=step, keypad=keypad)
        if decision is not None and decision.wants_second_decoding and utterance is not None:
            # accepted on the n-best, unless the word posteriors say otherwise
            rec = await utterance.with_second_decoding()
            turn.text, turn.confidence, turn.words, turn.pieces = rec.text, rec.confidence, rec.words, rec.pieces
            turn.second_decoding = True
            meaning, decision = self._understand(node, turn, step=step, keypad=keypad)
        await self._record(node, attempt, text, turn, meaning, ref_mono, ref_wall, decision=decision,
                           step=step, label=label)
        return turn, meaning, decision

    async def _confirm(self, node: Node, decision: Decision) -> dict | None:
        """Say what we think we heard and ask again; the answer to act on, or None.

        The confirmation keeps the question's own keys ("본인이 아니시라고요? 아니시면 2번, 본인이시면
        1번"). A key press is an answer to the question itself, so it settles it either way (the
        borrower may press the key of another answer than the one we heard). Spoken again, the
        answer counts only if a second recognition agrees with the first, and never for answers the
        evidence file marks ``always_confirm``: those need the key."""
        intent = decision.meaning["intent"]
        asked_seq = self.ctx.seq
        self.ctx.heard = dict(decision.meaning)
        try:
            key = self.prompts.first(self.ctx.locale, f"heard_{node.name}_{intent}", f"heard_{node.step}_{intent}",
                                     f"heard_{intent}")
            turn, meaning, again = await self._listen(node, key, 1, label=f"{node.name}:confirm")
        finally:
            self.ctx.heard = {}
        same = all(meaning.get(k) == decision.meaning.get(k) for k in ("intent", "date", "time", "amount", "digits")
                   if k == "intent" or decision.meaning.get(k) is not None)
        settled = None
        if turn.via == "keypad" and meaning["intent"] not in ("unknown", "no_input"):
            settled = meaning
        elif (turn.via == "voice" and same and again is not None and again.kind in ("accept", "confirm")
              and not decision.keypad_only):
            # the same talker on the same line tends to be misheard the same way twice (bench:
            # handset noise heard as 응 twice), so what must never come from voice alone
            # (identity yes, call me later) is settled only by a key
            settled = decision.meaning
        if settled is not None and settled["intent"] == intent:
            await self.store.confirmed(self.ctx.attempt_id, asked_seq, turn.via)
        log.info("call %s: %s heard %s, %s", self.ctx.attempt_id, node.name, intent,
                 "confirmed" if settled is not None and settled["intent"] == intent
                 else f"answered {settled['intent']} instead" if settled is not None else "not confirmed")
        return settled

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
    def _answers(self, step: str | None):
        """What lets a short silence end the borrower's turn at a question of kind `step`."""
        if step is None:
            return None
        locale, today = self.ctx.locale, self.ctx.today
        return lambda text: whole_answer(text, locale=locale, step=step, today=today)

    def _understand(self, node: Node, turn: Turn, *, step: str | None = None,
                    keypad: str | None = None) -> tuple[dict, Decision | None]:
        step = step or node.step
        keypad = keypad or node.keypad
        if turn.via == "keypad":
            keys = turn.digits.rstrip("#")
            if keypad == "date":
                return keypad_date(keys, self.ctx.today), None
            if keypad == "time":
                return keypad_time(keys, self.ctx.today), None
            return intents.keypad(step, keys), None
        if turn.via == "voice" and (turn.text or turn.alternatives):
            rec = Recognition(text=turn.text or "", confidence=turn.confidence, words=turn.words,
                              alternatives=turn.alternatives, pieces=turn.pieces,
                              second_decoding=turn.second_decoding)
            decision = decide(rec, locale=self.ctx.locale, step=step, today=self.ctx.today)
            return decision.meaning, decision
        return {"intent": "no_input" if turn.via == "none" else "unknown", "date": None, "time": None,
                "amount": None, "digits": None}, None

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
                      ref_mono: float, ref_wall: dt.datetime, *, decision: Decision | None = None,
                      step: str | None = None, label: str | None = None) -> None:
        self.ctx.seq += 1
        slots = {k: v for k, v in meaning.items() if k != "intent" and v is not None}
        evidence = None
        if decision is not None:
            evidence = {"hypothesis": decision.hypothesis, "posterior": decision.posterior,
                        "word_conf": decision.word_conf, "reasons": decision.reasons, "nbest": decision.nbest}
        await self.store.answer({
            "decision": decision.kind if decision is not None else None, "evidence": evidence,
            "attempt_id": self.ctx.attempt_id, "seq": self.ctx.seq, "step": step or node.step,
            "node": label or node.name,
            "try": attempt, "prompt_text": text, "via": turn.via, "text": turn.text, "confidence": turn.confidence,
            "intent": meaning["intent"], "slots": slots, "digits": turn.digits or None,
            "barge_in": int(turn.barge_in),
            "prompt_started_at": _wall(turn.prompt_started, ref_mono, ref_wall),
            "prompt_ended_at": _wall(turn.prompt_ended, ref_mono, ref_wall),
            "speech_started_at": _wall(turn.speech_started, ref_mono, ref_wall),
            "speech_ended_at": _wall(turn.speech_ended, ref_mono, ref_wall),
            "result_at": _wall(turn.result_at, ref_mono, ref_wall) or now_iso(),
        })
        metrics.ANSWERS.labels(metrics.label(decision.kind if decision is not None else None), metrics.label(turn.via)).inc()
        conn = getattr(self.audio, "conn", None)
        answered_at = turn.speech_ended if turn.via == "voice" else turn.result_at
        self._reply_for = ((self.ctx.seq, getattr(conn, "bursts", 0), turn.via, answered_at)
                           if turn.via in ("voice", "keypad") else None)
        log.info("call %s: %s try %d via %s text=%s keys=%s -> %s (%s)%s", self.ctx.attempt_id, label or node.name,
                 attempt, turn.via, redact.words(turn.text), redact.keys(turn.digits), meaning["intent"],
                 decision.kind if decision is not None else turn.via,
                 f", turn ended by {turn.ended_by}" if turn.ended_by else "")
