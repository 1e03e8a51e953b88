"""Threshold sweep for bench/asr_robustness.py --sweep: chosen on the tuning half, never the held-out one.

The candidates come from the numeric fields the decision layer's ``Policy`` exposes (a frozen
dataclass; nested dataclasses and dicts of numbers are walked too): each field is scanned over a
grid — probabilities (accept, confirm, word_conf, min_coverage) over a fixed ladder, other numbers
(the softmax temperature) scaled around their current value —
coordinate by coordinate (one pass by default; ~2 s per candidate once the recognitions are
cached), keeping the best candidate so far. "Best" is: false accepts
<= 1 % on the tuning half, then the highest right %, then the highest completion %; when nothing
is under 1 %, the fewest false accepts.

``evaluate(policy, condition_names) -> Tally`` is the only access to results, and it is called
with the tuning half's names only until the choice is made; the held-out half is evaluated once,
afterwards, with the chosen policy, and printed as such.
"""
from __future__ import annotations

import dataclasses
import sys

MAX_FALSE_ACCEPT = 1.0
PROB_LADDER = (0.0, 0.3, 0.5, 0.7, 0.85, 0.95, 0.98)
SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)


# Decoding settings cannot be swept offline: changing them needs new recognitions.
DECODING_FIELDS = {"lattice_beam"}


def numeric_paths(obj, prefix=()) -> list[tuple]:
    """Paths to every int/float (not bool) inside a dataclass / dict tree, decoding settings excepted."""
    out = []
    if dataclasses.is_dataclass(obj):
        items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    elif isinstance(obj, dict):
        items = list(obj.items())
    else:
        return out
    for k, v in items:
        if isinstance(v, bool) or (not prefix and k in DECODING_FIELDS):
            continue
        if isinstance(v, (int, float)):
            out.append(prefix + (k,))
        else:
            out.extend(numeric_paths(v, prefix + (k,)))
    return out


def get_path(obj, path):
    for k in path:
        obj = obj[k] if isinstance(obj, dict) else getattr(obj, k)
    return obj


def set_path(obj, path, value):
    """A copy of ``obj`` with ``path`` set (dataclasses via replace, dicts copied)."""
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        new = dict(obj)
        new[head] = set_path(obj[head], rest, value) if rest else value
        return new
    return dataclasses.replace(obj, **{head: set_path(getattr(obj, head), rest, value) if rest else value})


def valid(pol) -> bool:
    """Every threshold triple keeps confirm <= accept (what the evidence file loader enforces)."""
    stack = [pol]
    while stack:
        obj = stack.pop()
        if dataclasses.is_dataclass(obj):
            names = {f.name for f in dataclasses.fields(obj)}
            if {"accept", "confirm"} <= names and obj.confirm > obj.accept:
                return False
            stack.extend(getattr(obj, n) for n in names)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
    return True


PROBABILITIES = {"accept", "confirm", "word_conf", "min_coverage"}


def grid(path: tuple, value) -> list:
    if path[-1] in PROBABILITIES:
        return sorted(set(PROB_LADDER) | {value})
    vals = {type(value)(value * s) for s in SCALES} if value else {0, 1, 2, 5}
    return sorted(vals)


def score(t) -> tuple:
    fa = t.pct("false_accept")
    feasible = fa <= MAX_FALSE_ACCEPT
    return (feasible, t.pct("right") if feasible else -fa, t.pct("completed"))


def run(policy, evaluate, tuning: list[str], heldout: list[str] | None, passes: int = 1, out=sys.stdout) -> dict:
    if policy is None:
        raise SystemExit("--sweep needs the decision layer's Policy (ivr.dialog.decision); the baseline has none")
    paths = numeric_paths(policy)
    if not paths:
        raise SystemExit("the Policy exposes no numeric thresholds to sweep")
    print(f"\n## sweep on the tuning half ({len(tuning)} conditions): {len(paths)} thresholds, {passes} passes", file=out)
    tried: dict[str, dict] = {}

    def measure(pol):
        key = repr(pol)
        if key not in tried:
            t = evaluate(pol, tuning)
            tried[key] = {"policy": pol, "tally": t, "row": t.row()}
            r = tried[key]["row"]
            print(f"  right {r['right_pct']:5.1f}%  FA {r['false_accept_pct']:4.1f}%  compl {r['completion_pct']:5.1f}%"
                  f"  {_describe(pol, policy, paths)}", file=out, flush=True)
        return tried[key]

    best = measure(policy)
    for _ in range(passes):
        for path in paths:
            for v in grid(path, get_path(policy, path)):
                pol = set_path(best["policy"], path, v)
                if not valid(pol):
                    continue
                cand = measure(pol)
                if score(cand["tally"]) > score(best["tally"]):
                    best = cand
    r = best["row"]
    print(f"\n## chosen on tuning: right {r['right_pct']}%, false accepts {r['false_accept_pct']}%, "
          f"completion {r['completion_pct']}%\n  {_describe(best['policy'], policy, paths) or '(the current policy)'}",
          file=out)
    result = {"candidates": [{"changes": _changes(c["policy"], policy, paths), **c["row"]} for c in tried.values()],
              "chosen": {"changes": _changes(best["policy"], policy, paths), "tuning": r}}
    if heldout:
        h = evaluate(best["policy"], heldout).row()
        print(f"  held-out with the chosen policy (evaluated after the choice): right {h['right_pct']}%, "
              f"false accepts {h['false_accept_pct']}%, completion {h['completion_pct']}%", file=out)
        result["chosen"]["heldout"] = h
    return result


def _changes(pol, base, paths) -> dict:
    return {".".join(map(str, p)): get_path(pol, p) for p in paths if get_path(pol, p) != get_path(base, p)}


def _describe(pol, base, paths) -> str:
    return " ".join(f"{k}={v}" for k, v in _changes(pol, base, paths).items())
