"""Web app response times on a large database: generates N attempts (default 1,000,000) with their
borrowers, conversations, promises, escalations and refusals into a SQLite file, then times the main
pages and API calls through the WSGI app (median and p95 over --runs requests each) and prints a table.

    .venv/bin/python bench/web.py [--attempts 1000000] [--db /tmp/huifang-bench.db] [--runs 20]

An existing --db with enough attempts is reused (generation takes a minute or two).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.output import RUNS, run_dir  # noqa: E402
from bench.stats import percentile  # noqa: E402
from ivr import config  # noqa: E402
from ivr.db.connect import connect  # noqa: E402
from ivr.web import create_app  # noqa: E402
from ivr.web.admin import new_token  # noqa: E402
from tests.support.web_app import PASSWORD, Client, add_users  # noqa: E402

DAYS = 30


def generate(db, attempts: int) -> None:
    borrowers = max(1, attempts // 10)
    t0 = time.monotonic()
    with db.conn:
        db.execute("BEGIN")
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO borrowers (id, loan_id, name, id_last4, amount_due, due_date, locale, timezone, created_at, updated_at)
            SELECT i, 'BL' || printf('%08d', i), '客户' || i, printf('%04d', i % 10000), 1000 + (i % 50) * 100,
                   date('2026-11-01', '+' || (i % 40) || ' days'), 'zh-CN', 'Asia/Shanghai',
                   '2026-10-01T00:00:00.000+00:00', '2026-10-01T00:00:00.000+00:00' FROM n""", [borrowers])
        db.execute("""INSERT INTO contacts (id, borrower_id, phone, kind, status, created_at)
                      SELECT id, id, '139' || printf('%08d', id), 'mobile', 'ok', created_at FROM borrowers""")
        db.execute("""INSERT INTO campaigns (id, name, state, selection, created_at, updated_at, started_at)
                      VALUES (1, '基准任务', 'running', '{"all": true}', '2026-10-31T00:00:00.000+00:00',
                              '2026-10-31T00:00:00.000+00:00', '2026-10-31T00:00:00.000+00:00')""")
        db.execute("""INSERT INTO campaign_targets (campaign_id, borrower_id, status, next_at, attempts, updated_at)
                      SELECT 1, id, CASE WHEN id % 3 = 0 THEN 'done' ELSE 'pending' END, '2026-11-01', 10, '2026-11-01'
                      FROM borrowers""")
        # attempts spread over DAYS days, 08:00-21:00 Beijing time; ~35% answered
        db.execute(f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO attempts (id, borrower_id, contact_id, campaign_id, number, locale, state, outcome, disposition,
                                  cause, created_at, answered_at, ended_at)
            SELECT 'att-' || i, 1 + i % {borrowers}, 1 + i % {borrowers}, 1, '139' || printf('%08d', 1 + i % {borrowers}),
                   'zh-CN', CASE WHEN i % 50000 = 0 THEN 'in_dialog' ELSE 'ended' END,
                   CASE i % 20 WHEN 0 THEN 'answered' WHEN 1 THEN 'answered' WHEN 2 THEN 'answered'
                               WHEN 3 THEN 'answered' WHEN 4 THEN 'answered' WHEN 5 THEN 'answered'
                               WHEN 6 THEN 'answered' WHEN 7 THEN 'busy' WHEN 8 THEN 'rejected'
                               WHEN 9 THEN 'invalid-number' ELSE 'no-answer' END,
                   CASE i % 20 WHEN 0 THEN 'answered-transferred' WHEN 1 THEN 'answered-completed'
                               WHEN 2 THEN 'answered-completed' WHEN 3 THEN 'answered-completed'
                               WHEN 4 THEN 'answered-wrong-person' WHEN 5 THEN 'answered-hung-up-early'
                               WHEN 6 THEN 'answered-completed' WHEN 7 THEN 'busy' WHEN 8 THEN 'rejected'
                               WHEN 9 THEN 'invalid-number' ELSE 'no-answer' END,
                   CASE WHEN i % 20 < 7 THEN 16 WHEN i % 20 = 7 THEN 17 ELSE 19 END,
                   strftime('%Y-%m-%dT%H:%M:%S.000+00:00', '2026-11-01', '+' || (i % {DAYS}) || ' days',
                            '+' || (i % 13) || ' hours', '+' || (i % 3600) || ' seconds'),
                   CASE WHEN i % 20 < 7 THEN strftime('%Y-%m-%dT%H:%M:%S.000+00:00', '2026-11-01', '+' || (i % {DAYS}) || ' days',
                            '+' || (i % 13) || ' hours', '+' || (i % 3600 + 5) || ' seconds') END,
                   strftime('%Y-%m-%dT%H:%M:%S.000+00:00', '2026-11-01', '+' || (i % {DAYS}) || ' days',
                            '+' || (i % 13) || ' hours', '+' || (i % 3600 + 60) || ' seconds')
            FROM n""", [attempts])
        db.execute("""INSERT INTO dialogs (attempt_id, started_at, ended_at, result, last_node, played)
                      SELECT id, answered_at, ended_at,
                             CASE disposition WHEN 'answered-transferred' THEN 'transferred'
                                  WHEN 'answered-wrong-person' THEN 'wrong_person' WHEN 'answered-hung-up-early' THEN 'hung_up'
                                  ELSE 'promise' END, 'closing',
                             '[{"node": "greeting", "prompt": "greeting", "text": "您好，这里是回访中心", "at": "' || answered_at || '"}]'
                      FROM attempts WHERE outcome = 'answered'""")
        db.execute("""INSERT INTO answers (attempt_id, seq, step, node, via, digits, intent, result_at)
                      SELECT id, 1, 'identity', 'identity', 'keypad', '1',
                             CASE disposition WHEN 'answered-wrong-person' THEN 'deny' ELSE 'confirm' END, answered_at
                      FROM attempts WHERE outcome = 'answered'""")
        db.execute("""INSERT INTO answers (attempt_id, seq, step, node, via, text, intent, result_at)
                      SELECT id, 2, 'plan', 'plan', 'voice', '下周五还三千', 'promise', answered_at
                      FROM attempts WHERE disposition = 'answered-completed'""")
        db.execute("""INSERT INTO promises (attempt_id, borrower_id, promise_date, amount, confirmed, source, created_at)
                      SELECT id, borrower_id, date(created_at, '+7 days'), 3000, 1, 'ivr', ended_at
                      FROM attempts WHERE disposition = 'answered-completed' AND cast(substr(id, 5) AS integer) % 7 = 0""")
        db.execute("""INSERT OR IGNORE INTO payments (borrower_id, paid_amount, paid_at, created_at)
                      SELECT borrower_id, 3000, date(created_at, '+3 days'), created_at FROM promises WHERE id % 2 = 0""")
        db.execute("""INSERT INTO escalations (attempt_id, borrower_id, reason, context, queued_at, agent, answered_at,
                                               outcome, closed_at)
                      SELECT id, borrower_id, 'requested', '{"identity_verified": true, "answers": []}', answered_at,
                             CASE WHEN cast(substr(id, 5) AS integer) % 1000 = 0 THEN NULL ELSE 'agent' END, answered_at,
                             'promise', CASE WHEN cast(substr(id, 5) AS integer) % 1000 = 0 THEN NULL ELSE ended_at END
                      FROM attempts WHERE disposition = 'answered-transferred'""")
        db.execute("""INSERT INTO dial_refusals (at, campaign_id, borrower_id, contact_id, number, reason)
                      SELECT created_at, 1, borrower_id, contact_id, number, 'outside-calling-hours'
                      FROM attempts WHERE cast(substr(id, 5) AS integer) % 10 = 0""")
        db.execute("""INSERT INTO qa_reviews (attempt_id, sampled_reason, sampled_at)
                      SELECT attempt_id, 'escalation', queued_at FROM escalations LIMIT 2000""")
    db.execute("ANALYZE")
    print(f"generated {attempts:,} attempts for {borrowers:,} borrowers in {time.monotonic() - t0:.0f} s", flush=True)


def timed(fn, runs: int) -> tuple[float, float, int]:
    times, status = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        status = fn()
        times.append((time.perf_counter() - t) * 1000)
    return percentile(times, 0.5, ndigits=None), percentile(times, 0.95, ndigits=None), status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attempts", type=int, default=1_000_000)
    ap.add_argument("--db", default=str(RUNS / "web-bench.db"), help="kept between runs (generating takes minutes)")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args(argv)
    work = run_dir("web-bench")
    s = config.load(env={}).replace(db_path=args.db, cache_dir=work, instance="web-bench")
    db = connect(s.database)
    have = db.execute("SELECT count(*) FROM attempts").fetchone()[0]
    if have < args.attempts:
        if have:
            raise SystemExit(f"{args.db} has {have} attempts; remove it to regenerate")
        generate(db, args.attempts)
    app = create_app(s)
    if not list(db.query("SELECT id FROM users WHERE username = 'supervisor'")):
        add_users(app, ["supervisor", "agent", "qa", "auditor"])
    token = new_token(db, "bench", "bench")
    sup = Client(app)
    sup.login("supervisor", PASSWORD)
    aud = Client(app)
    aud.login("auditor", PASSWORD)
    agent = Client(app)
    agent.login("agent", PASSWORD)
    qa = Client(app)
    qa.login("qa", PASSWORD)
    api = app.test_client()
    h = {"Authorization": f"Bearer {token}"}
    mid = list(db.query("SELECT id, borrower_id FROM attempts WHERE outcome = 'answered' LIMIT 1 OFFSET 1000"))[0]
    loan = list(db.query("SELECT loan_id FROM borrowers WHERE id = ?", [mid["borrower_id"]]))[0]["loan_id"]
    cursor = api.get("/api/v1/results?limit=1000", headers=h).get_json()["next"]
    cases = [
        ("dashboard", lambda: sup.get("/").status_code),
        ("calls list", lambda: sup.get("/calls").status_code),
        ("call detail", lambda: sup.get(f"/calls/{mid['id']}").status_code),
        ("campaigns", lambda: sup.get("/campaigns").status_code),
        ("campaign detail", lambda: sup.get("/campaigns/1").status_code),
        ("campaign progress.json", lambda: sup.get("/campaigns/1/progress.json").status_code),
        ("monitor live.json", lambda: sup.get("/monitor/live.json").status_code),
        ("borrower search (loan id)", lambda: sup.get(f"/borrowers?q={loan}").status_code),
        ("borrower record", lambda: sup.get(f"/borrowers/{mid['borrower_id']}").status_code),
        ("agent desk", lambda: agent.get("/agent").status_code),
        ("qa queue", lambda: qa.get("/qa").status_code),
        ("reports, 7 days", lambda: sup.get("/reports?since=2026-11-24&until=2026-11-30").status_code),
        ("reports, 30 days", lambda: sup.get("/reports?since=2026-11-01&until=2026-11-30").status_code),
        ("compliance, one borrower", lambda: aud.get(f"/compliance?loan_id={loan}").status_code),
        ("compliance, one day", lambda: aud.get("/compliance?since=2026-11-15&until=2026-11-15").status_code),
        ("audit log", lambda: aud.get("/audit").status_code),
        ("API results page (100)", lambda: api.get(f"/api/v1/results?limit=100&after={cursor}", headers=h).status_code),
        ("API borrower status", lambda: api.get(f"/api/v1/borrowers/{loan}", headers=h).status_code),
    ]
    n = db.execute("SELECT count(*) FROM attempts").fetchone()[0]
    print(f"\n{n:,} attempts in {args.db}; {args.runs} requests each (WSGI, in-process)\n")
    print(f"{'page / call':<28} {'median ms':>10} {'p95 ms':>10} {'status':>7}")
    for name, fn in cases:
        runs = max(3, args.runs // 4) if name.startswith(("reports, 30", "compliance, one day")) else args.runs
        med, p95, status = timed(fn, runs)
        print(f"{name:<28} {med:>10.1f} {p95:>10.1f} {status:>7}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
