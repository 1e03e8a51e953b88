"""One phone process: a pjsua2 endpoint on its own 127.0.0.1 port taking up to 3 calls at a time.

Started by the dispatcher (`python -m ivr.sim worker ...`), never by hand. It talks to its parent
through stdout lines that start with STATUS_PREFIX (pjlib prints its own lines on stdout too):
    @@HF READY <sip port>        the endpoint is up
    @@HF END <call-id>           a call is over (the dispatcher frees the slot)
    @@HF REG <name> <code>       an agent phone's registration ended with this SIP code (200: registered)

Agent phones given an accounts file (`--accounts`, see `registered_accounts`) REGISTER to Asterisk
with their endpoint's credentials, like an agent's desk phone; READY comes once every one of them
has a final answer. Asterisk then calls each at the contact it registered (this process), not
through the dispatcher.

Each call is driven by a generator (its "script") that the main loop advances every ~10 ms between
`handle_events` polls; every pjsua2 callback runs on that same thread and only records facts.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pjsua2 as pj

from ivr import tts
from ivr.sim import pjsua_workarounds as pw
from ivr.sim.calllog import CallLogWriter, calls_to, now_iso
from ivr.sim.personas import OR_DTMF_REPEATS, REJECT_CODES, Persona, dial_string, load_personas
from ivr.sim.sipmsg import parse, uri_user

STATUS_PREFIX = "@@HF "
TICK_MS = 10
# heard-audio level (0..255 from the conference bridge) above which we call it speech
SPEECH_LEVEL = 6
# a prompt has ended after this much silence following speech. Our prompts pause up to ~0.35 s
# between sentences, and a loaded test machine stretches a pause by a few lost frames (a 0.52 s
# gap inside the greeting made a phone answer the greeting, not the question, in CI): 0.8 s.
PROMPT_END_SILENCE_S = 0.8
# quiet is counted only over time the phone looked: a tick later than this counts as this much
# (a phone process starved of CPU for a second has not heard a second of silence)
OBSERVED_GAP_CAP_S = 0.05
# keys are sent as RFC 2833 events of 200 ms each (pjmedia's PJMEDIA_DTMF_DURATION, 1600 samples),
# one after another; the IVR stops the prompt it was playing only once the first has reached it, and
# what was already on its way still plays. Speech heard before the keys were sent plus this much is
# the old prompt's tail, never the answer to them (a 0.9 s hole in a prompt on a loaded machine made
# a phone key the ID into it, take the prompt's last words for the next question and key that early)
KEY_SEND_S = 0.2
OLD_PROMPT_TAIL_S = 0.5
PROMPT_WAIT_CAP_S = 40.0     # never wait longer than this for a prompt to end
MEDIA_WAIT_CAP_S = 5.0
STAY_CAP_S_BORROWER = 60.0   # after the last step, stay on the line at most this long
STAY_CAP_S_AGENT = 120.0
NOANSWER_CAP_S = 120.0       # a ringing "noanswer" phone gives up (480) after this
AGENT_USER_RE = re.compile(r"^agent\d+$")
REGISTER_WAIT_S = 10.0
MAX_ACCOUNTS_PER_PHONE = 4  # one call each, and a process takes at most 4 calls
ACCOUNT_RTP_PORTS = 20       # each registered account's share of the worker's 100-port RTP block


class PromptEnd:
    """Whether the prompt being heard has ended: PROMPT_END_SILENCE_S of quiet after speech, the
    quiet measured over the ticks this phone actually ran. Wall-clock quiet would read a stall of the
    phone's own process (a loaded CI machine) inside a prompt as the prompt's end: the phone would
    answer early and every later key land one question early."""

    def __init__(self) -> None:
        self.last_speech = -1.0
        self.quiet_s = 0.0
        self._seen: float | None = None

    def hear(self, now: float, speech: bool) -> None:
        gap = 0.0 if self._seen is None else min(max(now - self._seen, 0.0), OBSERVED_GAP_CAP_S)
        self._seen = now
        if speech:
            self.last_speech, self.quiet_s = now, 0.0
        else:
            self.quiet_s += gap

    def ended(self, since: float) -> bool:
        """Speech was heard after `since` and has been followed by enough observed quiet."""
        return self.last_speech > since and self.quiet_s >= PROMPT_END_SILENCE_S


def after_keys_s(keys: str) -> float:
    """How long after pressing ``keys`` what the phone hears may still be the prompt they interrupted."""
    return len(keys) * KEY_SEND_S + OLD_PROMPT_TAIL_S


def emit(line: str) -> None:
    sys.stdout.write(STATUS_PREFIX + line + "\n")
    sys.stdout.flush()


@dataclass
class AgentBehaviour:
    answer_after_ms: int = 500
    say: str = ""
    locale: str = "zh-CN"
    hangup_after_ms: int | None = None


class SimCall(pj.Call):
    def __init__(self, acc, call_id):
        super().__init__(acc, call_id)
        self.session: "Session | None" = None

    @pw.guarded
    def onCallState(self, prm):
        if self.session is None:
            return
        ci = self.info
        if ci.state == pj.InvState.DISCONNECTED:
            self.session.on_disconnected(int(ci.lastStatusCode), ci.lastReason)

    @pw.guarded
    def onCallMediaState(self, prm):
        if self.session is None:
            return
        for m in self.info.media:
            if m.type == pj.MediaType.AUDIO and m.status == pj.CallMediaStatus.ACTIVE and m.audioConfSlot >= 0:
                self.session.on_media(m.audioConfSlot)


class SimAccount(pj.Account):
    def __init__(self, worker: "PhoneWorker"):
        super().__init__()
        self.worker = worker

    @pw.guarded
    def onIncomingCall(self, prm):
        call = SimCall(self, prm.callId)
        self.worker.keeper.keep(prm.callId, call)  # before anything else can fail
        self.worker.new_session(call, prm.rdata.wholeMsg)


class RegisteredAccount(SimAccount):
    """An agent's phone: registers with digest credentials and remembers the final answer."""

    def __init__(self, worker: "PhoneWorker", name: str, username: str):
        super().__init__(worker)
        self.name, self.username = name, username
        self.reg_code: int | None = None

    @pw.guarded
    def onRegState(self, prm):
        code = int(prm.code)
        if code >= 200 and self.reg_code is None:
            self.reg_code = code
            emit(f"REG {self.name} {code}")


