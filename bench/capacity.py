"""Capacity: how many follow-up calls at once, end to end, before calls fail or turns get slow.

The real product runs: Asterisk (managed, chroot), the dialog server (FastAGI + AudioSocket +
Vosk) and the controller (`CallPlacer`, in this process). The borrowers stand where the carrier
trunk is. By default they listen (`--borrower listening`): SIPp (Debian `sip-tester`,
bench/sipp/borrower_uas_listening.xml) answers every call on the SIP side only, its SDP naming the
one port of the borrower media process (bench/borrower_media.py, a child process), which hears each
call's prompts and answers once the IVR has gone quiet after the question it expects: "네" to the
identity question, key 1 to its confirmation, keys 1 2 3 4 to the ID question, "네" to the plan
question, key 1 to any unplanned confirmation. The questions' lead-in lengths are measured from our
prompt audio by the same `Ears` (`listening_plan`). Its log, joined with the dialog's answers rows
(bench/borrower_join.py), checks every answer's intent and gives the turn as the borrower heard it.
`--borrower scripted` is the earlier borrower: one recorded RTP stream per call played by SIPp from
a pcap, each answer a fixed margin after its prompt is expected to end (`Schedule`); it does not
complete a call with today's flow (its keys land in the identity confirmation).

Concurrency is ramped (10, 25, 50, 100, 150, 200, ...): at each step N calls are placed (at
`--rate` per second) and followed to their end, and the ramp stops at the first step with a
failed call. Each step is run twice: our streaming dialog (context huifang-call) and the common
alternative (context huifang-call-baseline, ivr/dialog/baseline.py: STREAM FILE, RECORD FILE
s=1, Vosk on the file), so that both are measured on the same machine at the same concurrency.

Per step: calls completed / failed, CPU (% of one core, from /proc/<pid>/stat deltas over the
step) and peak RSS of asterisk, the dialog server, the controller (this process), sipp and the
borrower media process; turn latency (end of the borrower's speech, as the dialog server heard it,
to the first audio of the next prompt) median / p95, from the answers rows; with the listening
borrower also the turn as it heard it (end of its speech to the next prompt's first speech) and its
own wait (prompt end as heard to its answer); whether every answer was understood as expected.

    PYTHONPATH=. .venv/bin/python bench/capacity.py --steps 10 --modes ours       # a smoke run
    PYTHONPATH=. .venv/bin/python bench/capacity.py --json runs/capacity.json      # the full ramp

Every socket is on 127.0.0.1 (SIPp: -i/-mi 127.0.0.1, its control socket -ci 127.0.0.1).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.borrower_ears import speech_seconds
from bench.borrower_join import join_call
from bench.busy import machine_ticks
from bench.output import run_dir
from bench.rtp import RtpStream
from bench.stats import percentile
from ivr import config, tts
from ivr.asterisk import process as asterisk
from ivr.db import attempts as attempts_db
from ivr.db.writer import AsyncDb
from ivr.dialer.calls import CallPlacer
from ivr.dialog.prompts import Prompts
from ivr.dialog.turns import TurnTuning, rms
from ivr.stack import DialogProcess, ensure_installed

log = logging.getLogger("bench.capacity")
SIPP_DIR = Path(__file__).resolve().parent / "sipp"
SCENARIO = SIPP_DIR / "borrower_uas.xml"
SCENARIO_LISTENING = SIPP_DIR / "borrower_uas_listening.xml"
REPO = Path(__file__).resolve().parents[1]
LOCALE = "ko-KR"
BORROWER = {"name": "김민수", "id_last4": "1234", "amount_due": 350000}
EXPECTED = {"identity": ("confirm", "voice"), "id_check": ("digits", "keypad"), "plan": ("confirm", "voice")}
EXPECTED_RESULT = "will_pay_on_time"
CONTEXTS = {"ours": "huifang-call", "baseline": "huifang-call-baseline"}
MODE_LATENCY_S = {"ours": 0.55, "baseline": 1.2}   # measured at low load on the dev machine
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- RTP / pcap ---------------------------------------------------------------------------------
def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(payload: bytes, sport: int = 40000, dport: int = 40002) -> bytes:
    """Ethernet + IPv4 + UDP around `payload`, 127.0.0.1 to 127.0.0.1 (SIPp rewrites both ends)."""
    src = dst = bytes((127, 0, 0, 1))
    udp_len = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", _checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\0" * 12 + b"\x08\x00" + ip + udp


def write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> None:
    """A classic pcap (Ethernet link type) of (seconds from start, UDP payload) packets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = 1_700_000_000
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, payload in sorted(packets, key=lambda p: p[0]):
            frame = udp_frame(payload)
            sec, usec = base + int(t), int(round((t - int(t)) * 1e6))
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)


