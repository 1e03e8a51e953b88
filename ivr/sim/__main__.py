"""python -m ivr.sim borrower|agent|caller ...  (see ivr/sim/pool.py for the Python API)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ivr import config, tts


def _pool_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--log", required=True, help="call log file (JSON lines, appended)")
    ap.add_argument("--record-dir", required=True, help="one WAV per call of what the phone heard")
    ap.add_argument("--workers", type=int, default=None, help="phone processes (3 calls each)")
    ap.add_argument("--port", type=int, default=None, help="SIP port on 127.0.0.1 (default from settings)")
    ap.add_argument("--rtp-slot", type=int, default=None,
                    help="first 100-port RTP block (from sim_rtp_base) used by worker 0")
    ap.add_argument("--rtp-base", type=int, default=None, help="absolute first RTP port (overrides --rtp-slot)")
    ap.add_argument("--tts-cache", default=None, help="where spoken phrases are cached")
    ap.add_argument("--verbose", action="store_true", help="show the phones' pjsip output")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        from ivr.sim.phone import worker_main
        return worker_main(argv[1:])
    if argv and argv[0] == "caller":
        from ivr.sim.caller import caller_main
        return caller_main(argv[1:])

    ap = argparse.ArgumentParser(prog="python -m ivr.sim")
    sub = ap.add_subparsers(dest="kind", required=True)
    b = sub.add_parser("borrower", help="the carrier trunk with simulated borrowers behind it")
    b.add_argument("--personas", required=True, help="persona JSON file")
    _pool_args(b)
    a = sub.add_parser("agent", help="the agents' phones (agent1..agentN)")
    _pool_args(a)
    a.add_argument("--answer-after-ms", type=int, default=500)
    a.add_argument("--say", default="", help="what the agent says after answering")
    a.add_argument("--locale", default="zh-CN")
    a.add_argument("--hangup-after-ms", type=int, default=None)
    a.add_argument("--accounts", default=None,
                   help="JSON file of agent accounts to REGISTER to Asterisk (name, username, password)")
    sub.add_parser("caller", help="test caller (python -m ivr.sim caller --help)")
    args = ap.parse_args(argv)

    from ivr.sim.dispatcher import run_pool
    from ivr.sim.personas import load_personas

    settings = config.load()
    tts_cache = Path(args.tts_cache) if args.tts_cache else Path(settings.cache_dir) / "tts"
    if args.kind == "borrower":
        personas = load_personas(args.personas)  # fail early, with the file/number/field
        for p in personas.values():  # synthesize now, never in the middle of a call
            for text, locale in p.phrases():
                tts.cached(text, locale, tts_cache)
        port = args.port or settings.trunk_port_effective
        workers = args.workers or 3
        slot = 0 if args.rtp_slot is None else args.rtp_slot
        extra = ["--personas", str(Path(args.personas).resolve())]
    else:
        if args.say:
            tts.cached(args.say, args.locale, tts_cache)
        port = args.port or settings.agent_port
        workers = args.workers or 1
        slot = 8 if args.rtp_slot is None else args.rtp_slot
        extra = ["--answer-after-ms", str(args.answer_after_ms), "--say", args.say, "--locale", args.locale]
        if args.hangup_after_ms:
            extra += ["--hangup-after-ms", str(args.hangup_after_ms)]
        if args.accounts:
            from ivr.sim.phone import MAX_ACCOUNTS_PER_PHONE, registered_accounts
            n = len(registered_accounts(args.accounts)["accounts"])   # fail early on a bad file
            workers = max(workers, -(-n // MAX_ACCOUNTS_PER_PHONE))
            extra += ["--accounts", str(Path(args.accounts).resolve())]
    Path(args.record_dir).mkdir(parents=True, exist_ok=True)
    return run_pool(args.kind, port, workers, Path(args.log).resolve(), Path(args.record_dir).resolve(),
                    args.rtp_base or settings.sim_rtp_base + 100 * slot, tts_cache, extra, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