def registered_accounts(path: str | None) -> dict:
    """The accounts file: {"registrar": "127.0.0.1:<sip port>", "accounts": [{"name", "username",
    "password"}]}. Written 0600 by whoever provisioned the endpoints (ivr/stack.py); passwords are
    never put on a command line."""
    if not path:
        return {"registrar": "", "accounts": []}
    import json
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for a in data.get("accounts", []):
        if not all(isinstance(a.get(k), str) and a.get(k) for k in ("name", "username", "password")):
            raise ValueError(f"{path}: every account needs name, username and password")
    return data


class Session:
    """One call as the phone experiences it."""

    def __init__(self, worker: "PhoneWorker", call: SimCall, invite_text: str):
        self.worker = worker
        self.call = call
        msg = parse(invite_text.encode("utf-8", "replace"))
        self.number = uri_user(msg.request_uri) if msg else ""
        self.call_id = msg.call_id if msg else ""
        self.attempt = (msg.get("X-Huifang-Attempt") if msg else None) or None
        self.received_at = now_iso()
        self.responses: list[dict] = []
        self.steps: list[dict] = []
        self.status: int | None = None       # the final status we gave the INVITE
        self.end_reason: str | None = None
        self.media_slot = -1
        self.recorder: pw.Recorder | None = None
        self.recording: str | None = None
        self.player: pw.Player | None = None
        self.disconnected = False
        self.remote_status: int | None = None
        self.answered_at: float | None = None
        self.hangup_at: float | None = None
        self.prompt_end = PromptEnd()
        self.finished = False
        self.script = None

    def base_record(self) -> dict:
        return {"received_at": self.received_at, "number": self.number, "call_id": self.call_id,
                "attempt": self.attempt, "kind": self.worker.kind, "worker": self.worker.index,
                "pid": self.worker.pid}

    # ---- facts from callbacks -------------------------------------------------------------------
    def on_disconnected(self, status: int, reason: str) -> None:
        self.disconnected = True
        self.remote_status = status

    def on_media(self, slot: int) -> None:
        if slot == self.media_slot:
            return
        if self.recorder is None:
            path = self.worker.recording_path(self)
            try:
                self.recorder = pw.Recorder(path)
                self.recording = str(path)
            except Exception as e:  # keep the call going without a recording
                sys.stderr.write(f"[sim] recorder failed: {e}\n")
        self.media_slot = slot
        if self.recorder is not None:
            pw.conf_connect(slot, self.recorder.slot)

    # ---- SIP actions ----------------------------------------------------------------------------
    def _op(self, code: int | None = None) -> pj.CallOpParam:
        prm = pj.CallOpParam(True)
        if code is not None:
            prm.statusCode = pj.StatusCode(code)
        return prm

    def respond(self, code: int) -> None:
        """A provisional response, or 200 to answer."""
        self.call.answer(self._op(code))
        self.responses.append({"status": code, "at": now_iso()})
        if code == 200:
            self.status = 200
            self.answered_at = time.monotonic()

    def reject(self, code: int) -> None:
        self.call.hangup(self._op(code))
        self.responses.append({"status": code, "at": now_iso()})
        self.status = code
        self.end_reason = self.end_reason or "rejected"

    def hangup(self, why: str) -> None:
        if not self.disconnected:
            self.call.hangup(self._op())
        self.end_reason = self.end_reason or why

    def step_done(self, action: str, at: str | None = None, **extra) -> None:
        """Log a step; `at` is when it started (default: now), "done_at" when it finished."""
        self.steps.append({"action": action, "at": at or now_iso(), "done_at": now_iso(), **extra})

    # ---- script helpers (generators) ------------------------------------------------------------
    @staticmethod
    def sleep(seconds: float):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            yield

    @staticmethod
    def until(pred, cap_s: float):
        end = time.monotonic() + cap_s
        while not pred():
            if time.monotonic() >= end:
                return False
            yield
        return True

    def wait_prompt_end(self, since: float):
        return (yield from self.until(lambda: self.prompt_end.ended(since), PROMPT_WAIT_CAP_S))

    def press(self, keys: str) -> float:
        """Send ``keys``; returns the time from which a prompt heard answers them (see KEY_SEND_S)."""
        self.call.dialDtmf(keys)
        return time.monotonic() + after_keys_s(keys)

    def say(self, text: str, locale: str):
        wav = tts.cached(text, locale, self.worker.tts_cache)
        if self.media_slot < 0:
            return False
        self.player = pw.Player(wav)
        pw.conf_connect(self.player.slot, self.media_slot)
        yield from self.sleep(self.player.duration_s + 0.1)
        self.stop_player()
        return True

    def stop_player(self) -> None:
        if self.player is not None:
            if self.media_slot >= 0:
                pw.conf_disconnect(self.player.slot, self.media_slot)
            self.player.destroy()
            self.player = None

    # ---- per-tick -------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        if self.media_slot >= 0:
            _, rx = pw.signal_level(self.media_slot)
            self.prompt_end.hear(now, rx > SPEECH_LEVEL)
        if self.disconnected:
            self.finish()
            return
        if self.hangup_at is None and self.answered_at is not None and self.worker.hangup_after_ms(self):
            self.hangup_at = self.answered_at + self.worker.hangup_after_ms(self) / 1000.0
        if self.hangup_at is not None and now >= self.hangup_at:
            self.stop_player()
            if self.script is not None:
                self.script.close()
                self.script = None
            self.step_done("hangup", reason="hangup_after_ms")
            self.hangup("local_hangup")
            self.hangup_at = float("inf")
            return
        if self.script is not None:
            try:
                next(self.script)
            except StopIteration:
                self.script = None
                if not self.disconnected:
                    self.hangup("local_hangup")

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.script is not None:
            self.script.close()
            self.script = None
        self.stop_player()
        if self.recorder is not None:
            self.recorder.destroy()
        if self.end_reason is None:
            if self.status == 200:
                self.end_reason = "remote_hangup"
            elif self.remote_status == 487:
                self.end_reason = "cancelled"
            else:
                self.end_reason = "remote_gone"
        if self.status is None and self.remote_status == 487:
            self.status = 487  # pjsua answered the CANCELled INVITE with 487
        rec = self.base_record()
        rec.update(event="call", status=self.status, responses=self.responses, steps=self.steps,
                   recording=self.recording, ended_at=now_iso(), end_reason=self.end_reason)
        self.worker.log.write(rec)
        emit(f"END {self.call_id}")


