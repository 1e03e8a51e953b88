"""AMI throughput: how many events per second the controller's AMI path consumes and reduces.

A loopback AMI-speaking server (a child process of this script, so that it does not share the
client's CPU) answers Login/Ping/Originate and replays the recorded event streams of
tests/fixtures/ami/*.json — each call re-keyed with a fresh attempt id, the calls interleaved —
at a fixed rate. The client side is the real thing: `AmiClient` (parser, routing, dispatcher)
feeding `CallPlacer._on_event` (correlation by Attempt/ActionID/Uniqueid/Linkedid,
`attempt_state.reduce`, outcome classification); the calls are placed with `CallPlacer.place`
(the server confirms each Originate). The database is a stub that only keeps the attempts' final
state (`--db` uses the real SQLite writer instead, to show what the database costs).

Each event carries the server's send time (a `BenchSent` header, CLOCK_MONOTONIC is system-wide)
so that the lag — sent to fully handled by on_event — is measured per event. A rate passes when
every event was handled, every attempt ended with the outcome the fixture gives offline, and the
p95 lag stays under 100 ms; the ramp stops at the first rate that does not.

    PYTHONPATH=. .venv/bin/python bench/ami.py [--rates 500,1000,2000,...] [--seconds 4] [--db] [--json out.json]

Every socket is on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.stats import percentile
from ivr import config
from ivr.ami.client import AmiClient
from ivr.ami.protocol import AmiParser, encode_message
from ivr.db import attempts as attempts_db
from ivr.dialer.attempt_state import AttemptView, reduce
from ivr.dialer.calls import CallPlacer
from ivr.dialer.outcomes import classify

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
SECRET = "bench-secret"


def load_fixtures() -> list[dict]:
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        view = AttemptView(data["attempt_id"])
        for ev in data["events"]:
            if ev.get("Event") == "TestEvent":
                continue
            view = reduce(view, ev)
        number = path.stem
        out.append({"number": number, "attempt_id": data["attempt_id"], "events": data["events"],
                    "expected": classify(view)[0] if view.finished else None})
    return out


def rekey(events: list[dict], old: str, new: str) -> list[dict]:
    def sub(v):
        return [x.replace(old, new) for x in v] if isinstance(v, list) else str(v).replace(old, new)
    return [{k: sub(v) for k, v in ev.items()} for ev in events]


# ---- the server (child process) ---------------------------------------------------------------
def serve(port: int, ready, plan_q) -> None:
    asyncio.run(_serve(port, ready, plan_q))


async def _serve(port: int, ready, plan_q) -> None:
    fixtures = {f["number"]: f for f in load_fixtures()}
    loop = asyncio.get_running_loop()

    async def on_client(reader, writer):
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        parser = AmiParser(expect_banner=False)
        originated: list[tuple[str, str]] = []   # (number, attempt id) in order
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for msg in parser.feed(data):
                action = str(msg.get("Action", "")).lower()
                aid = msg.get("ActionID", "")
                if action == "login":
                    writer.write(encode_message({"Response": "Success", "ActionID": aid, "Message": "Authentication accepted"}))
                elif action == "ping":
                    writer.write(encode_message({"Response": "Success", "ActionID": aid, "Ping": "Pong"}))
                elif action == "originate":
                    number = str(msg["Channel"]).split("/")[1].split("@")[0]
                    originated.append((number, str(msg["ChannelId"])))
                    writer.write(encode_message({"Response": "Success", "ActionID": aid,
                                                 "Message": "Originate successfully queued"}))
                elif action == "userevent" and msg.get("UserEvent") == "BenchGo":
                    rate = float(msg["Rate"])
                    writer.write(encode_message({"Response": "Success", "ActionID": aid}))
                    await writer.drain()
                    await _replay(writer, fixtures, originated, rate)
                    originated = []
                elif action == "logoff":
                    writer.write(encode_message({"Response": "Goodbye", "ActionID": aid}))
                    await writer.drain()
                    writer.close()
                    return
                else:
                    writer.write(encode_message({"Response": "Error", "ActionID": aid, "Message": "Invalid/unknown command"}))
            await writer.drain()

    server = await asyncio.start_server(on_client, "127.0.0.1", port)
    ready.set()
    async with server:
        await loop.run_in_executor(None, plan_q.get)   # the parent says stop


async def _replay(writer, fixtures, originated, rate: float) -> None:
    """Interleave the calls' streams round-robin and send them at `rate` events/s, paced per 5 ms."""
    streams = []
    for number, aid in originated:
        f = fixtures[number]
        evs = [e for e in rekey(f["events"], f["attempt_id"], aid) if e.get("Event") != "TestEvent"]
        for e in evs:   # OriginateResponse carries the Originate's ActionID
            if e.get("Event") == "OriginateResponse":
                e["ActionID"] = f"orig-{aid}"
        streams.append(evs)
    order = []
    idx = [0] * len(streams)
    live = list(range(len(streams)))
    while live:
        nxt = []
        for i in live:
            order.append(streams[i][idx[i]])
            idx[i] += 1
            if idx[i] < len(streams[i]):
                nxt.append(i)
        live = nxt
    t0 = time.monotonic()
    sent = 0
    tick = 0.005
    while sent < len(order):
        due = int((time.monotonic() - t0) * rate) + 1
        batch = []
        now = time.monotonic()
        while sent < min(due, len(order)):
            ev = dict(order[sent])
            ev["BenchSent"] = f"{now:.6f}"
            batch.append(encode_message(ev))
            sent += 1
        if batch:
            writer.write(b"".join(batch))
            await writer.drain()
        await asyncio.sleep(tick)


