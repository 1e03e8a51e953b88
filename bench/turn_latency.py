"""Turn latency over real calls: from the end of the borrower's speech to the first audio frame of
the prompt that answers it.

Starts its own stack (Asterisk, dialog server with Vosk, pjsua2 phones) with ko-KR voice personas
(네 to the identity question, 1 to "did you say 네?", the ID by keypad, 네 to the plan: two voice
turns per call, phrasings from ivr/sim/VOICE.md), places --calls calls at most --concurrency at a time, and reads from the
database, per voice answer:

    speech_ended_at   the dialog server's end of the borrower's speech (last voiced frame heard)
    result_at         the turn decided and recognized
    reply_audio_at    the first frame of the next prompt written to Asterisk (0005, runner._note_reply)

and prints median / p95 of reply - speech_end (the borrower's wait), with the split into
end-of-turn + recognition (result - speech_end) and prompt start (reply - result), per question
too. It also reads how busy the whole machine was (bench/busy.py, /proc/stat every 50 ms) while each
borrower waited for the reply, against the 1.5 s before the end of that speech: with the calls in
step, every recognizer's work lands in the same fraction of a second after the answers end. Writes JSON.

    PYTHONPATH=. .venv/bin/python bench/turn_latency.py --calls 12 --concurrency 4 --out runs/turn_latency.json
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.busy import BusyTimeline  # noqa: E402
from bench.output import run_dir  # noqa: E402
from bench.stats import percentile  # noqa: E402
from ivr import config  # noqa: E402
from ivr.db.connect import connect  # noqa: E402
from ivr.demo import call_all  # noqa: E402
from ivr.sim.personas import load_personas  # noqa: E402
from ivr.stack import Stack, ensure_installed  # noqa: E402

# the flow asks "did you say 네?" when it is unsure (on espeak-ng's 네 it is, at the identity question):
# key 1 confirms; the last answer confirms any such re-ask with its or_dtmf
STEPS = [{"say": "네", "locale": "ko-KR"}, {"dtmf": "1"}, {"dtmf": "1234"},
         {"say": "네", "locale": "ko-KR", "or_dtmf": "1"}]


def pct(values: list[float], q: float) -> float | None:
    return percentile(values, q)


def ms(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds() * 1000


def summary(values: list[float]) -> dict:
    return {"n": len(values), "median_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95),
            "min_ms": round(min(values), 1) if values else None, "max_ms": round(max(values), 1) if values else None}


def summary_pct(values: list[float | None]) -> dict:
    got = [v for v in values if v is not None]
    return {"n": len(got), "median": pct(got, 0.5), "p95": pct(got, 0.95)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--port-base", type=int, default=37000)
    ap.add_argument("--instance", default="announce-dev")
    ap.add_argument("--out", default="", help="JSON file (default runs/turn-latency-<time>.json)")
    a = ap.parse_args(argv)
    run = run_dir("turn-latency")
    settings = config.load().replace(port_base=a.port_base, instance=a.instance, db_path=str(run / "huifang.db"),
                                     ring_timeout_s=10)
    ensure_installed(settings)
    numbers = [f"1340000{i:04d}" for i in range(1, a.calls + 1)]
    personas_path = run / "personas.json"
    personas_path.write_text(json.dumps({n: {"answer_after_ms": 400, "steps": STEPS} for n in numbers},
                                        ensure_ascii=False))
    borrowers = {n: {"name": "김민수", "locale": "ko-KR", "id_last4": "1234", "amount_due": 350000} for n in numbers}
    stack = Stack(settings, run, personas_path, agents=False)
    stack.start()
    started = time.monotonic()
    try:
        with BusyTimeline() as busy:
            rows = asyncio.run(call_all(settings, load_personas(personas_path), borrowers,
                                        concurrency=a.concurrency, run_tag="latency"))
    finally:
        stack.stop()
    wall = time.monotonic() - started
    db = connect(settings.database)
    turns = []
    for row in rows:
        for ans in db.query("SELECT * FROM answers WHERE attempt_id = ? ORDER BY seq", [row["id"]]):
            if ans["via"] != "voice":
                continue
            turns.append({"attempt": row["id"], "node": ans["node"], "text": ans["text"], "intent": ans["intent"],
                          "speech_ended_at": ans["speech_ended_at"], "result_at": ans["result_at"],
                          "reply_audio_at": ans["reply_audio_at"],
                          "latency_ms": ms(ans["speech_ended_at"], ans["reply_audio_at"]),
                          "decide_ms": ms(ans["speech_ended_at"], ans["result_at"]),
                          "prompt_start_ms": ms(ans["result_at"], ans["reply_audio_at"])})
    for t in turns:
        if t["speech_ended_at"] and t["reply_audio_at"]:
            end = dt.datetime.fromisoformat(t["speech_ended_at"]).timestamp()
            reply = dt.datetime.fromisoformat(t["reply_audio_at"]).timestamp()
            t["machine_busy_pct_waiting"] = busy.busy_pct(end, reply)
            t["machine_busy_pct_before"] = busy.busy_pct(end - 1.5, end)
    measured = [t for t in turns if t["latency_ms"] is not None]
    report = {
        "calls": a.calls, "concurrency": a.concurrency, "wall_s": round(wall, 1),
        "answered": sum(1 for r in rows if r["outcome"] == "answered"),
        "results": {r["number"]: (r.get("dialog") or {}).get("result") for r in rows},
        "voice_turns": len(turns), "measured_turns": len(measured),
        "latency": summary([t["latency_ms"] for t in measured]),
        "end_of_turn_and_recognition": summary([t["decide_ms"] for t in measured if t["decide_ms"] is not None]),
        "prompt_start": summary([t["prompt_start_ms"] for t in measured if t["prompt_start_ms"] is not None]),
        "by_question": {node: summary([t["latency_ms"] for t in measured if t["node"] == node])
                        for node in sorted({t["node"] for t in measured})},
        "machine_busy_pct": {
            "while_waiting": summary_pct([t.get("machine_busy_pct_waiting") for t in measured]),
            "before_speech_end": summary_pct([t.get("machine_busy_pct_before") for t in measured])},
        "turns": turns,
    }
    out = Path(a.out) if a.out else run / "turn_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    lat, dec, pro = report["latency"], report["end_of_turn_and_recognition"], report["prompt_start"]
    print(f"{a.calls} calls at concurrency {a.concurrency}: {report['answered']} answered, "
          f"{len(measured)}/{len(turns)} voice turns measured")
    print(f"end of speech -> first frame of the next prompt: median {lat['median_ms']} ms, p95 {lat['p95_ms']} ms")
    print(f"  end of speech -> turn decided + recognized:   median {dec['median_ms']} ms, p95 {dec['p95_ms']} ms")
    print(f"  decided -> first frame sent:                  median {pro['median_ms']} ms, p95 {pro['p95_ms']} ms")
    for node, q in report["by_question"].items():
        print(f"  {node:>10}: {q['n']} turns, median {q['median_ms']} ms, p95 {q['p95_ms']} ms")
    mb = report["machine_busy_pct"]
    print(f"machine busy (all cores) while borrowers waited: median {mb['while_waiting']['median']} %, "
          f"in the 1.5 s before their speech ended: median {mb['before_speech_end']['median']} %")
    print(f"JSON: {out}")
    return 0 if measured else 1


if __name__ == "__main__":
    raise SystemExit(main())