# ---- scripts ------------------------------------------------------------------------------------
def borrower_script(s: Session, persona: Persona | None, earlier_calls: int = 0):
    if persona is None:
        s.reject(404)
        return
    if persona.first_calls is not None and earlier_calls < persona.first_calls.count:
        if persona.first_calls.reject == "noanswer":
            s.respond(180)
            yield from s.until(lambda: s.disconnected, NOANSWER_CAP_S)
            if not s.disconnected:
                s.reject(REJECT_CODES["noanswer"])
        else:
            s.reject(REJECT_CODES[persona.first_calls.reject])
        return
    if persona.announcement is not None and persona.announcement.answers:
        s.respond(180)
        yield from s.sleep(0.3)
        s.respond(200)
        if (yield from s.until(lambda: s.media_slot >= 0, MEDIA_WAIT_CAP_S)):
            at = now_iso()
            yield from s.say(persona.announcement.text, persona.announcement.locale)
            s.step_done("announcement", at, text=persona.announcement.text)
            yield from s.sleep(0.5)
        s.hangup("local_hangup")
        return
    if persona.announcement is not None:
        s.respond(183)
        if (yield from s.until(lambda: s.media_slot >= 0, 3.0)):
            at = now_iso()
            yield from s.say(persona.announcement.text, persona.announcement.locale)
            s.step_done("announcement", at, text=persona.announcement.text)
        s.reject(persona.announcement.status)
        return
    if persona.reject == "noanswer":
        s.respond(180)
        yield from s.until(lambda: s.disconnected, NOANSWER_CAP_S)
        if not s.disconnected:
            s.reject(REJECT_CODES["noanswer"])
        return
    if persona.reject is not None:
        s.reject(persona.reject_status)
        return
    s.respond(180)
    yield from s.sleep(persona.answer_after_ms / 1000.0)
    s.respond(200)
    yield from s.until(lambda: s.media_slot >= 0, MEDIA_WAIT_CAP_S)
    since = time.monotonic()
    answered = 0.0          # after keys: when what is heard can be the answer to them
    previous = None
    last_answer = max((i for i, st in enumerate(persona.steps) if st.answers), default=-1)
    for i, step in enumerate(persona.steps):
        if step.action == "wait_ms":
            yield from s.sleep(step.value / 1000.0)
            s.step_done("wait_ms", ms=step.value)
        elif step.action == "hangup":
            # like every step, a hangup answers the IVR's next prompt: the borrower hears the
            # response to their last answer, then hangs up. Right after a wait_ms it is immediate
            # (that is how a persona hangs up in the middle of a question).
            if previous != "wait_ms" and previous is not None:
                yield from s.wait_prompt_end(since)
            s.step_done("hangup")
            s.hangup("local_hangup")
            return
        else:
            # a step right after a wait_ms runs at once: the persona timed it (barge-in tests);
            # otherwise it answers the prompt being played, once that prompt has ended
            heard = False if previous == "wait_ms" else (yield from s.wait_prompt_end(since))
            at = now_iso()
            if step.action == "say":
                yield from s.say(step.value, step.locale)
                s.step_done("say", at, text=step.value, locale=step.locale, prompt_ended=heard)
                if step.or_dtmf and i == last_answer:
                    yield from answer_reasks(s, step.or_dtmf)
            else:
                answered = s.press(step.value)
                s.step_done("dtmf", at, digits=step.value, prompt_ended=heard)
        # the next step answers the *next* prompt: only audio heard after this step counts
        # (after a barge-in the tail of the interrupted prompt must not look like a new one)
        since = max(time.monotonic(), answered)
        previous = step.action
    yield from s.until(lambda: s.disconnected, STAY_CAP_S_BORROWER)
    if not s.disconnected:
        s.step_done("hangup", reason="stay_cap")