# ---- the borrower's script ---------------------------------------------------------------------
@dataclasses.dataclass
class Schedule:
    """When the borrower answers, in seconds from the call being answered.

    Each answer starts `margin_s` after its prompt is expected to end, given the mode's turn
    latency `latency_s` (MODE_LATENCY_S). Our dialog does not need this to be exact (voice and keys
    barge in; each question waits seconds); the baseline does: it does not listen while its prompt
    plays, and RECORD FILE s=1 gives up after one second of silence, so an answer must start
    between the prompt's end and a second after it.
    """
    setup_s: float = 0.3      # answer -> greeting starts (MixMonitor, AGI, AudioSocket connect)
    latency_s: float = 1.5    # end of speech -> next prompt
    key_latency_s: float = 0.1
    margin_s: float = 0.6     # prompt end -> the borrower starts answering
    answers: list = dataclasses.field(default_factory=list)   # (question, start s)
    end_s: float = 0.0
    hangup_expected_s: float = 0.0


def prompt_seconds(settings: config.Settings) -> dict[str, float]:
    prompts = Prompts(settings)
    values = {"name": BORROWER["name"], "amount": BORROWER["amount_due"], "due_date": due_date()}
    keys = ("greeting", "identity", "id_check", "id_ok", "reminder", "plan", "thanks_on_time", "closing")
    return {k: len(prompts.audio(LOCALE, k, values)[1]) / 16000 for k in keys}


def due_date() -> str:
    return (dt.date.today() + dt.timedelta(days=5)).isoformat()


def build_stream(settings: config.Settings, sched: Schedule) -> tuple[RtpStream, Schedule]:
    """The borrower's whole call as one RTP stream, starting at once (SIPp sends the first packet
    of a pcap immediately): PCMU silence all along, as a phone sends, with the answers in it."""
    p = prompt_seconds(settings)
    yes = tts.read_pcm(tts.cached("네", LOCALE, Path(settings.cache_dir) / "tts"))
    yes_s = len(yes) / 16000
    # espeak-ng pads its speech with silence: time the turns from the voiced part
    voiced = [i for i in range(0, len(yes) - 319, 320) if rms(yes[i:i + 320]) >= TurnTuning().floor_rms]
    onset, offset = voiced[0] / 16000, (voiced[-1] + 320) / 16000
    segments = []   # (start, kind, value)
    t = sched.setup_s + p["greeting"] + p["identity"] + sched.margin_s - onset
    segments.append((t, "say", yes))
    t += offset + sched.latency_s + p["id_check"] + sched.margin_s
    keys_s = 4 * (0.120 + 0.150)
    segments.append((t, "keys", "1234"))
    t += keys_s + sched.key_latency_s + p["id_ok"] + p["reminder"] + p["plan"] + sched.margin_s - onset
    segments.append((t, "say", yes))
    t += offset
    sched.answers = [(name, round(seg[0], 2)) for name, seg in zip(("identity", "id_check", "plan"), segments)]
    sched.hangup_expected_s = round(t + sched.latency_s + p["thanks_on_time"] + p["closing"], 2)
    sched.end_s = sched.hangup_expected_s + 15   # silence until well after the IVR should have hung up
    rtp = RtpStream()
    now = 0.0
    silence = b"\0\0" * 160
    for start, kind, value in segments:
        while now + 0.020 <= start:
            now = rtp.audio(now, silence)
        now = rtp.keys(now, value) if kind == "keys" else rtp.audio(now, value)
    while now < sched.end_s:
        now = rtp.audio(now, silence)
    log.info("borrower script: %s; 네 = %.2f s; hang-up expected ~%.1f s", sched.answers, yes_s,
             sched.hangup_expected_s)
    return rtp, sched


