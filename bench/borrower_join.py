"""One call seen from both ends: the listening borrower's log (bench/borrower_media.py) joined with
the dialog's answers rows, answer by answer.

The borrower answered some questions in order; the dialog recorded the answers it took (via voice
or keypad) in order. Paired in that order, each pair says whether the dialog understood what the
borrower meant (node, via, intent as `EXPECTED`), and gives two turn latencies of a spoken answer:
the dialog's (end of speech as its VAD heard it to the first frame of the next prompt) and the
borrower's (end of its speech to the first speech of the next prompt it heard). The borrower's
wait (its answer's start − the prompt's end as it heard it, ~0.5 s by design) shows whether the
borrower itself kept up. Pure: no files, no clocks.
"""
from __future__ import annotations

import datetime as dt

# borrower's question -> the answers row the dialog should write: (node, intent); its input (voice or
# keypad) is the one the borrower used (a "say" answer must be taken by voice)
EXPECTED: dict[str | None, tuple[str, str]] = {
    "identity": ("identity", "confirm"),
    "identity_confirm": ("identity:confirm", "confirm"),
    "id_check": ("id_check", "digits"),
    "plan": ("plan", "confirm"),
    None: ("*:confirm", "confirm"),     # an unplanned confirmation, answered with key 1
}


def _ms(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds() * 1000, 1)


def _matches(row: dict, node: str, via: str, intent: str) -> bool:
    node_ok = row["node"].endswith(node[1:]) if node.startswith("*") else row["node"] == node
    return node_ok and row["via"] == via and row["intent"] == intent


def join_call(records: list[dict], rows: list[dict], digits: str = "1234") -> dict:
    """Pair the borrower's answers with the dialog's answers rows of one call."""
    problems = [f"{r['node']}: no answer heard ({r['via']})" for r in rows if r["via"] not in ("voice", "keypad")]
    taken = [r for r in rows if r["via"] in ("voice", "keypad")]
    answers = []
    for i, rec in enumerate(records):
        if not rec.get("answered"):
            continue
        nxt = records[i + 1] if i + 1 < len(records) else None
        answers.append({
            "question": rec["question"], "kind": rec["kind"],
            "borrower_wait_ms": round((rec["answer_start_s"] - rec["prompt_end_s"]) * 1000, 1),
            "borrower_turn_ms": (round((nxt["prompt_start_s"] - rec["answer_end_s"]) * 1000, 1)
                                 if nxt and nxt.get("prompt_start_s") is not None else None),
        })
    if len(answers) != len(taken):
        problems.append(f"borrower answered {[a['question'] for a in answers]}, "
                        f"dialog took {[r['node'] for r in taken]}")
    for answer, row in zip(answers, taken):
        node, intent = EXPECTED.get(answer["question"], EXPECTED[None])
        via = "voice" if answer["kind"] == "say" else "keypad"
        answer.update(node=row["node"], via=row["via"], intent=row["intent"],
                      dialog_turn_ms=_ms(row["speech_ended_at"], row.get("reply_audio_at")) if row["via"] == "voice"
                      else None)
        answer["understood"] = _matches(row, node, via, intent) and (intent != "digits" or row["digits"] == digits)
        if not answer["understood"]:
            problems.append(f"{answer['question']}: dialog took {row['node']} {row['via']}/{row['intent']}"
                            f"/{row['text'] or row['digits']}")
    return {"answers": answers, "understood": not problems, "problems": problems}