def answer_reasks(s: Session, keys: str):
    """After the persona's last answer (spoken), nothing but a re-ask of that question can need an
    answer: press `keys` after each prompt that ends (at most OR_DTMF_REPEATS). After a goodbye the
    IVR hangs up and the keys go nowhere."""
    since = time.monotonic()
    for _ in range(OR_DTMF_REPEATS):
        if not (yield from s.wait_prompt_end(since)):
            return
        at = now_iso()
        since = s.press(keys)
        s.step_done("dtmf", at, digits=keys, prompt_ended=True, reask=True)


def agent_script(s: Session, b: AgentBehaviour):
    if not AGENT_USER_RE.match(s.number) and s.number not in s.worker.usernames:
        s.reject(404)
        return
    s.respond(180)
    yield from s.sleep(b.answer_after_ms / 1000.0)
    s.respond(200)
    yield from s.until(lambda: s.media_slot >= 0, MEDIA_WAIT_CAP_S)
    if b.say:
        yield from s.sleep(0.3)
        at = now_iso()
        yield from s.say(b.say, b.locale)
        s.step_done("say", at, text=b.say, locale=b.locale)
    yield from s.until(lambda: s.disconnected, STAY_CAP_S_AGENT)
    if not s.disconnected:
        s.step_done("hangup", reason="stay_cap")


