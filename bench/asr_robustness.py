"""How often is a spoken answer acted on wrongly? ko-KR borrowers under telephone conditions.

    python -m bench.asr_robustness                          # all conditions, both halves' tables
    python -m bench.asr_robustness --conditions heldout --json runs/asr_robustness.json
    python -m bench.asr_robustness --step plan --limit 40 -v
    python -m bench.asr_robustness --sweep                  # choose thresholds on the tuning half only
    python -m bench.asr_robustness --decider baseline       # before the decision layer: act on any intent

(run from the repo root with the project venv.) The corpus (bench/data/asr_corpus_ko.yaml, read and
checked against flows/followup.yaml by bench/asr_corpus.py) is spoken by espeak-ng under each
condition of bench/asr_conditions.py (talker variant/rate/pitch, gain, white or babble noise,
G.711 round trip, lost frames; bench/asr_audio.py makes the audio), recognized with the product's
``recognize_pcm`` at the question's step and decided with the product's ``decide``
(bench/asr_backend.py). bench/asr_scoring.py turns decisions into outcomes (right, false accept,
confirmed right/wrong, rejected) and simulates the rest of the dialog as the runner runs it, for
the completion rate (a read-back or a repeated answer after "confirm", a second voice try, keypad).

Recognitions are cached as JSON (``$HUIFANG_ASR_CACHE/robustness/recs``), so re-running, or
sweeping thresholds, re-decides without decoding again. Decoding runs in a pool of at most two
processes (each loads the ~550 MB model once).

``--sweep`` grid-searches the thresholds ``Policy`` exposes on the TUNING half only and picks the
candidate with the highest right % whose false accepts stay <= 1 %; only after that choice is the
held-out half evaluated, once, with the chosen policy.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench import asr_audio, asr_sweep
from bench.asr_backend import backend as make_backend
from bench.asr_conditions import Condition, by_name, split
from bench.asr_corpus import CorpusError, Utterance, is_correct, load
from bench.asr_scoring import Missing, Tally, Verdict, outcome, simulate

log = logging.getLogger(__name__)
YES_REPLIES = ["네", "네 맞아요", "예 맞습니다"]
NO_REPLIES = ["아니요", "아니요 틀려요", "아닌데요"]


# ---------------------------------------------------------------------------
# Turns and their recognitions
# ---------------------------------------------------------------------------
def reply_text(utt: Utterance, reply: str, take: int) -> str:
    choices = YES_REPLIES if reply == "yes" else NO_REPLIES
    return choices[int(hashlib.sha256(f"{utt.uid}|{take}".encode()).hexdigest(), 16) % len(choices)]


def turn_key(cond: Condition, utt: Utterance, kind: str, take: int) -> tuple:
    """(condition, step, text, sound, take): one decoded turn."""
    if kind == "answer":
        return (cond.name, utt.step, utt.say, utt.sound, take)
    return (cond.name, "confirm", reply_text(utt, kind, take), None, take)


class Recs:
    """Recognition JSON per turn key, on disk under one directory per recognizer version."""

    def __init__(self, version: str):
        self.root = asr_audio.CACHE / "recs" / version
        self.mem: dict[tuple, dict] = {}

    def path(self, key: tuple) -> Path:
        return self.root / key[0] / (hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:24] + ".json")

    def get(self, key: tuple) -> dict | None:
        if key not in self.mem:
            p = self.path(key)
            if not p.exists():
                return None
            self.mem[key] = json.loads(p.read_text(encoding="utf-8"))
        return self.mem[key]


_WORKER: dict = {}


def _init_worker(backend_name: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    be = make_backend(backend_name)
    _WORKER.update(backend=be, engine=be.make_engine())


def _decode(job: tuple) -> tuple[tuple, dict, float, float]:
    cond_dict, key, out_path = job
    cond = Condition(**cond_dict)
    _, step, text, sound, attempt = key
    t0 = time.perf_counter()
    pcm = asr_audio.telephone(cond, text, sound, attempt)
    t1 = time.perf_counter()
    rec = _WORKER["backend"].recognize(_WORKER["engine"], step, pcm)
    t2 = time.perf_counter()
    rec["_audio_s"] = round(len(pcm) / 2 / asr_audio.SAMPLE_RATE, 2)
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return key, rec, t1 - t0, t2 - t1


class Decoder:
    """Decodes missing turns in a process pool (created on first use) and keeps timings."""

    def __init__(self, backend_name: str, recs: Recs, conds: dict[str, Condition], workers: int):
        self.backend_name, self.recs, self.conds, self.workers = backend_name, recs, conds, workers
        self.pool: ProcessPoolExecutor | None = None
        self.decoded = 0
        self.synth_s = self.decode_s = 0.0

    def __call__(self, keys: set[tuple]) -> None:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_init_worker,
                                            initargs=(self.backend_name,))
        jobs = [(self.conds[k[0]].as_dict(), k, str(self.recs.path(k))) for k in sorted(keys, key=str)]
        print(f"  decoding {len(jobs)} turns ...", file=sys.stderr, flush=True)
        for i, (key, rec, ts, tr) in enumerate(self.pool.map(_decode, jobs, chunksize=8), 1):
            self.recs.mem[key] = rec
            self.synth_s += ts
            self.decode_s += tr
            self.decoded += 1
            if i % 500 == 0:
                print(f"    {i}/{len(jobs)}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------
def evaluate(conds: list[Condition], utts: list[Utterance], be, policy, today, recs: Recs, decode) -> dict:
    """(condition, uid) -> {"first", "verdict", "heard", "trail"}; decodes what is missing, in rounds."""
    verdicts: dict[tuple, Verdict] = {}

    def turn_of(cond, utt):
        def turn(kind: str, attempt: int) -> Verdict:
            key = turn_key(cond, utt, kind, attempt)
            if key not in verdicts:
                rec = recs.get(key)
                if rec is None:
                    raise Missing(key)
                verdicts[key] = be.decide(rec, key[1], today, policy)
            return verdicts[key]
        return turn

    for _round in range(6):
        missing: set[tuple] = set()
        results = {}
        for cond in conds:
            for utt in utts:
                turn = turn_of(cond, utt)
                try:
                    first = turn("answer", 1)
                    trail = simulate(utt, turn)
                except Missing as m:
                    missing.add(m.key)
                    continue
                heard = recs.get(turn_key(cond, utt, "answer", 1)).get("text", "")
                results[(cond.name, utt.uid)] = {"first": outcome(utt, first), "verdict": first, "heard": heard,
                                                 "trail": trail}
        if not missing:
            return results
        decode(missing)
    raise RuntimeError("turns still missing after 6 decoding rounds")


def ceiling(conds: list[Condition], utts: list[Utterance], recs: Recs, today) -> dict:
    """What the recognitions allow at best, whatever the decider: of the in-grammar first answers,
    the share whose MBR 1-best reads as what was meant, and the share where any n-best
    alternative does (an oracle that always picked the right alternative)."""
    from ivr.dialog.intents import understand
    n = one_best = any_best = 0
    for cond in conds:
        for utt in utts:
            rec = recs.get(turn_key(cond, utt, "answer", 1)) if utt.in_grammar else None
            if rec is None:
                continue
            texts = [rec.get("text") or ""] + [a.get("text") or "" for a in rec.get("alternatives") or []]
            right = [is_correct(utt, understand(t, locale="ko-KR", step=utt.step, today=today)) for t in texts]
            n += 1
            one_best += right[0]
            any_best += any(right)
    pct = (lambda k: round(100.0 * k / n, 1)) if n else (lambda k: None)
    return {"answers": n, "one_best_right_pct": pct(one_best), "any_nbest_right_pct": pct(any_best)}


def tally(results: dict, conds: list[Condition], utts: list[Utterance]) -> dict:
    per_cond = {c.name: Tally() for c in conds}
    per_step: dict[str, Tally] = {}
    total = Tally()
    for c in conds:
        for u in utts:
            r = results[(c.name, u.uid)]
            voice = u.in_grammar and r["trail"].path[-1] != "keypad"
            per_cond[c.name].add(r["first"], r["trail"].completed, voice)
            group = u.step if u.in_grammar else "out-of-grammar"
            per_step.setdefault(group, Tally()).add(r["first"], r["trail"].completed, voice)
    for t in per_cond.values():
        total.merge(t)
    return {"conditions": per_cond, "steps": per_step, "total": total}


HEAD = (f"{'':<16} {'n':>5} {'right':>6} {'FA':>5} {'conf':>5} {'c-ok':>5} {'c-bad':>5} {'rej':>5} {'compl':>6}"
        f" {'voice':>6}")


def _line(name: str, t: Tally) -> str:
    r = t.row()
    return (f"{name:<16} {t.n:>5} {r['right_pct']:>5.1f}% {r['false_accept_pct']:>4.1f}% {r['confirmed_pct']:>4.1f}%"
            f" {t.confirmed_right:>5} {t.confirmed_wrong:>5} {r['rejected_pct']:>4.1f}% {r['completion_pct']:>5.1f}%"
            f" {r['by_voice_pct']:>5.1f}%")


def print_tables(title: str, t: dict, out=sys.stdout) -> None:
    print(f"\n## {title}\n{HEAD}", file=out)
    for name, tt in t["conditions"].items():
        print(_line(name, tt), file=out)
    print(_line("ALL", t["total"]), file=out)
    print(f"\n  per step ({title})\n{HEAD}", file=out)
    for name in sorted(t["steps"]):
        print(_line(name, t["steps"][name]), file=out)


def print_failures(results: dict, conds, utts, out=sys.stdout) -> None:
    print("\n## failures (first answer not right, or not completed)", file=out)
    for c in conds:
        for u in utts:
            r = results[(c.name, u.uid)]
            if r["first"] == "right" and r["trail"].completed:
                continue
            m = r["verdict"].meaning
            got = " ".join(f"{k}={m.get(k)}" for k in ("intent", *u.slots) if m.get(k) is not None)
            want = " ".join([f"intent={'|'.join(u.intents) or 'REJECT'}"] + [f"{k}={v}" for k, v in u.slots.items()])
            done = "" if r["trail"].completed else "  NOT COMPLETED"
            print(f"  {c.name:<14} {u.uid:<24} {u.label:<22} heard {r['heard'] or '-':<24} "
                  f"{r['verdict'].kind}:{got or '-'}  want {want}  [{r['first']}; {' '.join(r['trail'].path)}]{done}",
                  file=out)


def confusions(results: dict, utts: list[Utterance], top: int = 10) -> list[tuple[str, int]]:
    """The most frequent false accepts: "step: wanted -> acted on"."""
    by_uid = {u.uid: u for u in utts}
    counts: dict[str, int] = {}
    for (_, uid), r in results.items():
        if r["first"] != "false_accept":
            continue
        u, m = by_uid[uid], r["verdict"].meaning
        want = "/".join(u.intents) if u.in_grammar else "out-of-grammar"
        got = str(m.get("intent"))
        if m.get("intent") in u.intents:
            got += " (wrong " + ",".join(k for k, v in u.slots.items() if m.get(k) != v) + ")"
        label = f"{u.step}: {want} -> {got}"
        counts[label] = counts.get(label, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:top]


def reasons(results: dict, utts: list[Utterance], top: int = 8) -> list[tuple[str, int]]:
    """Why answers that were in the grammar were not simply accepted (numbers stripped)."""
    by_uid = {u.uid: u for u in utts}
    counts: dict[str, int] = {}
    for (_, uid), r in results.items():
        if not by_uid[uid].in_grammar or r["verdict"].kind == "accept":
            continue
        for why in r["verdict"].reasons or ("(no reason given)",):
            label = f"{by_uid[uid].step} {r['verdict'].kind}: " + re.sub(r"\d+\.\d+", "N", why)
            counts[label] = counts.get(label, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:top]


def half_json(t: dict) -> dict:
    return {"conditions": {k: v.row() for k, v in t["conditions"].items()},
            "steps": {k: v.row() for k, v in t["steps"].items()}, "total": t["total"].row()}


def text_level_misses(utts: list[Utterance], today) -> list[dict]:
    """Answers that ``intents.understand`` gets wrong on the exact text: understanding errors that
    no recognizer or threshold can fix (out-of-grammar text that reads as an answer included)."""
    from ivr.dialog.intents import understand
    out = []
    for u in utts:
        if u.say is None:
            continue
        m = understand(u.say, locale="ko-KR", step=u.step, today=today)
        wrong = (m["intent"] != "unknown") if not u.in_grammar else not is_correct(u, m)
        if wrong:
            out.append({"uid": u.uid, "say": u.say, "understood": {k: v for k, v in m.items() if v is not None}})
    return out


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conditions", default="all", help="tuning | heldout | all | comma-separated names")
    ap.add_argument("--limit", type=int, help="only the first N utterances (after --step)")
    ap.add_argument("--step", action="append", choices=["identity", "plan", "digits", "confirm"],
                    help="only utterances decided at this step (repeatable)")
    ap.add_argument("--decider", default="auto", help="auto (decision layer if present) | decision | baseline")
    ap.add_argument("--workers", type=int, default=2, help="decoding processes (1 or 2)")
    ap.add_argument("--sweep", action="store_true", help="grid-search Policy thresholds on the tuning half")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per failed utterance")
    args = ap.parse_args(argv)
    if not 1 <= args.workers <= 2:
        ap.error("--workers must be 1 or 2 (the machine is shared)")
    t_start = time.monotonic()
    try:
        today, utts = load()
    except CorpusError as exc:
        print(f"corpus: {exc}", file=sys.stderr)
        return 2
    if args.step:
        utts = [u for u in utts if u.step in args.step]
    if args.limit:
        utts = utts[:args.limit]
    halves = split()
    try:
        if args.conditions in ("tuning", "heldout"):
            chosen = {args.conditions: halves[args.conditions]}
        elif args.conditions == "all":
            chosen = dict(halves)
        else:
            names = args.conditions.split(",")
            by_name(names)
            chosen = {h: [n for n in halves[h] if n in names] for h in halves}
            chosen = {h: v for h, v in chosen.items() if v}
    except ValueError as exc:
        ap.error(str(exc))
    if args.sweep and "tuning" not in chosen:
        ap.error("--sweep tunes on the tuning half; do not restrict --conditions to the held-out half")

    be = make_backend(args.decider)
    policy = be.load_policy()
    recs = Recs(be.version())
    all_conds = {c.name: c for h in halves.values() for c in by_name(h)}
    decode = Decoder(be.name, recs, all_conds, args.workers)
    n_in = sum(u.in_grammar for u in utts)
    print(f"# decider {be.name}; {len(utts)} utterances ({n_in} answers, {len(utts) - n_in} out of grammar); "
          f"today {today}; recognition cache {recs.root}")
    report: dict = {"decider": be.name, "today": today.isoformat(), "split": halves,
                    "conditions": {n: c.as_dict() for n, c in all_conds.items()},
                    "utterances": len(utts), "answers": n_in, "halves": {}}
    try:
        if args.sweep:
            report["sweep"] = asr_sweep.run(
                policy, lambda pol, names: tally(evaluate(by_name(names), utts, be, pol, today, recs, decode),
                                                 by_name(names), utts)["total"],
                halves["tuning"], halves["heldout"] if "heldout" in chosen else None)
        else:
            for half, names in chosen.items():
                conds = by_name(names)
                t0 = time.monotonic()
                results = evaluate(conds, utts, be, policy, today, recs, decode)
                t = tally(results, conds, utts)
                print_tables(f"{half} half ({len(conds)} conditions), decider {be.name}", t)
                conf = confusions(results, utts)
                if conf:
                    print(f"\n  most frequent false accepts ({half}): " + "; ".join(f"{k} x{n}" for k, n in conf))
                top = ceiling(conds, utts, recs, today)
                print(f"\n  recognizer ceiling ({half}): of {top['answers']} answers, the 1-best reads right "
                      f"{top['one_best_right_pct']}%, any of the n-best {top['any_nbest_right_pct']}% "
                      f"(no decider can be right more often)")
                why = reasons(results, utts)
                if why:
                    print(f"\n  why answers were not accepted ({half}):\n" + "\n".join(f"    {n:>5}  {k}" for k, n in why))
                if args.verbose:
                    print_failures(results, conds, utts)
                report["halves"][half] = {**half_json(t), "ceiling": top, "false_accepts": dict(conf), "not_accepted_because": dict(why),
                                          "seconds": round(time.monotonic() - t0, 1)}
                report.setdefault("results", []).extend(
                    {"condition": c, "uid": u, "first": r["first"], "kind": r["verdict"].kind,
                     "meaning": r["verdict"].meaning, "heard": r["heard"], "completed": r["trail"].completed,
                     "path": r["trail"].path} for (c, u), r in results.items())
            misses = text_level_misses(utts, today)
            report["text_level_misses"] = misses
            if misses:
                print(f"\n# {len(misses)} answers are wrong on the exact transcript (understanding, not hearing):")
                for m in misses:
                    print(f"  {m}")
    finally:
        decode.close()
    wall = time.monotonic() - t_start
    report["timing"] = {"wall_s": round(wall, 1), "turns_decoded": decode.decoded,
                        "synth_cpu_s": round(decode.synth_s, 1), "decode_cpu_s": round(decode.decode_s, 1)}
    print(f"\n# {wall:.0f} s wall; decoded {decode.decoded} turns (synthesis {decode.synth_s:.0f} s, "
          f"recognition {decode.decode_s:.0f} s, summed over {args.workers} workers)")
    if policy is not None:
        report["policy"] = {".".join(map(str, p)): asr_sweep.get_path(policy, p)
                            for p in asr_sweep.numeric_paths(policy)}
        report["policy"]["lattice_beam"] = getattr(policy, "lattice_beam", None)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
