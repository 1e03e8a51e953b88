"""`ivr demo`: call every simulated borrower once through a real local Asterisk and report.

Installs what is missing, starts the stack (Asterisk, dialog server, borrower and agent phones),
places one call per number of the persona file, waits for every outcome, prints a table and
writes <out>/summary.json.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from pathlib import Path

from .config import REPO_ROOT, Settings
from .db import attempts as attempts_db
from .db.writer import AsyncDb
from .dialer.calls import CallPlacer
from .sim.personas import load_personas
from .stack import Stack, ensure_installed

log = logging.getLogger("ivr.demo")
DATA = Path(__file__).with_name("demo_data")
CONCURRENCY = 6


def demo_due_date() -> str:
    """Demo borrowers are due five days from today."""
    return (dt.date.today() + dt.timedelta(days=5)).isoformat()


def demo_borrower(number: str, persona, table: dict) -> dict:
    known = table.get(number)
    if known:
        return known
    locale = next((s.locale for s in persona.steps if getattr(s, "locale", None)), None) or "zh-CN"
    return {"name": "김민수" if locale == "ko-KR" else "张伟", "locale": locale, "id_last4": "1234",
            "amount_due": 350000 if locale == "ko-KR" else 3500}


async def call_all(settings: Settings, personas: dict, borrowers: dict, *, concurrency: int = CONCURRENCY,
                   run_tag: str = "demo") -> list[dict]:
    """Place one call per persona number, at most `concurrency` at once; return the attempt rows."""
    db = AsyncDb(settings.database)
    placer = CallPlacer(settings, db)
    await placer.start()
    gate = asyncio.Semaphore(concurrency)
    due = demo_due_date()

    async def one(number: str) -> dict:
        b = demo_borrower(number, personas[number], borrowers)
        borrower_id, contact_id = await db.call(lambda d: attempts_db.ensure_borrower(
            d, loan_id=f"{run_tag}-{number}", name=b["name"], id_last4=b.get("id_last4"),
            amount_due=b.get("amount_due"), due_date=b.get("due_date", due), locale=b["locale"], phone=number))
        async with gate:
            attempt_id = await placer.place(number, locale=b["locale"], borrower_id=borrower_id,
                                            contact_id=contact_id)
            row = await placer.wait(attempt_id, timeout=settings.ring_timeout_s + 240)
        row["answers"] = await db.call(attempts_db.answers, attempt_id)
        row["dialog"] = await db.call(lambda d: next(iter(d.query(
            "SELECT * FROM dialogs WHERE attempt_id = ?", [attempt_id])), None))
        return row

    try:
        return await asyncio.gather(*(one(n) for n in personas))
    finally:
        await placer.close()
        db.close()


def summarize(rows: list[dict]) -> dict:
    calls = []
    for row in rows:
        calls.append({
            "number": row["number"], "attempt": row["id"], "outcome": row["outcome"], "cause": row["cause"],
            "sip_code": row.get("sip_code"), "dial_status": row.get("dial_status"),
            "result": (row.get("dialog") or {}).get("result"),
            "recording": row.get("recording_path"),
            "answers": [{"step": a["step"], "node": a["node"], "intent": a["intent"], "via": a["via"],
                         "text": a["text"], "digits": a["digits"], "barge_in": bool(a["barge_in"])}
                        for a in row.get("answers", [])],
        })
    return {"calls": calls}


def print_table(summary: dict) -> None:
    print(f"{'number':<13} {'outcome':<15} {'cause':>5}  {'result':<20} answers")
    for c in summary["calls"]:
        answers = "; ".join(f"{a['step']}={a['intent']} ({a['via']}"
                            f"{': ' + (a['text'] or a['digits'] or '') if a['via'] in ('voice', 'keypad') else ''})"
                            for a in c["answers"])
        print(f"{c['number']:<13} {c['outcome'] or '?':<15} {c['cause'] if c['cause'] is not None else '-':>5}  "
              f"{c['result'] or '-':<20} {answers}")


def run_demo(settings: Settings, *, personas: str | None = None, out: str | None = None, keep: bool = False) -> int:
    if settings.instance == "default":
        settings = settings.replace(instance="demo")
    personas_path = Path(personas) if personas else DATA / "personas.json"
    table = json.loads((DATA / "borrowers.json").read_text())
    out_dir = Path(out) if out else REPO_ROOT / "runs" / time.strftime("demo-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    parsed = load_personas(personas_path)  # bad persona files fail here, with file and field
    print(f"Huifang demo: {len(parsed)} simulated borrowers, output in {out_dir}")
    print("installing what is missing (Asterisk rootfs, prompt audio)...", flush=True)
    ensure_installed(settings)
    settings = settings.replace(db_path=str(out_dir / "huifang.db"))
    stack = Stack(settings, out_dir, personas_path)
    started = time.monotonic()
    stack.start()
    print(f"stack up in {time.monotonic() - started:.1f} s: Asterisk SIP {settings.bind}:{settings.sip_port}, "
          f"AMI {settings.ami_port}, dialog AGI {settings.agi_port} / AudioSocket {settings.audiosocket_port}",
          flush=True)
    try:
        rows = asyncio.run(call_all(settings, parsed, table))
        summary = summarize(rows)
        summary["database"] = str(settings.database)
        summary["phones_log"] = str(stack.calls_log)
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        print()
        print_table(summary)
        print(f"\nsummary: {out_dir / 'summary.json'}   database: {settings.database}")
        if keep:
            print("--keep: leaving the stack running; stop it with `ivr asterisk stop` and Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        stack.stop()
    return 0
