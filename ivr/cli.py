"""`ivr`: the command line of Huifang. Each subcommand is a thin shell over one module."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys

from . import config, logsetup, redact


def _settings(args) -> config.Settings:
    return config.load(config_file=getattr(args, "config", None))


# ---- asterisk ---------------------------------------------------------------------------------
def cmd_asterisk(args) -> int:
    from .asterisk import process, render, rootfs
    s = _settings(args)
    if args.action == "install":
        if args.adopt:
            rootfs.adopt(s)
        else:
            rootfs.install(s, force=args.force)
        print(f"Asterisk ready at {s.rootfs}: {rootfs.asterisk_version(s)}")
    elif args.action == "start":
        pid = process.start(s)
        print(f"asterisk running (pid {pid}); AMI {s.ami_host}:{s.ami_port_effective}, SIP {s.bind}:{s.sip_port}")
    elif args.action == "stop":
        print("stopped" if process.stop(s) else "not running")
    elif args.action == "status":
        info = process.status(s)
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0 if info["running"] else 3
    elif args.action == "cli":
        print(process.cli(s, " ".join(args.command) or "core show uptime"), end="")
    elif args.action == "dialplan":
        # for an existing Asterisk: what to add, with this install's values (ivr/asterisk/guide.py)
        from .asterisk import guide
        if args.output:
            with open(args.output, "w") as fh:
                fh.write(render.render_dialplan(s))
            print(f"; wrote the dialplan to {args.output}")
        print(guide.guide(s, dialplan_file=args.output), end="")
    elif args.action == "check":
        from .asterisk import check_ami as check
        text, status = check.check(s)
        print(text)
        return status
    return 0


def cmd_prompts(args) -> int:
    from .dialog import prompts
    written = prompts.build(_settings(args), force=args.force)
    print(f"{len(written)} prompt file(s) generated")
    return 0


def cmd_dialog(args) -> int:
    if args.worker is None:   # the supervisor: loads nothing, starts the workers
        from .dialog.workers import serve
        asyncio.run(serve(_settings(args)))
        return 0
    if args.supervisor is None:
        raise SystemExit("error: --worker is started by `ivr dialog serve` itself, with --supervisor")
    from .dialog.workers import die_with
    die_with(args.supervisor)   # first: loading the dialog server takes seconds
    from .dialog.server import serve_worker
    asyncio.run(serve_worker(_settings(args), args.worker))
    return 0


def cmd_flow(args) -> int:
    from .dialog.flow import FlowError, load
    s = _settings(args)
    path = args.file or str(s.flows_dir / "followup.yaml")
    try:
        flow = load(path, s.prompts_dir)
    except FlowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    print(f"{path}: ok ({len(flow.nodes)} nodes, start {flow.start})")
    return 0


def cmd_nlu(args) -> int:
    from .dialog.intents import understand
    today = dt.date.fromisoformat(args.today) if args.today else None
    print(json.dumps(understand(" ".join(args.text), locale=args.locale, step=args.step, today=today),
                     ensure_ascii=False))
    return 0


def cmd_asr(args) -> int:
    """Recognize one WAV file as an answer to ``--step`` and decide on it exactly as a live call does."""
    from . import tts
    from .dialog.decision import decide
    from .dialog.speech import SpeechEngine, recognize_pcm
    s = _settings(args)
    engine = SpeechEngine(s)
    try:
        pcm = tts.read_pcm(args.file)
        rec = recognize_pcm(engine, args.locale, args.step, pcm)
    finally:
        engine.close()
    today = dt.date.fromisoformat(args.today) if args.today else None
    decision = decide(rec, locale=args.locale, step=args.step, today=today)
    result = dict(decision.meaning)
    result["text"] = rec.text
    result["confidence"] = rec.confidence
    result["decision"] = decision.kind
    result["hypothesis"] = decision.hypothesis
    result["posterior"] = decision.posterior
    result["word_conf"] = decision.word_conf
    result["reasons"] = decision.reasons
    result["nbest"] = decision.nbest
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_call(args) -> int:
    from .oneshot import CallRefused, call_once
    s = _settings(args)
    try:
        row = asyncio.run(call_once(s, number=args.number, locale=args.locale, name=args.name,
                                    id_last4=args.id_last4, amount=args.amount, due_date=args.due_date,
                                    timeout=args.timeout))
    except CallRefused as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(row, indent=2, ensure_ascii=False, default=str))
    return 0 if row.get("state") == "ended" else 1


def cmd_demo(args) -> int:
    from .demo import run_demo
    from .multinode import MAX_NODES
    if not 1 <= args.nodes <= MAX_NODES:
        raise SystemExit(f"ivr demo: --nodes is between 1 and {MAX_NODES}, not {args.nodes}")
    return run_demo(_settings(args), personas=args.personas, out=args.out, keep=args.keep, serve=not args.no_serve,
                    nodes=args.nodes, postgres=args.postgres)


def build_parser() -> argparse.ArgumentParser:
    """Every `ivr` command. None of them takes a clock, time shift or "fake now": production always
    runs on the real clock (tests walk this tree to keep it so; see ivr.dialer.clock)."""
    parser = argparse.ArgumentParser(prog="ivr", description="Huifang (回访) automated follow-up calls")
    parser.add_argument("--config", help="TOML settings file (default: $IVR_CONFIG or ./ivr.toml)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("asterisk", help="the managed local Asterisk; `dialplan` and `check` for your own")
    p.add_argument("action", choices=["install", "start", "stop", "status", "cli", "dialplan", "check"])
    p.add_argument("command", nargs="*", help="for `cli`: the CLI command")
    p.add_argument("--force", action="store_true", help="install: rebuild even if up to date")
    p.add_argument("--adopt", action="store_true", help="install: accept a rootfs already in place (Docker)")
    p.add_argument("--output", help="dialplan: write the dialplan itself to this file (the rest is printed)")
    p.set_defaults(fn=cmd_asterisk)

    p = sub.add_parser("prompts", help="generate prompt audio from prompts/<locale>/prompts.yaml")
    p.add_argument("action", choices=["build"])
    p.add_argument("--force", action="store_true")
    p.set_defaults(fn=cmd_prompts)

    p = sub.add_parser("dialog", help="the dialog server (FastAGI + AudioSocket), dialog_workers processes")
    p.add_argument("action", choices=["serve"])
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)       # internal: one worker of the supervisor
    p.add_argument("--supervisor", type=int, help=argparse.SUPPRESS)   # internal: the supervisor's pid
    p.set_defaults(fn=cmd_dialog)

    p = sub.add_parser("flow", help="check a flow file")
    p.add_argument("action", choices=["check"])
    p.add_argument("file", nargs="?")
    p.set_defaults(fn=cmd_flow)

    p = sub.add_parser("nlu", help="understand one utterance")
    p.add_argument("--locale", required=True, choices=["zh-CN", "ko-KR"])
    p.add_argument("--step", required=True, choices=["identity", "plan", "digits", "confirm"])
    p.add_argument("--today", help="YYYY-MM-DD (default: today)")
    p.add_argument("text", nargs="+")
    p.set_defaults(fn=cmd_nlu)

    from .models.cli import add_check_grammar_options, with_check_grammar
    p = sub.add_parser("asr", help="recognize and understand a WAV file (8 kHz mono); "
                                   "`ivr asr check-grammar --locale L`: can the model decode every grammar phrase")
    p.add_argument("--locale", required=True)
    p.add_argument("--step", choices=["identity", "plan", "digits", "confirm"], help="required with FILE")
    p.add_argument("--today")
    p.add_argument("file", metavar="FILE|check-grammar")
    add_check_grammar_options(p)
    p.set_defaults(fn=with_check_grammar(cmd_asr))

    p = sub.add_parser("call", help="place one follow-up call and wait for its outcome")
    p.add_argument("--number", required=True)
    p.add_argument("--locale", default=None)
    p.add_argument("--name", default="测试客户")
    p.add_argument("--id-last4", default="1234")
    p.add_argument("--amount", type=int, default=3500)
    p.add_argument("--due-date", default=None)
    p.add_argument("--timeout", type=float, default=180)
    p.set_defaults(fn=cmd_call)

    p = sub.add_parser("demo", help="a demo campaign against simulated borrowers through a real Asterisk")
    p.add_argument("--personas", help="persona JSON file (default: the built-in one)")
    p.add_argument("--out", help="output directory (default: a fresh one under runs/)")
    p.add_argument("--keep", action="store_true", help="keep Asterisk and the phones running with the dashboard")
    p.add_argument("--no-serve", action="store_true", help="exit after the summary instead of serving the dashboard")
    p.add_argument("--nodes", type=int, default=1,
                   help="telephony nodes (Asterisk + dialog server + controller each) sharing the database")
    p.add_argument("--postgres", action="store_true",
                   help="share a PostgreSQL started in the output directory (Debian's postgresql) instead of SQLite")
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("sim", help="simulated phones: `ivr sim borrower --personas F ...`, `ivr sim agent ...`",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=lambda a: __import__("ivr.sim.__main__", fromlist=["main"]).main(a.rest))

    # each area registers its own commands
    from .agents.cli import register as register_agents
    from .dialer.announcement_cli import register as register_announcements
    from .dialer.cli import register as register_dialer
    from .dialer.node_cli import register as register_nodes
    from .models.cli import register as register_models
    from .ops.cli import register as register_ops
    from .web.cli import register as register_web
    register_agents(sub)
    register_dialer(sub)
    register_nodes(sub)
    register_announcements(sub)
    register_models(sub)
    register_ops(sub)
    register_web(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logsetup.configure(args.verbose)
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error for the operator; details with -v
        if args.verbose:
            raise
        print(f"ivr {args.cmd}: error: {redact.scrub(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