# ---- the listening borrower (bench/borrower_media.py, the default) ------------------------------
# Its questions in order, each with the prompts the IVR plays from the borrower's previous answer up
# to it (a spoken "yes, it is me" is always confirmed by a key: prompts/ko-KR/evidence.yaml); the
# goodbye is heard and not answered.
LEAD_INS = {"identity": ("greeting", "identity"), "identity_confirm": ("heard_identity_confirm",),
            "id_check": ("id_check",), "plan": ("id_ok", "reminder", "plan"),
            "goodbye": ("thanks_on_time", "closing")}
CONFIRMATION_S = 8.0     # the identity confirmation the scripted Schedule does not have


def voiced(pcm: bytes) -> bytes:
    """espeak-ng pads its speech with silence: the voiced part (and 100 / 40 ms around it), so that the
    answer ends with the speech and the borrower's turn is timed from there."""
    frames = [i for i in range(0, len(pcm) - 319, 320) if rms(pcm[i:i + 320]) >= TurnTuning().floor_rms]
    return pcm[max(0, frames[0] - 1600):frames[-1] + 320 + 640]


def listening_plan(settings: config.Settings, out: Path, port: int) -> Path:
    """The plan file of bench/borrower_media.py: the expected questions' lead-in speech, measured from
    our prompt audio by the same `Ears` that listen on the call, and the answers (네 / 1 / 1234 / 1,
    key 1 to an unplanned confirmation), the same for both modes: the baseline walks the same flow
    with the same decisions (ivr/dialog/baseline.py), so it confirms a spoken yes by key as ours does.

    The plan question is answered by key: espeak-ng's 네 (or 네 제때 낼게요, 네 갚을게요) decodes as
    내요 … in the plan grammar with the only Korean model we have (issue 9), which the dialog rightly
    does not take as a yes; it asks again and the borrower's key 1 is taken then. That is the
    product working, but not what a capacity bench should measure, so the voice turn measured is the
    identity answer's."""
    prompts = Prompts(settings)
    values = {"name": BORROWER["name"], "amount": BORROWER["amount_due"], "due_date": due_date()}
    questions = [{"name": q, "speech_s": speech_seconds(b"".join(prompts.audio(LOCALE, k, values)[1] for k in keys))}
                 for q, keys in LEAD_INS.items()]
    yes = out / "borrower-yes.pcm"
    yes.write_bytes(voiced(tts.read_pcm(tts.cached("네", LOCALE, Path(settings.cache_dir) / "tts"))))
    answers = [{"question": "identity", "kind": "say", "value": str(yes)},
               {"question": "identity_confirm", "kind": "keys", "value": "1"},
               {"question": "id_check", "kind": "keys", "value": BORROWER["id_last4"]},
               {"question": "plan", "kind": "keys", "value": "1"},
               {"question": None, "kind": "keys", "value": "1"}]
    path = out / "borrower-plan.json"
    path.write_text(json.dumps({"port": port, "questions": questions, "answers": answers}, indent=1))
    log.info("listening borrower: questions %s", questions)
    return path


def start_media(out: Path, plan: Path) -> subprocess.Popen:
    """The borrower media process (its CPU counted apart from the controller's)."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.borrower_media", str(plan), str(out / "borrower.jsonl"),
                             str(out.resolve() / "calls.log")],
                            cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(out / "borrower.stderr", "ab"))
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError(f"borrower media exited at once ({proc.returncode}); see {out}/borrower.stderr")
    return proc


def borrower_calls(out: Path) -> dict[str, list[dict]]:
    """The borrower's log per dialed number: SIPp logged "<number> <Asterisk's RTP port>" per call,
    the borrower media process logged per RTP source port."""
    by_port: dict[str, list[dict]] = {}
    for line in (out / "borrower.jsonl").read_text().splitlines() if (out / "borrower.jsonl").exists() else []:
        record = json.loads(line)
        by_port.setdefault(record["call"].rsplit(":", 1)[1], []).append(record)
    calls = {}
    for line in (out / "calls.log").read_text().splitlines() if (out / "calls.log").exists() else []:
        parts = line.split()
        if len(parts) == 2:
            calls[parts[0]] = by_port.get(parts[1], [])
    return calls


# ---- processes ----------------------------------------------------------------------------------
def proc_sample(pid: int) -> tuple[int, int] | None:
    """(CPU ticks user+system, RSS kB) of a process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])
        rss = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        return ticks, rss
    except (OSError, ValueError, IndexError):
        return None


