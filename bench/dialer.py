"""Dialer benchmark on SQLite or PostgreSQL: scheduler decision time with N borrowers (default
1,000,000) in the database, the cost of claiming a call (`controller.claim_dial`), one and two
controllers claiming from one campaign at once, and (SQLite only) achieved vs configured pacing of the
controller with a placer that completes calls instantly. Prints tables, writes runs/.../dialer.json.

    bench/dialer.py [--borrowers 1000000] [--database URL | --postgres] [--race-seconds 15]

Everything it measures (scheduler, target_state, attempts, claim_dial) is on the Store, so one code
path runs on both engines; the campaign and its targets are written with the Store here, because
`campaigns.create/apply_command` are not ported yet (the start is timed as one INSERT ... SELECT).
The pacing part drives `controller.Controller`, whose AsyncDb opens SQLite only: skipped on PostgreSQL.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import engines  # noqa: E402
from bench.output import run_dir  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.db import attempts as attempts_db  # noqa: E402
from ivr.db.store import Store, open_store  # noqa: E402
from ivr.dialer import controller, scheduler  # noqa: E402
from ivr.dialer.clock import iso, shift_to  # noqa: E402

TEN_AM = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)   # 10:00 Shanghai, 11:00 Seoul
BUDGETS = (1, 10, 50, 200)
CLAIM_BATCH = 10     # calls decided per tick by a claiming controller


def populate(store: Store, n: int) -> dict:
    """n borrowers (4 in 5 zh-CN), a mobile for each, a spouse's number for every third, and two busy
    attempts today for every third borrower (so the caps have something to count)."""
    stamp = iso(TEN_AM)
    took = {}
    t0 = time.perf_counter()
    engines.bulk_load(store, "borrowers", ("id", "loan_id", "name", "amount_due", "due_date", "locale", "timezone",
                                           "created_at", "updated_at"),
                      ((i, f"B{i:07d}", "n", 1000, "2026-12-05", "zh-CN" if i % 5 else "ko-KR",
                        "Asia/Shanghai" if i % 5 else "Asia/Seoul", stamp, stamp) for i in range(1, n + 1)))
    took["borrowers"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engines.bulk_load(store, "contacts", ("id", "borrower_id", "phone", "kind", "relation", "status", "created_at"),
                      ((i, i, f"13{i:09d}", "mobile", None, "ok", stamp) for i in range(1, n + 1)))
    engines.bulk_load(store, "contacts", ("id", "borrower_id", "phone", "kind", "relation", "status", "created_at"),
                      ((n + i, i, f"15{i:09d}", "third_party", "spouse", "ok", stamp) for i in range(1, n + 1, 3)))
    took["contacts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engines.bulk_load(store, "attempts", ("id", "borrower_id", "number", "locale", "state", "outcome", "created_at"),
                      ((f"h{i}-{k}", i, f"13{i:09d}", "zh-CN", "ended", "busy",
                        iso(TEN_AM - dt.timedelta(minutes=30 + k))) for i in range(1, n + 1, 3) for k in range(2)))
    took["attempts"] = time.perf_counter() - t0
    engines.fix_sequences(store, ("borrowers", "contacts"))
    took["analyze"] = engines.analyze(store)
    return took


def start_campaign(store: Store) -> tuple[int, float]:
    """A running campaign over every borrower; (its id, seconds to write its targets)."""
    stamp = iso(TEN_AM)
    cid = store.insert("campaigns", {
        "name": "bench", "state": "draft", "flow": "followup", "locale_default": "zh-CN",
        "selection": json.dumps({"all": True}), "max_concurrent": 1000, "max_cps": 1000, "max_attempts": 6,
        "retry_policy": "{}", "policy": "{}", "fallback": "{}", "created_at": stamp, "updated_at": stamp,
        "caller_id": "", "caller_id_pool": "[]"})
    t0 = time.perf_counter()
    with store.transaction():
        store.execute("INSERT INTO campaign_targets (campaign_id, borrower_id, status, next_at, updated_at) "
                      "SELECT :c, id, 'pending', :start, :stamp FROM borrowers ORDER BY id",
                      {"c": cid, "start": stamp, "stamp": stamp})
        store.update("campaigns", cid, {"state": "running", "started_at": stamp, "updated_at": stamp})
    took = time.perf_counter() - t0
    # half the targets are retries due at various times, so both queues are non-trivial
    store.execute("UPDATE campaign_targets SET attempts = 1, retry = 1, next_at = :at WHERE borrower_id % 2 = 0",
                  {"at": iso(TEN_AM - dt.timedelta(hours=1))})
    engines.analyze(store)
    return cid, took


def row(name: str, times: list[float], **extra) -> dict:
    return {"name": name, "runs": len(times), "median_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000, **extra}


def bench_ticks(store: Store, cid: int) -> list[dict]:
    rows = []
    for slots in BUDGETS:
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            result = scheduler.tick(store, TEN_AM, {cid: slots})
            times.append(time.perf_counter() - t0)
            assert len(result.dials) == slots, (len(result.dials), slots)
        rows.append(row(f"tick, budget {slots} calls", times))
    return rows


def bench_night(store: Store, cid: int) -> dict:
    """A tick where every due borrower is refused (night): the cost of writing refusals."""
    night = TEN_AM + dt.timedelta(hours=13)   # 23:00 Shanghai / 24:00 Seoul
    store.execute("UPDATE campaign_targets SET next_at = :at WHERE campaign_id = :c AND borrower_id <= 2000",
                  {"at": iso(night - dt.timedelta(hours=1)), "c": cid})
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        scheduler.tick(store, night, {cid: 50})
        times.append(time.perf_counter() - t0)
    # put them back where the claiming controllers expect them
    store.execute("UPDATE campaign_targets SET next_at = :at WHERE campaign_id = :c AND borrower_id <= 2000",
                  {"at": iso(TEN_AM), "c": cid})
    return row("tick at night, 200 refusals each", times)


# ---- controllers claiming --------------------------------------------------------------------------
def claiming_controller(url: str, cid: int, name: str, seconds: float, gate, results) -> None:
    """One controller's loop without telephony: tick for CLAIM_BATCH calls, claim each (claim_dial writes
    the attempt and makes the target active), for `seconds`. Runs in its own process and connection."""
    store = open_store(url)
    campaign = store.one("SELECT * FROM campaigns WHERE id = :c", {"c": cid})
    ticks, claims, won, lost = [], [], 0, 0
    gate.wait()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        result = scheduler.tick(store, TEN_AM, {cid: CLAIM_BATCH}, campaigns=[campaign])
        ticks.append(time.perf_counter() - t0)
        for dial in result.dials:
            attempt = attempts_db.new_row(f"bench-{name}-{uuid.uuid4().hex[:12]}", dial.number, locale=dial.locale,
                                          borrower_id=dial.borrower_id, contact_id=dial.contact_id,
                                          campaign_id=dial.campaign_id, flow=dial.flow, caller_id="4008000000",
                                          trunk="bench", created_at=iso(TEN_AM), node=name)
            t0 = time.perf_counter()
            ok = controller.claim_dial(store, dial, attempt, campaign, TEN_AM)
            claims.append(time.perf_counter() - t0)
            won, lost = won + ok, lost + (not ok)
    store.close()
    results.put({"name": name, "ticks": ticks, "claims": claims, "won": won, "lost": lost, "seconds": seconds})


def race(url: str, cid: int, controllers: int, seconds: float) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    gate, results = ctx.Barrier(controllers), ctx.Queue()
    procs = [ctx.Process(target=claiming_controller, args=(url, cid, f"c{controllers}{i}", seconds, gate, results))
             for i in range(controllers)]
    for p in procs:
        p.start()
    out = [results.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(60)
        if p.exitcode != 0:
            raise SystemExit(f"a claiming controller failed (exit code {p.exitcode})")
    return out


def bench_claims(store: Store, url: str, cid: int, seconds: float) -> list[dict]:
    rows = []
    for n in (1, 2):
        before = store.scalar("SELECT count(*) FROM attempts WHERE id LIKE 'bench-%'")
        per = race(url, cid, n, seconds)
        ticks = [t for r in per for t in r["ticks"]]
        claims = [t for r in per for t in r["claims"]]
        won, lost = sum(r["won"] for r in per), sum(r["lost"] for r in per)
        written = store.scalar("SELECT count(*) FROM attempts WHERE id LIKE 'bench-%'") - before
        doubled = store.scalar("SELECT count(*) FROM (SELECT borrower_id FROM attempts WHERE id LIKE 'bench-%' "
                               "GROUP BY borrower_id HAVING count(*) > 1) x")
        label = "one controller" if n == 1 else "two controllers at once"
        rows.append(row(f"{label}: tick for {CLAIM_BATCH} calls", ticks))
        rows.append(row(f"{label}: claim_dial", claims, won=won, lost=lost,
                        calls_per_s=won / seconds, attempts_written=written, borrowers_twice=doubled))
    return rows


# ---- pacing (SQLite only) --------------------------------------------------------------------------
async def pacing_run(path: Path, cps: float, calls: int) -> tuple[float, float]:
    from ivr.db.writer import AsyncDb
    from ivr.dialer import campaigns
    from tests.support.fake_placer import FakePlacer
    adb = AsyncDb(path)
    s = adb.db.store
    stamp = iso(TEN_AM)
    base = s.scalar("SELECT COALESCE(MAX(id), 0) FROM borrowers")
    with s.transaction():
        for i in range(base + 1, base + calls + 1):
            s.insert("borrowers", {"id": i, "loan_id": f"P{i}", "name": "n", "locale": "zh-CN",
                                   "timezone": "Asia/Shanghai", "created_at": stamp, "updated_at": stamp})
            s.insert("contacts", {"borrower_id": i, "phone": f"17{i:09d}", "kind": "mobile", "created_at": stamp})
    loans = [f"P{i}" for i in range(base + 1, base + calls + 1)]
    cid = campaigns.create(adb.db, name=f"pace{cps}", selection={"loan_ids": loans}, max_cps=cps, max_concurrent=1000)
    campaigns.apply_command(adb.db, cid, "start")
    placer = FakePlacer(adb, outcome_for=lambda n: {"outcome": "answered", "dialog": "completed"}, duration_s=0.0)
    ctl = controller.Controller(Settings(), policy_shift=shift_to(TEN_AM), placer=placer, db=adb, tick_s=0.02,
                                max_channels=1000)
    await ctl.run(until_idle=True)
    t = ctl.stats.originate_times
    achieved = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0
    adb.close()
    return achieved, ctl.stats.tick_seconds_max


def bench_pacing(run: Path) -> list[dict]:
    out = []
    for cps, calls in ((1, 6), (5, 30), (20, 100), (50, 200)):
        achieved, _ = asyncio.run(pacing_run(run / "pacing.db", cps, calls))
        out.append({"calls": calls, "configured_cps": cps, "achieved_cps": achieved})
    return out


def print_rows(rows: list[dict]) -> None:
    print(f"{'':<48} {'runs':>6} {'median ms':>10} {'max ms':>9}")
    for r in rows:
        extra = ""
        if "won" in r:
            extra = (f"  won {r['won']}, lost {r['lost']}, {r['calls_per_s']:.1f} calls/s, "
                     f"borrowers called twice: {r['borrowers_twice']}")
        print(f"{r['name']:<48} {r['runs']:>6} {r['median_ms']:>10.2f} {r['max_ms']:>9.1f}{extra}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=1_000_000)
    ap.add_argument("--race-seconds", type=float, default=15.0, help="how long the claiming controllers run")
    ap.add_argument("--no-pacing", action="store_true", help="skip the (SQLite-only) pacing runs")
    engines.add_options(ap)
    args = ap.parse_args(argv)
    if args.borrowers < 5000:
        ap.error("--borrowers: at least 5000 (the night tick refuses borrowers 1..2000)")
    run = run_dir("bench-dialer")
    report: dict = {"bench": "dialer", "borrowers": args.borrowers, "run_dir": str(run),
                    "load_at_start": os.getloadavg()}
    with engines.bench_database(args, run, run / "bench.db") as url:
        engine = report["engine"] = engines.engine_of(url)
        store = open_store(url)
        if store.scalar("SELECT count(*) FROM borrowers"):
            raise SystemExit(f"{engine} database already has borrowers: the dialer bench needs an empty one")
        t0 = time.perf_counter()
        report["seed_s"] = populate(store, args.borrowers)
        seeded = time.perf_counter() - t0
        counts = {t: store.scalar(f"SELECT count(*) FROM {t}") for t in ("borrowers", "contacts", "attempts")}
        print(f"{engine}: {counts['borrowers']:,} borrowers, {counts['contacts']:,} contacts, "
              f"{counts['attempts']:,} attempts, seeded in {seeded:.1f} s {report['seed_s']}\n", flush=True)
        cid, materialise = start_campaign(store)
        report["seed_s"]["campaign_targets"] = materialise
        print(f"start campaign: {args.borrowers:,} targets written in {materialise * 1000:.0f} ms\n", flush=True)
        rows = bench_ticks(store, cid)
        rows.append(bench_night(store, cid))
        print_rows(rows)
        claims = bench_claims(store, url, cid, args.race_seconds)
        print()
        print_rows(claims)
        report["rows"] = rows + claims
        store.close()
    if engine == "sqlite" and not args.no_pacing:
        print(f"\n{'pacing (controller, instant calls)':<40} {'calls':>6} {'configured cps':>15} {'achieved cps':>13}")
        report["pacing"] = bench_pacing(run)
        for p in report["pacing"]:
            print(f"{'':<40} {p['calls']:>6} {p['configured_cps']:>15.1f} {p['achieved_cps']:>13.2f}")
    elif engine != "sqlite":
        print("\npacing: skipped (the Controller's AsyncDb opens SQLite only until ivr/dialer is ported)")
    report["load_at_end"] = os.getloadavg()
    print(f"\nload average (1/5/15 min) at start {report['load_at_start']}, at end {report['load_at_end']}")
    out = run / "dialer.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
