"""What each part of a follow-up call costs Asterisk: CPU milliseconds per call-second.

At 100 calls Asterisk took a whole core (issue 13). This bench runs the capacity bench's calls
(bench/capacity.py: SIPp borrowers on the trunk port, our dialog server, the controller's
Originate) a few times at one modest concurrency, each time with one part of the call path
switched off, and divides Asterisk's CPU time (/proc/<pid>/stat, user + system, over the step) by
the call-seconds of the step (Originate sent to call ended, from the attempts rows):

  full           today's path: Originate Local/<attempt>@huifang-dial/n (the dial wrapper: trunk
                 failover, channel limits, early-media announcements, DIALSTATUS); once answered
                 the borrower's channel runs huifang-call (MixMonitor, FastAGI, AudioSocket) and
                 the Local pair hangs up (until 2026-12-04 the Local pair stayed bridged in the
                 media path: 35-42 % of Asterisk's CPU per call)
  no-local       the Originate goes straight to the trunk (PJSIP/<number>@<trunk>) into huifang-call:
                 no Local channel pair, none of the wrapper's outcome detection either
  no-mixmonitor  the wrapper, and huifang-call without its MixMonitor (a bench-only copy of the
                 context, made from the rendered one minus that line)
  bare           neither

The ulaw <-> slin translation that app_audiosocket needs (it sets the channel to 8 kHz slin, the
only format the dialplan application speaks; res_audiosocket's slin16..192 serve chan_audiosocket)
cannot be switched off while the dialog runs; Asterisk's own measure of it, `core show translation`
(microseconds per second of audio), is saved beside the figures.

Variants run in turn, `--repeat` rounds, so a neighbour's burst of load spreads over all of them.
Prints one line per step and writes JSON under runs/ only.

    flock /tmp/huifang-stack.lock .venv/bin/python -m bench.asterisk_cost --calls 40 --repeat 2
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from bench import capacity
from bench.output import run_dir
from ivr import config
from ivr.asterisk import process as asterisk
from ivr.asterisk.render import render_dialplan
from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.stack import DialogProcess, ensure_installed

log = logging.getLogger(__name__)

VARIANTS = {   # name -> (straight to the trunk?, with MixMonitor?)
    "full": (False, True),
    "no-local": (True, True),
    "no-mixmonitor": (False, False),
    "bare": (True, False),
}
NOMIX_CONTEXT = "huifang-call-bench-nomix"
MIXMONITOR_LINE = re.compile(r"^ same => n,MixMonitor\(\$\{IVR_RECORDING\}\)\n", re.M)


class ContextMissing(RuntimeError):
    pass


def nomix_context(dialplan: str) -> str:
    """The rendered [huifang-call] context under another name, without its MixMonitor line."""
    m = re.search(r"^\[huifang-call\]\n(.*?)(?=^\[)", dialplan, re.M | re.S)
    if not m:
        raise ContextMissing("no [huifang-call] context in the rendered dialplan")
    body, removed = MIXMONITOR_LINE.subn("", m.group(1))
    if removed != 1:
        raise ContextMissing(f"expected one MixMonitor line in [huifang-call], found {removed}")
    return f"\n; bench/asterisk_cost.py only: [huifang-call] without MixMonitor\n[{NOMIX_CONTEXT}]\n{body}"


def straight_to_trunk(action: dict) -> dict:
    """The Originate on the first trunk's dial string itself (what the wrapper would Dial first)."""
    variables = dict(v.split("=", 1) for v in action["Variable"])
    dial = variables.get("IVR_DIAL1")
    if not dial:
        raise ContextMissing("the controller's Originate carries no IVR_DIAL1")
    return {**action, "Channel": dial}


class CostBench(capacity.Bench):
    def originate(self, mode: str, action: dict) -> dict:
        direct, mixmonitor = VARIANTS[mode]
        context = "huifang-call" if mixmonitor else NOMIX_CONTEXT
        if direct:   # the trunk channel is the originated one: it runs the call context itself
            return straight_to_trunk({**action, "Context": context})
        return capacity.answered_call_in(action, context)

    def pcap_for(self, mode: str):
        return self.pcaps["ours"]


def call_seconds(settings: config.Settings, seen: set[str]) -> tuple[float, int, set[str]]:
    """Sum of originated -> ended of the attempts not in `seen` (the controller writes no answered_at
    for a call whose channel came Up before the dialog's stage event), their count, their ids."""
    db = open_database(settings)
    try:
        rows = list(store_of(db).query("SELECT id, originated_at, ended_at, outcome FROM attempts"))
    finally:
        store_of(db).close()
    total, count, ids = 0.0, 0, set()
    for row in rows:
        if row["id"] in seen:
            continue
        ids.add(row["id"])
        if row["outcome"] == "answered" and row["originated_at"] and row["ended_at"]:
            total += (dt.datetime.fromisoformat(row["ended_at"]) - dt.datetime.fromisoformat(row["originated_at"])
                      ).total_seconds()
            count += 1
    return total, count, ids


def idle_cpu(pid: int, seconds: float) -> float:
    """Asterisk's CPU ms per wall second with no call up."""
    a = capacity.proc_sample(pid)
    time.sleep(seconds)
    b = capacity.proc_sample(pid)
    return 1000 * (b[0] - a[0]) / capacity.CLK_TCK / seconds if a and b else float("nan")


