"""`ivr demo`: a real campaign against simulated borrowers through a real local Asterisk.

Installs what is missing, starts the stack (Asterisk, dialog server, borrower and agent phones),
imports the demo borrowers from a CSV file, creates and starts a campaign that calls each number
once, runs the dialer controller until the campaign is finished, prints a table, writes
<out>/summary.json, and ends with the dashboard running (its URL and the demo logins printed).

The calling-hours policy of the demo campaign sees a time that starts at 10:00 Beijing, so the
demo works at any hour of the day. That shift is passed in-process to the controller here (no
flag, variable or setting of a production command can shift it), and only the policy decision
sees it: every time written to the database, the compliance proof included, is real time.
Real campaigns (`ivr dialer run`) use the real clock and its calling hours.

Any persona file works. Each borrower's locale is the persona's (`Persona.locale`: declared, else
the language it speaks; keypad-only personas keep the built-in borrower table's, else zh-CN). The
demo dials a simulated trunk, so the import takes every persona key as written (digits, a leading
+ dialled as 00) through `simulated_trunk_number` instead of the importer's numbering-plan check,
which every real import keeps. A persona's `expect` block is checked against how its call ended
(ivr/demo_report.py): the demo's exit status is 1 when one did not end as intended.

The demo keeps its own SQLite file in its output directory, even where `database_url` names the
lender's PostgreSQL: its made-up borrowers and calls never reach a real database.

`--nodes N` runs the campaign on N telephony nodes (ivr/multinode.py): N managed Asterisk instances,
each with its dialog server, agent phones and controller, on port blocks of their own, one database;
each call's node is in the table and in summary.json.
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
from .db.migrate import shown
from .db.store import store_of
from .db.writer import AsyncDb
from .demo_report import print_table, summarize
from .dialer.calls import CallPlacer
from .dialer.importer import RowInvalid
from .sim.personas import Persona, dial_string, load_personas
from .stack import Stack, ensure_installed

log = logging.getLogger(__name__)
DATA = Path(__file__).with_name("demo_data")
CONCURRENCY = 6


def demo_due_date() -> str:
    """Demo borrowers are due five days from today."""
    return (dt.date.today() + dt.timedelta(days=5)).isoformat()


def demo_borrower(persona: Persona, table: dict) -> dict:
    """Who the demo says owns the persona's number: the built-in table's borrower when it speaks the
    persona's language, else a made-up one in that language."""
    known = table.get(persona.number)
    locale = persona.locale or (known or {}).get("locale") or "zh-CN"
    if known and known.get("locale", "zh-CN") == locale:
        return {**known, "locale": locale}
    return {"name": "김민수" if locale == "ko-KR" else "张伟", "locale": locale, "id_last4": "1234",
            "amount_due": 350000 if locale == "ko-KR" else 3500}


def simulated_trunk_number(raw, region: str, column: str) -> str:
    """The demo's phone rule for the importer: the simulated trunk answers any persona key, so a
    number is dialled as written (see `dial_string`), whatever country's plan it fits or not."""
    text = "" if raw is None else str(raw).strip()
    try:
        return dial_string(text)
    except ValueError as exc:
        raise RowInvalid(column, str(exc)) from None


async def call_all(settings: Settings, personas: dict, borrowers: dict, *, concurrency: int = CONCURRENCY,
                   run_tag: str = "demo") -> list[dict]:
    """Place one call per persona number, at most `concurrency` at once; return the attempt rows."""
    db = AsyncDb(settings)   # database_url, else the SQLite file
    placer = CallPlacer(settings, db)
    await placer.start()
    gate = asyncio.Semaphore(concurrency)
    due = demo_due_date()

    async def one(number: str) -> dict:
        b = demo_borrower(personas[number], borrowers)
        borrower_id, contact_id = await db.call(lambda d: attempts_db.ensure_borrower(
            d, loan_id=f"{run_tag}-{number}", name=b["name"], id_last4=b.get("id_last4"),
            amount_due=b.get("amount_due"), due_date=b.get("due_date", due), locale=b["locale"], phone=number))
        async with gate:
            attempt_id = await placer.place(number, locale=b["locale"], borrower_id=borrower_id,
                                            contact_id=contact_id)
            row = await placer.wait(attempt_id, timeout=settings.ring_timeout_s + 240)
            if row is None:  # place() wrote it; gone only if someone deleted it meanwhile
                raise RuntimeError(f"attempt {attempt_id} vanished from the database")
        row["answers"] = await db.call(attempts_db.answers, attempt_id)
        row["dialog"] = await db.call(lambda d: store_of(d).get("dialogs", attempt_id))
        return row

    try:
        return await asyncio.gather(*(one(n) for n in personas))
    finally:
        await placer.close()
        db.close()


