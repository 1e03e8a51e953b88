"""Dialer benchmark: scheduler decision time with 100,000 borrowers in the database, and achieved
vs configured calls-per-second pacing of the controller (with a placer that completes calls
instantly, so only the dialer's own pacing is measured). Prints tables.

    .venv/bin/python bench/dialer.py [--borrowers 100000] [--out /tmp/bench-dialer.db]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.output import run_dir  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.db.connect import connect  # noqa: E402
from ivr.db.writer import AsyncDb  # noqa: E402
from ivr.dialer import campaigns, controller, scheduler  # noqa: E402
from ivr.dialer.clock import iso, shift_to  # noqa: E402
from tests.support.fake_placer import FakePlacer  # noqa: E402

TEN_AM = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)


def populate(db, n: int) -> float:
    started = time.perf_counter()
    stamp = iso(TEN_AM)
    with db.conn:
        db.execute("BEGIN")
        db["borrowers"].insert_all(({"id": i, "loan_id": f"B{i:07d}", "name": "n", "amount_due": 1000,
                                     "due_date": "2026-12-05", "locale": "zh-CN" if i % 5 else "ko-KR",
                                     "timezone": "Asia/Shanghai" if i % 5 else "Asia/Seoul",
                                     "created_at": stamp, "updated_at": stamp} for i in range(1, n + 1)),
                                   batch_size=5000)
        db["contacts"].insert_all(({"borrower_id": i, "phone": f"13{i:09d}", "kind": "mobile", "status": "ok",
                                    "created_at": stamp} for i in range(1, n + 1)), batch_size=5000)
        db["contacts"].insert_all(({"borrower_id": i, "phone": f"15{i:09d}", "kind": "third_party",
                                    "relation": "spouse", "status": "ok", "created_at": stamp}
                                   for i in range(1, n + 1, 3)), batch_size=5000)
        # history: a third of the borrowers had 2 attempts today (caps have something to count)
        db["attempts"].insert_all(({"id": f"h{i}-{k}", "borrower_id": i, "number": f"13{i:09d}", "locale": "zh-CN",
                                    "state": "ended", "outcome": "busy",
                                    "created_at": iso(TEN_AM - dt.timedelta(minutes=30 + k))}
                                   for i in range(1, n + 1, 3) for k in range(2)), batch_size=5000)
    return time.perf_counter() - started


def bench_scheduler(db, n: int) -> list[tuple]:
    cid = campaigns.create(db, name="bench", selection={"all": True}, max_concurrent=1000, max_cps=1000, now=TEN_AM)
    t0 = time.perf_counter()
    campaigns.apply_command(db, cid, "start", now=TEN_AM)
    materialise = time.perf_counter() - t0
    # half the targets are retries due at various times, so both queues are non-trivial
    db.execute("UPDATE campaign_targets SET attempts = 1, retry = 1, next_at = ? WHERE borrower_id % 2 = 0",
               [iso(TEN_AM - dt.timedelta(hours=1))])
    rows = [("start campaign (materialise targets)", n, 1, materialise * 1000, materialise * 1000)]
    for slots in (1, 10, 50, 200):
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            result = scheduler.tick(db, TEN_AM, {cid: slots})
            times.append(time.perf_counter() - t0)
            assert len(result.dials) == slots, (len(result.dials), slots)
        rows.append((f"tick, budget {slots} calls", n, len(times), statistics.median(times) * 1000, max(times) * 1000))
    # a tick where every due borrower is refused (night): the cost of writing refusals
    night = TEN_AM + dt.timedelta(hours=13)   # 23:00 Shanghai / 24:00 Seoul
    db.execute("UPDATE campaign_targets SET next_at = ? WHERE borrower_id <= 2000", [iso(night - dt.timedelta(hours=1))])
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        scheduler.tick(db, night, {cid: 50})
        times.append(time.perf_counter() - t0)
    rows.append(("tick at night, 200 refusals each", n, len(times), statistics.median(times) * 1000, max(times) * 1000))
    return rows


async def pacing_run(path: Path, cps: float, calls: int) -> tuple[float, float]:
    adb = AsyncDb(path)
    d = adb.db
    stamp = iso(TEN_AM)
    with d.conn:
        d.execute("BEGIN")
        base = d.execute("SELECT COALESCE(MAX(id), 0) FROM borrowers").fetchone()[0]
        for i in range(base + 1, base + calls + 1):
            d["borrowers"].insert({"id": i, "loan_id": f"P{i}", "name": "n", "locale": "zh-CN",
                                   "timezone": "Asia/Shanghai", "created_at": stamp, "updated_at": stamp})
            d["contacts"].insert({"borrower_id": i, "phone": f"17{i:09d}", "kind": "mobile", "created_at": stamp})
    loans = [f"P{i}" for i in range(base + 1, base + calls + 1)]
    shift = shift_to(TEN_AM)
    cid = campaigns.create(d, name=f"pace{cps}", selection={"loan_ids": loans}, max_cps=cps, max_concurrent=1000)
    campaigns.apply_command(d, cid, "start")
    placer = FakePlacer(adb, outcome_for=lambda n: {"outcome": "answered", "dialog": "completed"}, duration_s=0.0)
    ctl = controller.Controller(Settings(), policy_shift=shift, placer=placer, db=adb, tick_s=0.02, max_channels=1000)
    await ctl.run(until_idle=True)
    t = ctl.stats.originate_times
    achieved = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0
    adb.close()
    return achieved, ctl.stats.tick_seconds_max


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--borrowers", type=int, default=100_000)
    ap.add_argument("--out", help="database file (default: runs/bench-dialer-<time>/bench.db)")
    args = ap.parse_args()
    tmp = Path(args.out) if args.out else run_dir("bench-dialer") / "bench.db"
    if tmp.exists():
        tmp.unlink()
    db = connect(tmp)
    took = populate(db, args.borrowers)
    print(f"database {tmp}: {args.borrowers} borrowers, {db['contacts'].count} contacts, "
          f"{db['attempts'].count} attempts (populated in {took:.1f} s)\n")
    print(f"{'scheduler decision':<40} {'borrowers':>9} {'runs':>5} {'median ms':>10} {'max ms':>8}")
    for name, n, runs, med, mx in bench_scheduler(db, args.borrowers):
        print(f"{name:<40} {n:>9} {runs:>5} {med:>10.1f} {mx:>8.1f}")
    db.conn.close()
    print(f"\n{'pacing (controller, instant calls)':<40} {'calls':>6} {'configured cps':>15} {'achieved cps':>13}")
    pace_db = tmp.with_name("pacing.db")
    if pace_db.exists():
        pace_db.unlink()
    for cps, calls in ((1, 6), (5, 30), (20, 100), (50, 200)):
        achieved, _ = asyncio.run(pacing_run(pace_db, cps, calls))
        print(f"{'':<40} {calls:>6} {cps:>15.1f} {achieved:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
