"""A scripted SIP caller (pjsua2) standing where Asterisk would: for tests and manual checks.

    python -m ivr.sim caller --calls calls.json --out result.json --rtp-port 32900 [--pj-log F]

calls.json is a list (at most 3: one process, one pjsua2 endpoint) of
    {"uri": "sip:13800000001@127.0.0.1:15070", "headers": {"X-Huifang-Attempt": "..."},
     "record": "/tmp/heard.wav", "plays": [{"at_ms": 0, "wav": "/tmp/prompt.wav"}],
     "cancel_after_ms": 1500, "hangup_after_ms": 5000, "max_ms": 30000}
plays are relative to the answer. The result is the same list with, per call, "provisional"
(status codes), "final_status", "answered", "dtmf" ([{"digit", "at_ms"}]), "duration_ms" and
"disconnect_status". With --pj-log every SIP message is in that file (used to check the SDP).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pjsua2 as pj

from ivr.sim import pjsua_workarounds as pw

MAX_CALLS = pw.MAX_CALLS_PER_PROCESS
_alive: list = []


class CallerCall(pj.Call):
    def __init__(self, acc, spec: dict):
        super().__init__(acc)
        self.spec = spec
        self.result = {"provisional": [], "final_status": None, "answered": False, "dtmf": [],
                       "duration_ms": None, "disconnect_status": None, "remote_sdp_hosts": []}
        self.started = time.monotonic()
        self.answered_at: float | None = None
        self.done = False
        self.slot = -1
        self.recorder: pw.Recorder | None = None
        self.players: list[pw.Player] = []
        self.pending_plays = sorted(spec.get("plays", []), key=lambda p: p.get("at_ms", 0))
        self.hung = False

    @pw.guarded
    def onCallState(self, prm):
        ci = self.info
        code = int(ci.lastStatusCode)
        if ci.state == pj.InvState.EARLY and code not in self.result["provisional"]:
            self.result["provisional"].append(code)
        elif ci.state == pj.InvState.CONFIRMED and not self.result["answered"]:
            self.result["answered"] = True
            self.result["final_status"] = 200
            self.answered_at = time.monotonic()
        elif ci.state == pj.InvState.DISCONNECTED:
            self.result["disconnect_status"] = code
            if self.result["final_status"] is None:
                self.result["final_status"] = code
            self.result["duration_ms"] = int((time.monotonic() - self.started) * 1000)
            self.done = True

    @pw.guarded
    def onCallMediaState(self, prm):
        for m in self.info.media:
            if m.type == pj.MediaType.AUDIO and m.status == pj.CallMediaStatus.ACTIVE and m.audioConfSlot >= 0:
                self.slot = m.audioConfSlot
                if self.recorder is None and self.spec.get("record"):
                    self.recorder = pw.Recorder(Path(self.spec["record"]))
                if self.recorder is not None:
                    pw.conf_connect(self.slot, self.recorder.slot)

    @pw.guarded
    def onDtmfDigit(self, prm):
        ref = self.answered_at or self.started
        self.result["dtmf"].append({"digit": prm.digit, "at_ms": int((time.monotonic() - ref) * 1000)})

    def tick(self, now: float) -> None:
        if self.done or self.hung:
            return
        elapsed_ms = (now - self.started) * 1000
        if self.answered_at is None:
            cancel = self.spec.get("cancel_after_ms")
            if cancel is not None and elapsed_ms >= cancel:
                self._hangup()
        else:
            since_ms = (now - self.answered_at) * 1000
            while self.pending_plays and since_ms >= self.pending_plays[0].get("at_ms", 0) and self.slot >= 0:
                p = pw.Player(Path(self.pending_plays.pop(0)["wav"]))
                pw.conf_connect(p.slot, self.slot)
                self.players.append(p)
            hang = self.spec.get("hangup_after_ms")
            if hang is not None and since_ms >= hang:
                self._hangup()
        if elapsed_ms >= self.spec.get("max_ms", 30000):
            self._hangup()

    def _hangup(self) -> None:
        self.hung = True
        try:
            self.hangup(pj.CallOpParam(True))
        except Exception as e:
            sys.stderr.write(f"[caller] hangup: {e}\n")

    def close_media(self) -> None:
        for p in self.players:
            p.destroy()
        if self.recorder is not None:
            self.recorder.destroy()


def run_calls(specs: list[dict], rtp_port: int, pj_log: str = "") -> list[dict]:
    if len(specs) > MAX_CALLS:
        raise ValueError(f"at most {MAX_CALLS} calls per caller process")
    ep, port = pw.create_endpoint(0, log_level=5 if pj_log else 0, log_file=pj_log)
    _alive.append(ep)  # a collected Endpoint runs libDestroy under the calls' feet
    acc = pj.Account()
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:caller@{pw.LOOPBACK}:{port}"
    cfg.regConfig.unregWaitMsec = pw.UNREG_MARKER
    acc.create(cfg, True)
    _alive.append(acc)
    pw.pin_account_rtp_to_loopback(acc, rtp_port, 100)
    calls = []
    for spec in specs:
        c = CallerCall(acc, spec)
        prm = pj.CallOpParam(True)
        for name, value in spec.get("headers", {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            prm.txOption.headers.append(h)
        c.makeCall(spec["uri"], prm)
        calls.append(c)
    _alive.extend(calls)
    deadline = time.monotonic() + max(s.get("max_ms", 30000) for s in specs) / 1000.0 + 5
    while time.monotonic() < deadline and not all(c.done for c in calls):
        pw.handle_events(10)
        now = time.monotonic()
        for c in calls:
            c.tick(now)
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pw.handle_events(10)
    out = []
    for c in calls:
        c.close_media()
        out.append({**c.spec, **c.result})
    return out


def caller_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ivr.sim caller")
    ap.add_argument("--calls", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rtp-port", type=int, required=True)
    ap.add_argument("--pj-log", default="")
    a = ap.parse_args(argv)
    specs = json.loads(Path(a.calls).read_text(encoding="utf-8"))
    results = run_calls(specs, a.rtp_port, a.pj_log)
    Path(a.out).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)  # see PhoneWorker.run: no pjsua2 teardown