# ---- the client ---------------------------------------------------------------------------------
class StubDb:
    """Only what the placer writes about attempts' state; every other write is dropped."""

    def __init__(self):
        self.attempts: dict[str, dict] = {}

    async def call(self, fn, *args):
        if fn is attempts_db.create:
            self.attempts[args[0]["id"]] = dict(args[0])
        elif fn is attempts_db.update:
            self.attempts.setdefault(args[0], {}).update(args[1])
        elif fn is attempts_db.get:
            return self.attempts.get(args[0])
        return None

    def close(self):
        pass


class RealDb:
    def __init__(self, path: Path):
        from ivr.db.writer import AsyncDb
        self.inner = AsyncDb(path)

    async def call(self, fn, *args):
        return await self.inner.call(fn, *args)

    def close(self):
        self.inner.close()


async def run_rate(settings, port: int, fixtures: list[dict], rate: float, seconds: float, use_db: bool,
                   tmp: Path) -> dict:
    per_call = statistics.mean(len([e for e in f["events"] if e.get("Event") != "TestEvent"]) for f in fixtures)
    calls = max(len(fixtures), int(rate * seconds / per_call))
    db = RealDb(tmp / f"ami-{int(rate)}.db") if use_db else StubDb()
    placer = CallPlacer(settings, db)
    lags: list[float] = []
    handled = 0
    done_at = [0.0]
    on_event = placer._on_event

    async def timed(event):
        nonlocal handled
        await on_event(event)
        now = time.monotonic()
        sent = event.get("BenchSent")
        if sent:
            lags.append(now - float(sent))
            handled += 1
            done_at[0] = now

    placer.ami = AmiClient("127.0.0.1", port, "bench", SECRET, on_event=timed, ping_interval=5.0)
    await placer.ami.start()
    expected = {}
    for i in range(calls):
        f = fixtures[i % len(fixtures)]
        aid = await placer.place(f["number"], locale="zh-CN")
        expected[aid] = f["expected"]
    total = sum(len([e for e in fixtures[i % len(fixtures)]["events"] if e.get("Event") != "TestEvent"])
                for i in range(calls))
    t0 = time.monotonic()
    await placer.ami.send_action({"Action": "UserEvent", "UserEvent": "BenchGo", "Rate": str(rate)})
    deadline = t0 + seconds * 4 + 10
    while handled < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    wall = (done_at[0] or time.monotonic()) - t0
    # a failed Originate is closed FAILED_GRACE_S after its OriginateResponse (late events may follow)
    settle = time.monotonic() + 5
    while time.monotonic() < settle and placer.pending_ids():
        await asyncio.sleep(0.1)
    if use_db:
        rows = {aid: await db.call(attempts_db.get, aid) for aid in expected}
    else:
        rows = db.attempts
    wrong = sum(1 for aid, outcome in expected.items() if (rows.get(aid) or {}).get("outcome") != outcome)
    await placer.ami.close()
    db.close()
    lags_ms = [lag * 1000 for lag in lags]
    q = lambda p: percentile(lags_ms, p)  # noqa: E731
    return {"rate": rate, "calls": calls, "events": total, "handled": handled,
            "achieved_per_s": round(handled / wall, 0) if wall > 0 else None,
            "lag_ms": {"median": q(0.5), "p95": q(0.95), "max": q(1.0)},
            "wrong_outcomes": wrong, "db": "sqlite" if use_db else "stub",
            "ok": handled == total and wrong == 0 and (q(0.95) or 0) < 100}


async def main_async(args) -> list[dict]:
    settings = config.load().replace(instance=args.instance, port_base=args.port_base, ami_secret=SECRET)
    port = args.port_base + 2950
    fixtures = load_fixtures()
    ctx = mp.get_context("spawn")
    ready, stop_q = ctx.Event(), ctx.Queue()
    server = ctx.Process(target=serve, args=(port, ready, stop_q), daemon=True)
    server.start()
    ready.wait(10)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="ami-bench-") as tmp:
            for rate in args.rates:
                r = await run_rate(settings, port, fixtures, rate, args.seconds, args.db, Path(tmp))
                results.append(r)
                print(f"{r['rate']:>8.0f} {r['achieved_per_s'] or 0:>9.0f} {r['events']:>7} {r['handled']:>7} "
                      f"{r['lag_ms']['median']!s:>8} {r['lag_ms']['p95']!s:>8} {r['lag_ms']['max']!s:>8} "
                      f"{r['wrong_outcomes']:>5}  {'ok' if r['ok'] else 'FAIL'}", flush=True)
                if not r["ok"]:
                    break
    finally:
        stop_q.put("stop")
        server.join(5)
        if server.is_alive():
            server.kill()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000,2000,4000,8000,16000,32000")
    ap.add_argument("--seconds", type=float, default=4.0, help="events per rate = rate x seconds")
    ap.add_argument("--db", action="store_true", help="write events and state to a real SQLite database")
    ap.add_argument("--port-base", type=int, default=35000)
    ap.add_argument("--instance", default="bench-dev")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.rates = [float(x) for x in args.rates.split(",") if x]
    print(f"AMI bench: fixtures {', '.join(p.stem for p in sorted(FIXTURES.glob('*.json')))}; "
          f"database {'sqlite' if args.db else 'stub'}; {os.cpu_count()} CPUs")
    print(f"{'rate/s':>8} {'handled/s':>9} {'events':>7} {'handled':>7} {'lag med':>8} {'lag p95':>8} {'lag max':>8} "
          f"{'wrong':>5}")
    results = asyncio.run(main_async(args))
    good = [r["rate"] for r in results if r["ok"]]
    print(f"highest rate handled (all events, right outcomes, p95 lag < 100 ms): {max(good) if good else None:.0f} events/s"
          if good else "no rate passed")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"results": results, "db": "sqlite" if args.db else "stub"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