class Sampler:
    def __init__(self, pids: dict[str, int], interval: float = 0.5):
        self.pids, self.interval = pids, interval
        self._task: asyncio.Task | None = None

    async def __aenter__(self):
        self.t0 = time.monotonic()
        self.start = {n: proc_sample(p) for n, p in self.pids.items()}
        self.m0 = machine_ticks()
        self.peak = {n: (s[1] if s else 0) for n, s in self.start.items()}
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self):
        while True:
            await asyncio.sleep(self.interval)
            for n, p in self.pids.items():
                s = proc_sample(p)
                if s:
                    self.peak[n] = max(self.peak[n], s[1])

    async def __aexit__(self, *exc):
        self._task.cancel()
        wall = time.monotonic() - self.t0
        end = {n: proc_sample(p) for n, p in self.pids.items()}
        m1 = machine_ticks()
        self.result = {"wall_s": round(wall, 1), "cpu_pct": {}, "cpu_s": {}, "rss_mb": {},
                       "machine_busy_pct": round(100 * (m1[0] - self.m0[0]) / max(1, m1[1] - self.m0[1]), 1)}
        for n in self.pids:
            a, b = self.start.get(n), end.get(n)
            if a and b:
                cpu_s = (b[0] - a[0]) / CLK_TCK
                self.result["cpu_s"][n] = round(cpu_s, 2)
                self.result["cpu_pct"][n] = round(100 * cpu_s / wall, 1)
            self.result["rss_mb"][n] = round(self.peak.get(n, 0) / 1024, 1)