def write_borrowers_csv(path: Path, personas: dict[str, Persona], table: dict) -> Path:
    """The demo's borrower list as a lender would upload it (numbers as the persona file writes them)."""
    import csv
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["loan_id", "name", "id_last4", "phone", "phone_type", "amount_due", "due_date", "locale"])
        for n, persona in enumerate(personas.values(), 1):
            b = demo_borrower(persona, table)
            out.writerow([f"DEMO-{n:03d}", b["name"], b.get("id_last4", "1234"), persona.written or persona.number,
                          "mobile", b.get("amount_due", 3500), b.get("due_date", demo_due_date()), b["locale"]])
    return path


async def run_campaign(settings: Settings, csv_path: Path, ops=None, nodes: list[Settings] | None = None) -> list[dict]:
    """Import, create and start a one-attempt-per-number campaign, run the controller until it is done.
    `ops`: the demo's dialer /metrics + /healthz endpoint, told the controller's health checks.
    `nodes`: the telephony nodes (one controller each, ivr/multinode.py); default: `settings` alone."""
    from zoneinfo import ZoneInfo

    from .db.connect import open_database
    from .dialer import campaigns, importer
    from .dialer.clock import shift_to
    from .multinode import node_capacity, run_controllers

    db = open_database(settings)
    report = importer.import_file(db, csv_path, phone_rule=simulated_trunk_number)
    if report.rejected:
        raise RuntimeError(f"demo borrowers rejected: {report.as_dict()['errors']}")
    cid = campaigns.create(db, name="演示回访 demo", selection={"batch_id": report.batch_id},
                           max_concurrent=CONCURRENCY, max_cps=2, max_attempts=1, created_by="demo")
    campaigns.run_command_now(db, cid, "start", "demo")
    policy_shift = shift_to(dt.datetime.combine(dt.date.today(), dt.time(10, 0), tzinfo=ZoneInfo("Asia/Shanghai")))
    nodes = nodes or [settings]
    capacity = node_capacity(CONCURRENCY, len(nodes)) if len(nodes) > 1 else 30
    await run_controllers(nodes, policy_shift=policy_shift, max_channels=capacity, tick_s=0.2, ops=ops)
    store = store_of(db)
    rows = store.query("SELECT * FROM attempts WHERE campaign_id = :c ORDER BY number, id", {"c": cid})
    for row in rows:
        row["answers"] = attempts_db.answers(db, row["id"])
        row["dialog"] = store.get("dialogs", row["id"])
    store.close()
    return rows


def with_own_database(settings: Settings, out_dir: Path, database_url: str = "") -> Settings:
    """The demo's settings: its own database — the SQLite file in `out_dir`, or the PostgreSQL the demo
    started there (`database_url`) —, whatever `database_url` said (the stack's child processes get the
    same through `settings.to_env()`)."""
    return settings.replace(db_path=str(out_dir / "huifang.db"), database_url=database_url)


def start_postgres(out_dir: Path):
    """`ivr demo --postgres`: a PostgreSQL cluster of the demo's own in a directory under `out_dir` (127.0.0.1, a
    free port), with one database; -> (cluster, its URL). The cluster is removed when the demo ends."""
    from .db.cluster import LIKE_SQLITE_WAL, PostgresCluster
    cluster = PostgresCluster.start(out_dir, settings=LIKE_SQLITE_WAL)
    try:
        return cluster, cluster.url(cluster.create_database("demo_"))
    except BaseException:
        cluster.stop()
        raise


