"""The dialer's subcommands: `ivr import`, `ivr campaign ...`, `ivr dialer run`, `ivr notify run`,
`ivr risk`. Wired into `ivr.cli` by `register(subparsers)`.

Each command opens its database with `open_database(settings)`, so `database_url` (PostgreSQL)
switches them as it does every other process.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import config, health

if TYPE_CHECKING:
    from ..db.connect import Database
    from ..db.store import Store
    from ..metrics_http import Check, OpsEndpoint


def _settings(args: argparse.Namespace) -> config.Settings:
    return config.load(config_file=getattr(args, "config", None))


def _db(args: argparse.Namespace) -> Database | Store:
    from ..db.connect import open_database
    return open_database(_settings(args))


def _print(obj: object) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def cmd_import(args: argparse.Namespace) -> int:
    from . import importer
    db = _db(args)
    fn = importer.import_payments if args.payments else importer.import_file
    report = fn(db, args.file)
    if args.json:
        _print(report.as_dict())
    else:
        print(importer.format_report(report))
    return 0 if report.rejected == 0 else 2


def _json_option(option: str, text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{option}: not valid JSON ({exc})") from None


def cmd_campaign(args: argparse.Namespace) -> int:
    from . import campaigns, limits
    db = _db(args)
    who = args.by or f"cli:{getpass.getuser()}"
    if args.action == "create":
        retry_policy = _json_option("--retry-policy", args.retry_policy)
        policy = _json_option("--policy", args.policy)
        # the same limits as every other entry point; tell the operator what was clamped
        _, notes = limits.campaign_settings(max_concurrent=args.max_concurrent, max_cps=args.max_cps,
                                            max_attempts=args.max_attempts, retry_policy=retry_policy, policy=policy)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        selection: dict[str, Any] = {}
        if args.all:
            selection["all"] = True
        if args.batch is not None:
            selection["batch_id"] = args.batch
        if args.loans:
            selection["loan_ids"] = [x for x in args.loans.split(",") if x]
        if args.due_from:
            selection["due_from"] = args.due_from
        if args.due_to:
            selection["due_to"] = args.due_to
        cid = campaigns.create(
            db, name=args.name, selection=selection, flow=args.flow, locale_default=args.locale,
            schedule_start=args.start, schedule_end=args.end, max_concurrent=args.max_concurrent,
            max_cps=args.max_cps, max_attempts=args.max_attempts,
            retry_policy=retry_policy, policy=policy,
            fallback={"channel": args.fallback} if args.fallback else None, created_by=who,
            caller_id=args.caller_id or "", caller_id_pool=args.caller_id_pool)
        print(cid)
        return 0
    if args.action == "status":
        _print(campaigns.status(db, args.id))
        return 0
    from .holidays import HolidayCalendar
    calendar = HolidayCalendar(_settings(args).holiday_file or None)   # the dialer's calendar, for start/resume
    state = campaigns.run_command_now(db, args.id, args.action, who, calendar=calendar)
    print(f"campaign {args.id}: {state}")
    return 0


def cmd_dialer(args: argparse.Namespace) -> int:
    from ..notify.config import load_notifier
    from . import limits
    from .controller import Controller
    s = _settings(args)
    max_channels, note = limits.number("max_channels", args.max_channels, limits.MAX_CHANNELS)
    if note:
        print(f"note: {note}", file=sys.stderr)
    # the real clock, always: production offers no way to shift it (see ivr.dialer.clock)
    ctl = Controller(s, max_channels=int(max_channels), tick_s=args.tick, lender=s.lender_name)
    ops = _serve_ops("dialer", s, lambda: health.dialer_checks(s, ctl))
    if ops is None:
        return 2
    if args.notify_config:
        from ..db.connect import open_database
        ctl.notifier = load_notifier(open_database(s), args.notify_config)
    print(f"dialer starting: db {_where(s)}, AMI {s.ami_host}:{s.ami_port_effective}, instance {s.instance}", flush=True)
    try:
        asyncio.run(ctl.run(once=args.once, until_idle=args.until_idle))
    finally:
        ops.stop()
    _print(ctl.stats.__dict__ | {"originate_times": len(ctl.stats.originate_times)})
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    import time
    from ..db.connect import open_database
    from ..notify.config import load_notifier
    s = _settings(args)
    notifier = load_notifier(open_database(s), args.notify_config)
    if notifier is None:   # an empty --notify-config
        print("error: --notify-config must name the TOML file of the message senders", file=sys.stderr)
        return 2
    if args.once:
        print(f"{notifier.run_once()} message(s) tried")
        return 0
    heartbeat = health.Heartbeat(max_age_s=max(60.0, 3 * args.interval))
    if _serve_ops("notifier", s, lambda: health.notifier_checks(s, heartbeat)) is None:
        return 2
    while True:
        notifier.run_once()
        heartbeat.beat()
        time.sleep(args.interval)


def _where(settings: config.Settings) -> str:
    """The database as an operator may see it: the SQLite file, or the PostgreSQL URL without its password."""
    if not settings.database_url:
        return str(settings.database)
    from ..db.migrate import shown
    return shown(settings.database_url_effective)


def _serve_ops(process: str, settings: config.Settings,
               checks: Callable[[], dict[str, Check]]) -> OpsEndpoint | None:
    """The process's /metrics + /healthz endpoint, or None after saying why it cannot listen."""
    try:
        return health.serve(process, settings, checks())
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def cmd_risk(args: argparse.Namespace) -> int:
    from . import risk
    db = _db(args)
    today = dt.date.fromisoformat(args.today) if args.today else None
    if args.loan:
        from ..db.store import store_of
        borrower_id = store_of(db).scalar("SELECT id FROM borrowers WHERE loan_id = :loan", {"loan": args.loan})
        if borrower_id is None:
            print(f"no borrower with loan id {args.loan}", file=sys.stderr)
            return 1
        _print(risk.assess(db, borrower_id, today).as_dict())
        return 0
    for r in risk.assess_all(db, today):
        if r.level != "low" or args.all:
            reasons = "; ".join(f"{x.flag}: {x.detail}" for x in r.reasons)
            print(f"{r.borrower_id}\t{r.level}\t{r.score}\t{reasons}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("import", help="import borrowers (CSV/XLSX) or, with --payments, payments")
    p.add_argument("file")
    p.add_argument("--payments", action="store_true", help="the file holds payments (loan_id, paid_amount, paid_at)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("campaign", help="create and control campaigns")
    p.add_argument("action", choices=["create", "start", "pause", "resume", "stop", "status"])
    p.add_argument("id", nargs="?", type=int, help="campaign id (all actions but create)")
    p.add_argument("--by", help="who asks (recorded in commands.requested_by)")
    p.add_argument("--name", default="campaign")
    p.add_argument("--all", action="store_true", help="select every borrower")
    p.add_argument("--batch", type=int, help="select the borrowers of this import batch")
    p.add_argument("--loans", help="select these loan ids (comma-separated)")
    p.add_argument("--due-from", help="select borrowers due on or after YYYY-MM-DD")
    p.add_argument("--due-to", help="select borrowers due on or before YYYY-MM-DD")
    p.add_argument("--flow", default="followup")
    p.add_argument("--locale", default="zh-CN", help="default locale (a borrower's own locale wins)")
    p.add_argument("--start", help="schedule start (ISO timestamp)")
    p.add_argument("--end", help="schedule end (ISO timestamp)")
    p.add_argument("--max-concurrent", default=4, help="calls at once (1-200)")
    p.add_argument("--max-cps", default=1.0, help="new calls per second (0.01-50)")
    p.add_argument("--max-attempts", default=6, help="attempts per borrower (1-30)")
    p.add_argument("--retry-policy", help='JSON overrides, e.g. \'{"busy": {"delay_s": 300}}\'')
    p.add_argument("--policy", help='JSON overrides, e.g. \'{"window_end": "20:00", "skip_holidays": true}\'; '
                   'hard limits: 08:00-22:00, max_connected_per_borrower_day <= 3, max_unanswered_per_number_day <= 6')
    p.add_argument("--fallback", choices=["sms", "wechat"], help="message channel for unreachable borrowers")
    p.add_argument("--caller-id", help="the number borrowers see (default: the default_caller_id setting)")
    p.add_argument("--caller-id-pool", help="local caller IDs by the borrower's province, e.g. "
                                            "'广东: 02011112222, 075533334444; 江苏: 02511110000'")
    p.set_defaults(fn=cmd_campaign)

    p = sub.add_parser("dialer", help="the dialer controller")
    p.add_argument("action", choices=["run"])
    p.add_argument("--once", action="store_true", help="one scheduling tick, wait for its calls, exit")
    p.add_argument("--until-idle", action="store_true", help="exit when no campaign is running or paused")
    p.add_argument("--max-channels", default=30, help="calls at once over all campaigns (1-500)")
    p.add_argument("--tick", type=float, default=0.2, help="seconds between scheduling ticks")
    p.add_argument("--notify-config", help="TOML file of the message senders (see ivr.notify.config)")
    p.set_defaults(fn=cmd_dialer)

    p = sub.add_parser("notify", help="send queued fallback messages")
    p.add_argument("action", choices=["run"])
    p.add_argument("--notify-config", required=True)
    p.add_argument("--once", action="store_true")
    p.add_argument("--interval", type=float, default=5.0)
    p.set_defaults(fn=cmd_notify)

    p = sub.add_parser("risk", help="borrower risk levels with their reasons")
    p.add_argument("--loan", help="one borrower, as JSON")
    p.add_argument("--all", action="store_true", help="list low-risk borrowers too")
    p.add_argument("--today", help="YYYY-MM-DD (default: today)")
    p.set_defaults(fn=cmd_risk)
