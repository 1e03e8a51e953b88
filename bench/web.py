"""Web app response times on a large database, SQLite or PostgreSQL: N attempts (default 1,000,000)
with their borrowers, conversations, promises, escalations and refusals (bench/web_seed.py), then the
main pages and API calls through the WSGI app (median and p95 over --runs requests each). Prints a
table; writes runs/web-bench-<time>/web.json. A page that fails is timed no further: its error is
printed and recorded (on PostgreSQL, screens whose module is not ported yet fail this way).

    bench/web.py [--attempts 1000000] [--runs 20] [--database URL | --postgres]

Without --database/--postgres: the SQLite file runs/web-bench.db, kept between runs and reused when it
has enough attempts (generating takes minutes); --database reuses a database the same way.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import engines, web_seed  # noqa: E402
from bench.output import RUNS, run_dir  # noqa: E402
from bench.stats import percentile  # noqa: E402
from ivr import config  # noqa: E402
from ivr.db import migrate  # noqa: E402
from ivr.db.store import Store, open_store  # noqa: E402
from ivr.web import create_app, security  # noqa: E402
from tests.support.web_app import PASSWORD, Client  # noqa: E402  (cheap password hashing for the bench)

ROLES = ("supervisor", "agent", "qa", "auditor")
SLOW = ("reports, 30", "compliance, one day")


def add_users_and_token(store: Store) -> str:
    """The four signed-in users (made as `ivr user add` makes them) and an API token; returns the token."""
    stamp = "2026-12-01T00:00:00.000+00:00"
    for role in ROLES:
        if store.scalar("SELECT id FROM users WHERE username = :u", {"u": role}) is None:
            security.add_user(store, role, PASSWORD, role, agent_ext="agent1" if role == "agent" else None)
    token = "hf_" + secrets.token_urlsafe(32)
    store.insert("api_tokens", {"name": "bench", "prefix": token[:9], "scopes": "push,pull", "created_by": "bench",
                                "token_hash": hashlib.sha256(token.encode()).hexdigest(), "created_at": stamp})
    return token


def error_of(exc: BaseException) -> str:
    """The exception, one line, with the two innermost places in ivr/ (outside the Store) it came from."""
    text = " ".join(str(exc).split())
    frames = [f"{f.filename.split('/ivr/')[-1]}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)
              if "/ivr/" in f.filename and not f.filename.endswith("/ivr/db/store.py")]
    where = f" [{' < '.join(reversed(frames[-2:]))}]" if frames else ""
    return f"{type(exc).__name__}: {text[:200]}{where}"


def timed(fn: Callable[[], Any], runs: int) -> dict:
    """Median and p95 of `runs` calls of fn (which returns a response); stops at the first failure."""
    times: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        try:
            response = fn()
        except Exception as exc:   # an unported screen: the bench goes on with the next one
            return {"ok": False, "error": error_of(exc)}
        times.append((time.perf_counter() - t) * 1000)
        if response.status_code >= 400:
            return {"ok": False, "error": f"HTTP {response.status_code}", "status": response.status_code}
    return {"ok": True, "status": response.status_code, "runs": runs,
            "median_ms": percentile(times, 0.5, ndigits=None), "p95_ms": percentile(times, 0.95, ndigits=None)}


def signed_in(app, role: str) -> tuple[Client | None, str | None]:
    client = Client(app)
    try:
        r = client.login(role, PASSWORD)
    except Exception as exc:
        return None, f"login as {role}: {error_of(exc)}"
    if r.status_code != 302:
        return None, f"login as {role}: HTTP {r.status_code}"
    return client, None


def cases(app, store: Store, token: str) -> list[tuple[str, Callable[[], Any] | str]]:
    """(name, request) pairs; a request is replaced by an error text when what it needs failed."""
    mid = store.one("SELECT id, borrower_id FROM attempts WHERE outcome = 'answered' ORDER BY id LIMIT 1 OFFSET 1000")
    loan = store.scalar("SELECT loan_id FROM borrowers WHERE id = :b", {"b": mid["borrower_id"]})
    users = {role: signed_in(app, role) for role in ROLES}
    api = app.test_client()
    h = {"Authorization": f"Bearer {token}"}
    try:
        r = api.get("/api/v1/results?limit=1000", headers=h)
        cursor, cursor_error = (r.get_json() or {}).get("next"), None if r.status_code == 200 else f"HTTP {r.status_code}"
    except Exception as exc:
        cursor, cursor_error = None, error_of(exc)

    def page(role: str, url: str) -> Callable[[], Any] | str:
        client, error = users[role]
        return error if client is None else (lambda: client.get(url))

    return [
        ("dashboard", page("supervisor", "/")),
        ("calls list", page("supervisor", "/calls")),
        ("call detail", page("supervisor", f"/calls/{mid['id']}")),
        ("campaigns", page("supervisor", "/campaigns")),
        ("campaign detail", page("supervisor", "/campaigns/1")),
        ("campaign progress.json", page("supervisor", "/campaigns/1/progress.json")),
        ("monitor live.json", page("supervisor", "/monitor/live.json")),
        ("borrower search (loan id)", page("supervisor", f"/borrowers?q={loan}")),
        ("borrower record", page("supervisor", f"/borrowers/{mid['borrower_id']}")),
        ("agent desk", page("agent", "/agent")),
        ("qa queue", page("qa", "/qa")),
        ("reports, 7 days", page("supervisor", "/reports?since=2026-11-24&until=2026-11-30")),
        ("reports, 30 days", page("supervisor", "/reports?since=2026-11-01&until=2026-11-30")),
        ("compliance, one borrower", page("auditor", f"/compliance?loan_id={loan}")),
        ("compliance, one day", page("auditor", "/compliance?since=2026-11-15&until=2026-11-15")),
        ("audit log", page("auditor", "/audit")),
        ("API results page (100)", (lambda: api.get(f"/api/v1/results?limit=100&after={cursor}", headers=h))
         if cursor_error is None else f"first results page: {cursor_error}"),
        ("API borrower status", lambda: api.get(f"/api/v1/borrowers/{loan}", headers=h)),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attempts", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    engines.add_options(ap)
    args = ap.parse_args(argv)
    if args.attempts < 20_000:
        ap.error("--attempts: at least 20000 (the pages look for the 1000th answered call)")
    work = run_dir("web-bench")
    report: dict = {"bench": "web", "attempts": args.attempts, "run_dir": str(work), "load_at_start": os.getloadavg()}
    with engines.bench_database(args, work, RUNS / "web-bench.db") as url:
        engine = report["engine"] = engines.engine_of(url)
        store = open_store(url)
        have = store.scalar("SELECT count(*) FROM attempts")
        if have < args.attempts:
            if have:
                raise SystemExit(f"the {engine} database has {have:,} attempts; give an empty one to generate "
                                 f"{args.attempts:,}")
            t0 = time.perf_counter()
            print(f"generating {args.attempts:,} attempts on {engine}", flush=True)
            report["seed_s"] = web_seed.generate(store, args.attempts)
            report["seed_total_s"] = time.perf_counter() - t0
            print(f"generated in {report['seed_total_s']:.0f} s", flush=True)
        token = add_users_and_token(store)
        sqlite_file = migrate.sqlite_path(url)
        s = config.load(env={}).replace(database_url=url, cache_dir=work, instance="web-bench",
                                        db_path=str(sqlite_file or work / "unused.db"))
        app = create_app(s)
        app.config["PROPAGATE_EXCEPTIONS"] = True   # a failing screen raises here with its cause
        n = store.scalar("SELECT count(*) FROM attempts")
        print(f"\n{n:,} attempts on {engine}; {args.runs} requests each (WSGI, in-process)\n")
        print(f"{'page / call':<28} {'median ms':>10} {'p95 ms':>10} {'status':>7}")
        rows = []
        for name, fn in cases(app, store, token):
            runs = max(3, args.runs // 4) if name.startswith(SLOW) else args.runs
            result = {"ok": False, "error": fn} if isinstance(fn, str) else timed(fn, runs)
            rows.append({"name": name, **result})
            if result["ok"]:
                print(f"{name:<28} {result['median_ms']:>10.1f} {result['p95_ms']:>10.1f} {result['status']:>7}",
                      flush=True)
            else:
                print(f"{name:<28} FAILED  {result['error']}", flush=True)
        store.close()
    report["rows"] = rows
    report["load_at_end"] = os.getloadavg()
    out = work / "web.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"\nload average at start {report['load_at_start']}, at end {report['load_at_end']}\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