def load_average() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


async def run(args, settings: config.Settings, out: Path, pids: dict[str, int], pcaps) -> list[dict]:
    bench = CostBench(settings, out, args.rate, pcaps)
    seen: set[str] = set()
    steps = []
    for round_no in range(1, args.repeat + 1):
        for variant in args.variants:
            load_before = load_average()
            step = await bench.run_step(variant, args.calls, pids)
            call_s, answered, ids = call_seconds(settings, seen)
            seen |= ids
            cpu_s = step["cpu_s"].get("asterisk", 0.0)
            step.update(variant=variant, round=round_no, load_before=load_before, load_after=load_average(),
                        answered=answered, call_seconds=round(call_s, 1),
                        asterisk_ms_per_call_s=round(1000 * cpu_s / call_s, 2) if call_s else None)
            steps.append(step)
            print(f"{variant:<14} round {round_no}  calls {args.calls}  ok {step['completed']:>3}  "
                  f"failed {step['failed']:>2}  answered {answered:>3}  call-s {call_s:7.1f}  "
                  f"asterisk CPU {cpu_s:6.2f} s = {step['asterisk_ms_per_call_s']} ms per call-second  "
                  f"(dialog {step['cpu_s'].get('dialog')} s, sipp {step['cpu_s'].get('sipp')} s)  "
                  f"load {load_before} -> {step['load_after']}", flush=True)
            for p in step["problems"][:3]:
                print(f"    {p['attempt']}: {'; '.join(p['problems'])}")
            (out / "asterisk_cost.json").write_text(json.dumps({"steps": steps}, indent=1, ensure_ascii=False))
    return steps


def summarize(steps: list[dict], idle_ms: float) -> dict:
    by = {}
    for s in steps:
        if s["asterisk_ms_per_call_s"] is not None:
            by.setdefault(s["variant"], []).append(s["asterisk_ms_per_call_s"])
    mean = {v: round(sum(x) / len(x), 2) for v, x in by.items()}
    summary = {"asterisk_ms_per_call_s": mean, "runs": by, "idle_ms_per_s": round(idle_ms, 2)}
    if "full" in mean:
        summary["share_of_full"] = {v: round(1 - m / mean["full"], 2) for v, m in mean.items() if v != "full"}
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=40, help="concurrent calls per step")
    ap.add_argument("--repeat", type=int, default=2, help="rounds over the variants")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--rate", type=float, default=10.0, help="calls placed per second within a step")
    ap.add_argument("--port-base", type=int, default=36000)
    ap.add_argument("--instance", default="bench-cost")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or args.calls < 1 or args.repeat < 1:
        ap.error(f"variants are {', '.join(VARIANTS)}; --calls and --repeat at least 1"
                 + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    logging.basicConfig(level=logging.INFO if args.v else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = run_dir("asterisk-cost")
    settings = config.load().replace(instance=args.instance, port_base=args.port_base,
                                     db_path=str(out / "huifang.db"), ring_timeout_s=20, bench_baseline=0)
    ensure_installed(settings)
    rtp, sched = capacity.build_stream(settings, capacity.Schedule(latency_s=capacity.MODE_LATENCY_S["ours"]))
    pcaps = {"ours": (out / "borrower.pcap", sched)}
    capacity.write_pcap(pcaps["ours"][0], rtp.packets)
    extra = nomix_context(render_dialplan(settings))

    def configure(s: config.Settings) -> Path:
        from ivr.asterisk.render import render
        etc = render(s)
        with open(etc / "huifang.conf", "a") as f:   # the instance's rendered copy, not the repository
            f.write(extra)
        return etc

    print(f"asterisk cost bench: {capacity.machine()}, {args.calls} calls x {args.variants} x {args.repeat}, "
          f"uptime load {load_average()}, output {out}", flush=True)
    asterisk.start(settings, configure=configure)
    dialog = DialogProcess(settings, out / "dialog.log")
    try:
        dialog.start()
        pid = asterisk.running_pid(settings)
        translation = asterisk.cli(settings, "core show translation")
        idle_ms = idle_cpu(pid, 5.0)
        pids = {"asterisk": pid, "dialog": dialog.proc.pid, "controller": os.getpid()}
        steps = asyncio.run(run(args, settings, out, pids, pcaps))
    finally:
        dialog.stop()
        asterisk.stop(settings)
    result = {"machine": capacity.machine(), "calls": args.calls, "variants": {v: dict(zip(("direct", "mixmonitor"), f))
                                                                              for v, f in VARIANTS.items()},
              "schedule": dataclasses.asdict(sched), "steps": steps, "summary": summarize(steps, idle_ms),
              "core_show_translation": translation}
    (out / "asterisk_cost.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    s = result["summary"]
    print(f"\nAsterisk idle: {s['idle_ms_per_s']} ms CPU per second")
    for v, m in s["asterisk_ms_per_call_s"].items():
        share = s.get("share_of_full", {}).get(v)
        print(f"{v:<14} {m:6.2f} ms CPU per call-second" + (f"  ({share:+.0%} of full saved)" if share is not None else ""))
    print(f"JSON: {out / 'asterisk_cost.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