# ---- the process --------------------------------------------------------------------------------
class PhoneWorker:
    def __init__(self, kind: str, index: int, log_path: Path, record_dir: Path, rtp_port: int,
                 tts_cache: Path, personas: dict[str, Persona] | None = None,
                 agent: AgentBehaviour | None = None, accounts: dict | None = None):
        self.kind, self.index, self.pid = kind, index, os.getpid()
        self.accounts_cfg = accounts or {"registrar": "", "accounts": []}
        self.registered: list[RegisteredAccount] = []
        self.log = CallLogWriter(log_path)
        self.record_dir = Path(record_dir)
        self.rtp_port = rtp_port
        self.tts_cache = Path(tts_cache)
        self.personas = personas or {}
        self.agent = agent or AgentBehaviour()
        self.keeper = pw.CallKeeper()
        self.sessions: list[Session] = []
        self.stopping = False
        self._seq = 0

    def persona_for(self, number: str) -> Persona | None:
        """Personas are keyed by dial string: what Asterisk puts in the INVITE's user part."""
        try:
            return self.personas.get(dial_string(number))
        except ValueError:
            return None

    def hangup_after_ms(self, s: Session) -> int | None:
        if self.kind == "agent":
            return self.agent.hangup_after_ms
        p = self.persona_for(s.number)
        return p.hangup_after_ms if p else None

    def recording_path(self, s: Session) -> Path:
        self._seq += 1
        safe = re.sub(r"[^0-9A-Za-z_+-]", "_", s.number)[:32] or "unknown"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return self.record_dir / f"{stamp}-{safe}-w{self.index}-{self.pid}-{self._seq}.wav"

    def new_session(self, call: SimCall, invite_text: str) -> None:
        s = Session(self, call, invite_text)
        call.session = s
        rec = s.base_record()
        rec["event"] = "incoming"
        self.log.write(rec)
        if self.kind == "agent":
            s.script = agent_script(s, self.agent)
        else:
            persona = self.persona_for(s.number)
            earlier = 0
            if persona is not None and persona.first_calls is not None:
                # this call's own "incoming" line is already in the shared log
                earlier = max(0, len(calls_to(self.log.path, s.number)) - 1)
            s.script = borrower_script(s, persona, earlier)
        self.sessions.append(s)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        ep, port = pw.create_endpoint(0, log_level=0)
        acc = SimAccount(self)
        cfg = pj.AccountConfig()
        cfg.idUri = f"sip:{self.kind}@{pw.LOOPBACK}:{port}"
        cfg.regConfig.unregWaitMsec = pw.UNREG_MARKER
        acc.create(cfg, True)
        accounts = self.accounts_cfg.get("accounts", [])
        pw.pin_account_rtp_to_loopback(acc, self.rtp_port, 100 - ACCOUNT_RTP_PORTS * len(accounts))
        self.register(accounts, port)
        emit(f"READY {port}")
        while not self.stopping:
            pw.handle_events(TICK_MS)
            self._tick()
        # shutdown: hang up what is left, give the BYEs a moment, log every call
        for s in self.sessions:
            s.end_reason = s.end_reason or "shutdown"
            try:
                s.hangup("shutdown")
            except Exception:
                pass
        end = time.monotonic() + 1.0
        while time.monotonic() < end and any(not s.disconnected for s in self.sessions):
            pw.handle_events(TICK_MS)
        for s in self.sessions:
            s.finish()
        self.unregister()
        self.log.close()
        sys.stdout.flush()
        sys.stderr.flush()
        # skip libDestroy and interpreter teardown: destroying pjsua2 objects after the library
        # (or in the wrong order) can crash; the OS reclaims sockets and memory
        os._exit(0)

    @property
    def usernames(self) -> set[str]:
        return {a.username for a in self.registered}

    def register(self, accounts: list[dict], port: int) -> None:
        """REGISTER every account (digest auth) and wait for each one's final answer."""
        registrar = self.accounts_cfg.get("registrar", "")
        for i, a in enumerate(accounts):
            acc = RegisteredAccount(self, a["name"], a["username"])
            cfg = pj.AccountConfig()
            cfg.idUri = f"sip:{a['username']}@{registrar}"
            cfg.regConfig.registrarUri = f"sip:{registrar}"
            cfg.regConfig.registerOnAdd = False
            cfg.regConfig.unregWaitMsec = pw.UNREG_MARKER
            cfg.regConfig.retryIntervalSec = 0          # a refused phone stays refused (tests read the code)
            cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", a["username"], 0, a["password"]))
            acc.create(cfg, False)
            # the RTP block's top ports, ACCOUNT_RTP_PORTS per account, below them the dispatcher's
            first = self.rtp_port + 100 - ACCOUNT_RTP_PORTS * (i + 1)
            pw.pin_account_rtp_to_loopback(acc, first, ACCOUNT_RTP_PORTS)
            acc.setRegistration(True)
            self.registered.append(acc)
        end = time.monotonic() + REGISTER_WAIT_S
        while time.monotonic() < end and any(a.reg_code is None for a in self.registered):
            pw.handle_events(TICK_MS)
        for a in self.registered:
            if a.reg_code is None:
                a.reg_code = 408
                emit(f"REG {a.name} 408")

    def unregister(self) -> None:
        """Say goodbye to the registrar, so Asterisk stops ringing a phone that is gone."""
        live = [a for a in self.registered if a.reg_code == 200]
        for a in live:
            try:
                a.setRegistration(False)
            except Exception:
                pass
        end = time.monotonic() + (0.5 if live else 0)
        while time.monotonic() < end:
            pw.handle_events(TICK_MS)

    def _tick(self) -> None:
        now = time.monotonic()
        for s in list(self.sessions):
            try:
                s.tick(now)
            except Exception as e:
                sys.stderr.write(f"[sim] call {s.call_id}: {type(e).__name__}: {e}\n")
                s.end_reason = s.end_reason or f"error: {e}"
                try:
                    s.hangup("error")
                except Exception:
                    pass
                s.script = None
            if s.finished:
                self.sessions.remove(s)


