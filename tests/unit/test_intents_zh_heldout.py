"""zh-CN understanding on a held-out set (tests/unit/data/zh_cn_heldout.tsv).

The set was written and committed before the understanding code was tuned, and it is never
tuned on: tuning examples live in test_intents_zh.py. It checks every field of the result
(intent, date, time, amount, digits) for every intent of every step, and the accuracy over the
whole file must stay at or above 98 %. Failures are printed so a regression is easy to read.
"""
import collections
import datetime
import pathlib

from ivr.dialog.intents import understand

TODAY = datetime.date(2026, 12, 1)
DATA = pathlib.Path(__file__).parent / "data" / "zh_cn_heldout.tsv"
FIELDS = ("intent", "date", "time", "amount", "digits")
THRESHOLD = 0.98


def load() -> list[tuple[str, str, dict]]:
    rows = []
    lines = [ln for ln in DATA.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    header, body = lines[0].split("\t"), lines[1:]
    assert header == ["step", "text", *FIELDS], header
    for ln in body:
        step, text, intent, date, time, amount, digits = ln.split("\t")
        rows.append((step, text, {"intent": intent, "date": date or None, "time": time or None,
                                  "amount": int(amount) if amount else None, "digits": digits or None}))
    return rows


def test_heldout_is_big_and_covers_every_intent_of_every_step():
    rows = load()
    assert len(rows) >= 200
    seen = {(step, exp["intent"]) for step, _, exp in rows}
    wanted = {("identity", i) for i in ("confirm", "deny", "agent", "callback", "unknown")}
    wanted |= {("plan", i) for i in ("confirm", "promise", "refuse", "dispute", "hardship", "agent",
                                     "callback", "unknown")}
    wanted |= {("digits", i) for i in ("digits", "agent", "unknown")}
    wanted |= {("confirm", i) for i in ("confirm", "deny", "agent", "unknown")}
    assert wanted <= seen, wanted - seen


def test_heldout_accuracy():
    rows = load()
    failures = []
    per_intent = collections.Counter()
    wrong_per_intent = collections.Counter()
    for step, text, expected in rows:
        got = understand(text, locale="zh-CN", step=step, today=TODAY)
        per_intent[(step, expected["intent"])] += 1
        if {k: got[k] for k in FIELDS} != expected:
            wrong_per_intent[(step, expected["intent"])] += 1
            diff = {k: (expected[k], got[k]) for k in FIELDS if got[k] != expected[k]}
            failures.append(f"{step}: {text!r} expected/got {diff}")
    accuracy = 1 - len(failures) / len(rows)
    print(f"\nzh-CN held-out: {len(rows) - len(failures)}/{len(rows)} = {accuracy:.1%}")
    for key in sorted(per_intent):
        print(f"  {key[0]:8s} {key[1]:9s} {per_intent[key] - wrong_per_intent[key]:3d}/{per_intent[key]}")
    for f in failures:
        print("  FAIL", f)
    assert accuracy >= THRESHOLD, f"{accuracy:.1%} < {THRESHOLD:.0%}; failures:\n" + "\n".join(failures)