def run_demo(settings: Settings, *, personas: str | None = None, out: str | None = None, keep: bool = False,
             serve: bool = True, nodes: int = 1, postgres: bool = False) -> int:
    from .multinode import spread
    if settings.instance == "default":
        settings = settings.replace(instance="demo")
    spread(settings, nodes)  # an impossible layout of nodes is refused before anything is installed
    personas_path = Path(personas) if personas else DATA / "personas.json"
    table = {k: v for k, v in json.loads((DATA / "borrowers.json").read_text()).items() if not k.startswith("_")}
    out_dir = Path(out) if out else REPO_ROOT / "runs" / time.strftime("demo-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    parsed = load_personas(personas_path)  # bad persona files fail here, with file and field
    print(f"Huifang demo: {len(parsed)} simulated borrowers, output in {out_dir}")
    print("installing what is missing (Asterisk rootfs, prompt audio)...", flush=True)
    ensure_installed(settings)
    if not postgres:
        return _demo_on(with_own_database(settings, out_dir), out_dir, nodes, personas_path, parsed, table,
                        keep=keep, serve=serve)
    pg_cluster, pg_url = start_postgres(out_dir)
    print(f"PostgreSQL up on 127.0.0.1:{pg_cluster.port} ({pg_cluster.root})", flush=True)
    try:
        return _demo_on(with_own_database(settings, out_dir, pg_url), out_dir, nodes, personas_path, parsed, table,
                        keep=keep, serve=serve)
    finally:
        pg_cluster.stop()


def _demo_on(settings: Settings, out_dir: Path, nodes: int, personas_path: Path, parsed: dict, table: dict, *,
             keep: bool, serve: bool) -> int:
    """The demo on its database (`with_own_database`): the stack, the campaign, the summary."""
    from .multinode import NodeStacks, spread
    node_settings = spread(settings, nodes) if nodes > 1 else [settings]
    settings = node_settings[0]
    stack = NodeStacks(node_settings, out_dir, personas_path) if nodes > 1 else Stack(settings, out_dir, personas_path)
    started = time.monotonic()
    stack.start()
    print(f"stack up in {time.monotonic() - started:.1f} s", flush=True)
    for s in node_settings:
        print(f"  node {s.node}: Asterisk SIP {s.bind}:{s.sip_port}, AMI {s.ami_port_effective}, "
              f"dialog AGI {s.agi_port} / AudioSocket "
              f"{', '.join(str(s.worker_audiosocket_port(i)) for i in range(s.dialog_workers_effective))}", flush=True)
    stop_dashboard = None
    ops = None
    try:
        from . import health
        # the demo process is the dialer: its figures stay up until the demo ends; the dialog
        # server's workers (child processes) serve their own while the stack runs
        ops = health.serve("dialer", settings, health.dialer_checks(settings, None))
        for s in node_settings:
            for i in range(s.dialog_workers_effective):
                dialog_ops = f"http://{s.bind}:{s.worker_metrics_port(i)}"
                print(f"dialog{'' if nodes == 1 else ' ' + s.node} worker {i}: metrics {dialog_ops}/metrics, "
                      f"health {dialog_ops}/healthz", flush=True)
        if serve:  # up before the calls, so the live monitor shows them
            from .web.demo import serve_dashboard
            url, logins, stop_dashboard = serve_dashboard(settings, settings.database)
            print(f"dashboard (live monitor during the calls): {url}", flush=True)
        csv_path = write_borrowers_csv(out_dir / "borrowers.csv", parsed, table)
        print(f"campaign: importing {csv_path.name} and calling every borrower once...", flush=True)
        rows = asyncio.run(run_campaign(settings, csv_path, ops, nodes=node_settings))
        summary = summarize(rows, parsed)
        summary["database"] = shown(settings.database_url) if settings.database_url else str(settings.database)
        summary["phones_log"] = str(stack.calls_log)
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        print()
        print_table(summary)
        print(f"\nsummary: {out_dir / 'summary.json'}   database: {summary['database']}")
        if not keep:
            stack.stop()
        if serve:
            print(f"\ndashboard: {url}")
            print(f"dialer metrics (this run's figures): {ops.url}/metrics")
            for user, password in logins.items():
                print(f"  {user:<11} {password}")
            print("Ctrl-C to stop.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        if stop_dashboard:
            stop_dashboard()
        if ops is not None:
            ops.stop()
        stack.stop()
    return 0 if summary["as_intended"] == summary["checked"] else 1