def worker_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ivr.sim worker")
    ap.add_argument("--kind", choices=("borrower", "agent"), required=True)
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--record-dir", required=True)
    ap.add_argument("--rtp-port", type=int, required=True)
    ap.add_argument("--tts-cache", required=True)
    ap.add_argument("--personas")
    ap.add_argument("--answer-after-ms", type=int, default=500)
    ap.add_argument("--say", default="")
    ap.add_argument("--locale", default="zh-CN")
    ap.add_argument("--hangup-after-ms", type=int)
    ap.add_argument("--share", default="0/1", help="i/N: this worker registers accounts i, i+N, ...")
    ap.add_argument("--accounts", help="agent phones: JSON file of accounts to REGISTER (see registered_accounts)")
    a = ap.parse_args(argv)
    personas = load_personas(a.personas) if a.kind == "borrower" else None
    accounts = registered_accounts(a.accounts) if a.kind == "agent" else None
    if accounts:
        i, n = (int(x) for x in a.share.split("/"))
        accounts["accounts"] = accounts["accounts"][i::n]
    agent = AgentBehaviour(a.answer_after_ms, a.say, a.locale, a.hangup_after_ms)
    return PhoneWorker(a.kind, a.index, Path(a.log), Path(a.record_dir), a.rtp_port, Path(a.tts_cache),
                       personas, agent, accounts).run()