def start_sipp(settings: config.Settings, out: Path, scenario_xml: str, listening: bool) -> subprocess.Popen:
    out = out.resolve()     # SIPp runs in `out`: its file options must not be relative
    scenario = out / "borrower_uas.xml"
    scenario.write_text(scenario_xml)
    base = settings.port_base
    cmd = ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(settings.trunk_port_effective),
           "-mi", "127.0.0.1", "-mp", str(base + 2900), "-ci", "127.0.0.1", "-cp", str(base + 2990),
           "-t", "u1", "-nostdin", "-trace_err", "-error_file", str(out / "sipp_errors.log"),
           "-trace_stat", "-stf", str(out / "sipp_stat.csv"), "-fd", "2", "-max_socket", "4096"]
    if listening:
        cmd += ["-trace_logs", "-log_file", str(out / "calls.log")]
    log.info("starting %s", " ".join(cmd))
    proc = subprocess.Popen(cmd, cwd=str(out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(out / "sipp.stderr", "ab"))
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError(f"sipp exited at once ({proc.returncode}); see {out}/sipp.stderr")
    return proc


def stop_proc(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def sipp_counts(out: Path) -> dict:
    """Successful/failed calls SIPp counted so far (cumulative), from its stat file."""
    try:
        lines = (out / "sipp_stat.csv").read_text().splitlines()
        header, last = lines[0].split(";"), lines[-1].split(";")
        row = dict(zip(header, last))
        return {"ok": int(row.get("SuccessfulCall(C)", 0)), "failed": int(row.get("FailedCall(C)", 0))}
    except (OSError, IndexError, ValueError):
        return {"ok": 0, "failed": 0}


# ---- one step ---------------------------------------------------------------------------------
def _ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def call_report(row: dict, answers: list[dict], dialog: dict | None) -> dict:
    """What one call did: ok?, why not, turn latencies (ms) of the voice answers."""
    problems = []
    if row.get("outcome") != "answered":
        problems.append(f"outcome {row.get('outcome')}")
    result = (dialog or {}).get("result")
    if result != EXPECTED_RESULT:
        problems.append(f"result {result}")
    by_node = {}
    for a in answers:
        by_node.setdefault(a["node"], []).append(a)
    recognized = True
    for node, (intent, via) in EXPECTED.items():
        got = by_node.get(node) or []
        if len(got) != 1 or got[0]["intent"] != intent or got[0]["via"] != via:
            recognized = False
            problems.append(f"{node}: " + ",".join(f"{g['via']}/{g['intent']}/{g['text'] or g['digits']}" for g in got)
                            if got else f"{node}: not asked")
    played = json.loads((dialog or {}).get("played") or "[]")
    latencies, source = {}, "prompt start"
    ident, idc, plan = (by_node.get(k, [None])[0] for k in ("identity", "id_check", "plan"))
    thanks = next((p for p in played if p["node"] == "thanks_on_time"), None)
    for name, answer, fallback in (("identity", ident, idc and idc["prompt_started_at"]),
                                   ("plan", plan, thanks and thanks["at"])):
        if not answer or not answer["speech_ended_at"]:
            continue
        # answers.reply_audio_at (migration 0005): when the next prompt's first frame went out
        reply = answer.get("reply_audio_at")
        if reply:
            source = "reply_audio_at"
        if reply or fallback:
            latencies[name] = (_ts(reply or fallback) - _ts(answer["speech_ended_at"])).total_seconds() * 1000
    return {"attempt": row["id"], "ok": not problems, "recognized": recognized, "problems": problems,
            "latency_ms": latencies, "latency_source": source}


def listening_report(row: dict, answers: list[dict], dialog: dict | None, records: list[dict]) -> dict:
    """What one call did with the listening borrower: every answer joined with what the dialog took."""
    joined = join_call(records, answers, BORROWER["id_last4"])
    problems = [] if row.get("outcome") == "answered" else [f"outcome {row.get('outcome')}"]
    result = (dialog or {}).get("result")
    if result != EXPECTED_RESULT:
        problems.append(f"result {result}")
    if not records:
        problems.append("the borrower heard nothing")
    problems += joined["problems"]
    voice = [a for a in joined["answers"] if a["kind"] == "say"]
    return {"attempt": row["id"], "ok": not problems, "recognized": joined["understood"] and bool(records),
            "problems": problems, "latency_source": "reply_audio_at",
            "latency_ms": {a["question"]: a["dialog_turn_ms"] for a in voice if a.get("dialog_turn_ms") is not None},
            "borrower_turn_ms": [a["borrower_turn_ms"] for a in voice if a["borrower_turn_ms"] is not None],
            "borrower_wait_ms": [a["borrower_wait_ms"] for a in joined["answers"]], "answers": joined["answers"]}


def pct(values: list[float], q: float) -> float | None:
    return percentile(values, q, ndigits=None)


def answered_call_in(action: dict, context: str) -> dict:
    """The Originate with the answered call run in `context` instead of huifang-call: the dial
    wrapper hands the borrower's channel to ${IVR_CALL_CONTEXT} (dialplans/huifang.conf)."""
    return {**action, "Variable": [*action.get("Variable", []), f"IVR_CALL_CONTEXT={context}"]}


class Bench:
    def __init__(self, settings: config.Settings, out: Path, rate: float, pcaps: dict[str, tuple[Path, Schedule]],
                 plan: Path | None = None):
        """`plan`: the listening borrower's plan file, the same for every mode (`listening_plan`);
        None: the scripted pcap borrower."""
        self.settings, self.out, self.rate, self.pcaps, self.plan = settings, out, rate, pcaps, plan
        self.counter = 0

    def originate(self, mode: str, action: dict) -> dict:
        """The controller's Originate as this mode sends it: the answered call runs this mode's
        context (bench/asterisk_cost.py changes more)."""
        return answered_call_in(action, CONTEXTS[mode])

    def pcap_for(self, mode: str) -> tuple[Path, Schedule]:
        return self.pcaps[mode]

    async def run_step(self, mode: str, n: int, pids: dict[str, int]) -> dict:
        pcap, sched = self.pcap_for(mode)
        timeout_s = sched.hangup_expected_s + n / self.rate + 60
        sipp_out = self.out / f"sipp-{mode}-{n}"
        sipp_out.mkdir(exist_ok=True)
        media = start_media(sipp_out, self.plan) if self.plan else None
        if self.plan:
            port = json.loads(self.plan.read_text())["port"]
            scenario = SCENARIO_LISTENING.read_text().replace("@@MEDIA_PORT@@", str(port))
        else:
            scenario = SCENARIO.read_text().replace("@@PCAP@@", str(pcap))
        scenario = scenario.replace("@@BYE_TIMEOUT_MS@@", str(int((sched.hangup_expected_s + 60) * 1000)))
        sipp = None
        try:
            sipp = start_sipp(self.settings, sipp_out, scenario, listening=media is not None)
            procs = {"sipp": sipp.pid, **({"borrower": media.pid} if media else {})}
            return await self._step(mode, n, {**pids, **procs}, timeout_s, sipp_out)
        finally:
            for proc in (sipp, media):
                if proc:
                    stop_proc(proc)

    async def _step(self, mode: str, n: int, pids: dict[str, int], timeout_s: float, sipp_out: Path) -> dict:
        db = AsyncDb(self.settings.database)
        placer = CallPlacer(self.settings, db)
        await placer.start()
        send = placer.ami.send_action

        async def send_action(action, timeout=10.0):
            if action.get("Action") == "Originate":
                action = self.originate(mode, action)
            return await send(action, timeout)
        placer.ami.send_action = send_action
        sipp_before = sipp_counts(sipp_out)
        numbers: dict[str, str] = {}

        async def one(i: int) -> dict:
            await asyncio.sleep(i / self.rate)
            self.counter += 1
            number = f"1380{self.counter:07d}"
            bid, cid = await db.call(lambda d: attempts_db.ensure_borrower(
                d, loan_id=f"bench-{uuid.uuid4().hex[:12]}", name=BORROWER["name"], id_last4=BORROWER["id_last4"],
                amount_due=BORROWER["amount_due"], due_date=due_date(), locale=LOCALE, phone=number))
            aid = await placer.place(number, locale=LOCALE, borrower_id=bid, contact_id=cid)
            numbers[aid] = number
            try:
                row = await placer.wait(aid, timeout=timeout_s)
            except asyncio.TimeoutError:
                row = await db.call(attempts_db.get, aid)
                row["outcome"] = row.get("outcome") or "timeout"
            return row

        try:
            async with Sampler(pids) as sampler:
                rows = await asyncio.gather(*(one(i) for i in range(n)))
            await asyncio.sleep(1.5)  # the dialog server's last writes
            heard = borrower_calls(sipp_out) if self.plan else {}
            calls = []
            for row in rows:
                answers = await db.call(attempts_db.answers, row["id"])
                dialog = await db.call(lambda d, aid=row["id"]: next(iter(d.query(
                    "SELECT * FROM dialogs WHERE attempt_id = ?", [aid])), None))
                calls.append(listening_report(row, answers, dialog, heard.get(numbers.get(row["id"], ""), []))
                             if self.plan else call_report(row, answers, dialog))
        finally:
            await placer.close()
            db.close()
        await asyncio.sleep(1.0)
        sipp_after = sipp_counts(sipp_out)
        lat = {k: [c["latency_ms"][k] for c in calls if k in c["latency_ms"]] for k in ("identity", "plan")}
        every = lat["identity"] + lat["plan"]
        heard_turn = [x for c in calls for x in c.get("borrower_turn_ms", [])]
        waits = [x for c in calls for x in c.get("borrower_wait_ms", [])]
        res = sampler.result
        failed = [c for c in calls if not c["ok"]]
        step = {
            "mode": mode, "concurrency": n, "calls": n, "completed": n - len(failed), "failed": len(failed),
            "recognized_all": all(c["recognized"] for c in calls),
            "latency_source": sorted({c["latency_source"] for c in calls}),
            "unrecognized_calls": sum(not c["recognized"] for c in calls),
            "sipp_failed": sipp_after["failed"] - sipp_before["failed"],
            "latency_ms": {"median": _r(pct(every, 0.5)), "p95": _r(pct(every, 0.95)), "max": _r(max(every, default=None)),
                           "identity_median": _r(pct(lat["identity"], 0.5)), "plan_median": _r(pct(lat["plan"], 0.5)),
                           "samples": len(every)},
            "borrower_turn_ms": {"median": _r(pct(heard_turn, 0.5)), "p95": _r(pct(heard_turn, 0.95)),
                                 "max": _r(max(heard_turn, default=None)), "samples": len(heard_turn)},
            "borrower_wait_ms": {"median": _r(pct(waits, 0.5)), "p95": _r(pct(waits, 0.95)),
                                 "max": _r(max(waits, default=None)), "samples": len(waits)},
            **res,
            "cpu_s_per_call": {k: round(v / n, 3) for k, v in res["cpu_s"].items()},
            "problems": [{"attempt": c["attempt"], "problems": c["problems"]} for c in failed][:20],
        }
        return step


def _r(v):
    return None if v is None else round(v, 1)


def print_step(s: dict) -> None:
    cpu = " ".join(f"{k}={v:.0f}%" for k, v in s["cpu_pct"].items())
    rss = " ".join(f"{k}={v:.0f}" for k, v in s["rss_mb"].items())
    lat = s["latency_ms"]
    print(f"{s['mode']:<8} {s['concurrency']:>4}  ok {s['completed']:>4}  failed {s['failed']:>3}  "
          f"recognized {'all' if s['recognized_all'] else 'NO ':<3}  turn ms med {lat['median']} p95 {lat['p95']}  "
          + (f"borrower heard turn ms med {s['borrower_turn_ms']['median']} p95 {s['borrower_turn_ms']['p95']}  "
             f"borrower wait ms p95 {s['borrower_wait_ms']['p95']}  " if s["borrower_turn_ms"]["samples"] else "") +
          f"CPU {cpu}  RSS MB {rss}  machine {s['machine_busy_pct']}%  ({s['wall_s']} s)", flush=True)
    for p in s["problems"][:5]:
        print(f"    {p['attempt']}: {'; '.join(p['problems'])}")


def summarize(steps: list[dict]) -> dict:
    ours = [s for s in steps if s["mode"] == "ours"]
    good = [s for s in ours if s["failed"] == 0]
    fast = [s for s in good if s["latency_ms"]["p95"] is not None and s["latency_ms"]["p95"] < 500]
    summary = {"max_concurrency_zero_failed": max((s["concurrency"] for s in good), default=None),
               "max_concurrency_zero_failed_p95_under_500ms": max((s["concurrency"] for s in fast), default=None),
               "ratios_ours_over_baseline": []}
    base = {s["concurrency"]: s for s in steps if s["mode"] == "baseline"}
    for s in ours:
        b = base.get(s["concurrency"])
        if not b:
            continue
        ratio = {"concurrency": s["concurrency"]}
        for k in ("median", "p95"):
            if s["latency_ms"][k] and b["latency_ms"][k]:
                ratio[f"latency_{k}"] = round(s["latency_ms"][k] / b["latency_ms"][k], 2)
        for proc in s["cpu_s_per_call"]:
            if b["cpu_s_per_call"].get(proc):
                ratio[f"cpu_per_call_{proc}"] = round(s["cpu_s_per_call"][proc] / b["cpu_s_per_call"][proc], 2)
        tot_s, tot_b = sum(s["cpu_s_per_call"].values()), sum(b["cpu_s_per_call"].values())
        if tot_b:
            ratio["cpu_per_call_total"] = round(tot_s / tot_b, 2)
        summary["ratios_ours_over_baseline"].append(ratio)
    return summary


def machine() -> dict:
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal")), 0)
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gb": round(mem / 1024 / 1024, 1)}


async def ramp(args, settings: config.Settings, out: Path, pids: dict[str, int],
               pcaps: dict[str, tuple[Path, Schedule]], plan: Path | None) -> list[dict]:
    bench = Bench(settings, out, args.rate, pcaps, plan)
    steps: list[dict] = []
    started = time.monotonic()
    call_s = max(sched.hangup_expected_s for _, sched in pcaps.values()) + 5
    for n in args.steps:
        est = len(args.modes) * (call_s + n / args.rate + 6)
        if steps and time.monotonic() - started + est > args.budget_min * 60:
            print(f"stopping before {n}: would exceed the {args.budget_min}-minute budget (~{est:.0f} s more)")
            break
        stop = False
        for mode in args.modes:
            step = await bench.run_step(mode, n, pids)
            steps.append(step)
            print_step(step)
            if mode == "ours" and step["failed"]:
                stop = True
        (out / "capacity.json").write_text(json.dumps({"steps": steps}, indent=1, ensure_ascii=False))
        if stop:
            print(f"ours failed at {n}: stopping the ramp")
            break
    return steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="10,25,50,100,150,200,250,300")
    ap.add_argument("--modes", default="ours,baseline")
    ap.add_argument("--borrower", choices=("listening", "scripted"), default="listening",
                    help="listening: answers once each prompt has ended (bench/borrower_media.py); "
                         "scripted: the fixed-schedule pcap of earlier runs (no longer completes a call)")
    ap.add_argument("--rate", type=float, default=10.0, help="calls placed per second within a step")
    ap.add_argument("--budget-min", type=float, default=10.0, help="do not start a step that would end later")
    ap.add_argument("--port-base", type=int, default=35000)
    ap.add_argument("--instance", default="bench-dev")
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", default=None, help="also write the result here")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    args.steps = [int(x) for x in args.steps.split(",") if x]
    args.modes = [m for m in args.modes.split(",") if m]
    logging.basicConfig(level=logging.INFO if args.v else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = Path(args.out) if args.out else run_dir("capacity")
    out.mkdir(parents=True, exist_ok=True)
    settings = config.load().replace(instance=args.instance, port_base=args.port_base,
                                     db_path=str(out / "huifang.db"), ring_timeout_s=20,
                                     bench_baseline=int("baseline" in args.modes))
    ensure_installed(settings)
    pcaps = {}
    for mode in args.modes:
        rtp, sched = build_stream(settings, Schedule(latency_s=MODE_LATENCY_S[mode]))
        pcaps[mode] = (out / f"borrower-{mode}.pcap", sched)
        if args.borrower == "scripted":
            write_pcap(pcaps[mode][0], rtp.packets)  # under runs/ only: the repository is never rewritten
        else:
            sched.hangup_expected_s += CONFIRMATION_S   # the schedule only times the call out here
    plan = listening_plan(settings, out, settings.port_base + 2950) if args.borrower == "listening" else None
    print(f"capacity bench: {machine()}, borrower {args.borrower}, steps {args.steps}, modes {args.modes}, "
          f"output {out}", flush=True)
    asterisk.start(settings)
    dialog = DialogProcess(settings, out / "dialog.log")
    try:
        dialog.start()
        pids = {"asterisk": asterisk.running_pid(settings), "dialog": dialog.proc.pid, "controller": os.getpid(),
                **{f"dialog-worker-{i}": pid for i, pid in sorted(dialog.worker_pids().items())}}
        steps = asyncio.run(ramp(args, settings, out, pids, pcaps, plan))
    finally:
        dialog.stop()
        asterisk.stop(settings)
    result = {"machine": machine(), "borrower": args.borrower, "schedules": {m: dataclasses.asdict(sc) for m, (_, sc) in pcaps.items()},
              "steps": steps, "summary": summarize(steps),
              "turn_latency": "end of the borrower's speech (dialog server's VAD / the recording's energy) to the "
                              "first audio of the next prompt",
              "borrower_turn": "listening borrower: end of its spoken answer to the first speech of the next "
                               "prompt it heard; borrower_wait: its answer's start - the prompt's end as it heard it"}
    (out / "capacity.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    s = result["summary"]
    print(f"\nhighest concurrency with zero failed calls: {s['max_concurrency_zero_failed']}; "
          f"with zero failed and p95 turn latency < 500 ms: {s['max_concurrency_zero_failed_p95_under_500ms']}")
    for r in s["ratios_ours_over_baseline"]:
        print("ours / baseline at", r["concurrency"], ":", ", ".join(f"{k} {v}" for k, v in r.items() if k != "concurrency"))
    print(f"JSON: {out / 'capacity.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
