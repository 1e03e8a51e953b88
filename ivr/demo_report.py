"""What `ivr demo` prints and writes to summary.json: per call, how each answer was decided, and
whether the call ended as its persona intended.

One line per call; each answer reads `question=intent (how)`, where "how" is the transcript or the
keys and, for a spoken answer, the decision the dialog server took on it (answers.decision:
accept; confirm→keypad 1 / confirm→voice 네, with the borrower's reply to "did you say ...?",
which the runner records at node "<node>:confirm", folded in, and ", not confirmed" when it was no;
reject). A question asked again shows every answer, in order; the last one is what the question
came to, and that is what the persona's `expect.answers` is compared with (exactly the questions
asked, none missing, none extra).

The printed table is console output, kept like a log: numbers show their last four digits and ID
digits are starred (ivr.redact); summary.json, a result file beside the database, keeps them.
"""
from __future__ import annotations

from . import redact
from .sim.personas import Persona


ID_STEP = "digits"  # the flow step whose keys are ID digits (flows/followup.yaml, node id_check)
CONFIRM_SUFFIX = ":confirm"  # the runner records the borrower's reply to "did you say ...?" at node "<node>:confirm"


def _answer(a: dict) -> dict:
    return {"step": a["step"], "node": a["node"], "intent": a["intent"], "via": a["via"], "text": a["text"],
            "digits": a["digits"], "barge_in": bool(a["barge_in"]), "decision": a.get("decision"),
            "confirmed_by": a.get("confirmed_by")}


def fold_confirmations(rows: list[dict]) -> list[dict]:
    """The answers in order, each reply to a confirmation prompt folded into the answer it confirms
    (as "confirmation": {via, text, digits, intent}); a reply with nothing before it stays as is."""
    out: list[dict] = []
    for a in rows:
        a = _answer(a)
        asked = out[-1] if out else None
        if (asked is not None and a["node"] == asked["node"] + CONFIRM_SUFFIX and asked["decision"] == "confirm"
                and "confirmation" not in asked):
            asked["confirmation"] = {k: a[k] for k in ("via", "text", "digits", "intent", "decision")}
            continue
        out.append(a)
    return out


def summarize(rows: list[dict], personas: dict[str, Persona] | None = None) -> dict:
    personas = personas or {}
    calls = []
    for row in rows:
        call = {
            "number": row["number"], "attempt": row["id"], "node": row.get("node"),
            "outcome": row["outcome"], "cause": row["cause"],
            "disposition": row.get("disposition"),
            "sip_code": row.get("sip_code"), "dial_status": row.get("dial_status"),
            "result": (row.get("dialog") or {}).get("result"),
            "recording": row.get("recording_path"),
            "answers": fold_confirmations(row.get("answers", [])),
        }
        persona = personas.get(row["number"])
        if persona is not None:
            call["persona"] = persona.written  # the key as the persona file writes it
        if persona is not None and persona.expect is not None:
            call["expect"] = expect_dict(persona)
            call["problems"] = expectation_problems(persona, call)
            call["as_intended"] = not call["problems"]
        calls.append(call)
    checked = [c for c in calls if "as_intended" in c]
    per_node: dict[str, int] = {}
    for c in calls:
        per_node[c["node"] or "-"] = per_node.get(c["node"] or "-", 0) + 1
    return {"calls": calls, "as_intended": sum(c["as_intended"] for c in checked), "checked": len(checked),
            "personas": len(personas) or len(calls), "calls_per_node": dict(sorted(per_node.items()))}


def expect_dict(persona: Persona) -> dict:
    e = persona.expect
    d = {"disposition": e.disposition}
    if e.result is not None:
        d["result"] = e.result
    if e.answers is not None:
        d["answers"] = dict(e.answers)
    return d


def final_intents(answers: list[dict]) -> dict[str, str]:
    """{flow node: intent of the last answer at that node}: what each question came to (a reply to
    a confirmation prompt is about the answer it confirms, not a question of its own)."""
    out: dict[str, str] = {}
    for a in answers:
        if not a["node"].endswith(CONFIRM_SUFFIX):
            out[a["node"]] = a["intent"]
    return out


def expectation_problems(persona: Persona, call: dict) -> list[str]:
    """How the call differs from the persona's `expect` block ([] when it ended as intended)."""
    e = persona.expect
    problems = []
    if call.get("disposition") != e.disposition:
        problems.append(f"disposition {call.get('disposition')} (expected {e.disposition})")
    if e.result is not None and call.get("result") != e.result:
        problems.append(f"result {call.get('result')} (expected {e.result})")
    if e.answers is not None:
        got, want = final_intents(call["answers"]), dict(e.answers)
        for node, intent in want.items():
            if node not in got:
                problems.append(f"{node} never answered (expected {intent})")
            elif got[node] != intent:
                problems.append(f"{node}={got[node]} (expected {intent})")
        for node in got.keys() - want.keys():
            problems.append(f"{node}={got[node]} (not expected to be asked)")
    return problems


def _how(a: dict) -> str:
    if a["via"] == "voice":
        return f"voice: {a['text'] or ''}"
    if a["via"] == "keypad":
        return f"keypad: {redact.keys(a['digits']) if a.get('step') == ID_STEP else a['digits'] or ''}"
    return "no input" if a["via"] == "none" else a["via"]


def format_answer(a: dict) -> str:
    """identity=deny (voice: 아니요, accept); identity=confirm (voice: 네, confirm→keypad 1);
    identity=deny (voice: 아니요, confirm→keypad 2, not confirmed); id_check=digits (keypad: ****);
    plan=unknown (voice: 음, reject)."""
    how = _how(a)
    decision = a.get("decision")
    if decision == "confirm":
        reply = a.get("confirmation")
        if reply is None:
            how += f", confirm→{a.get('confirmed_by') or 'no reply'}"
        else:
            said = reply["digits"] if reply["via"] == "keypad" else reply["text"] if reply["via"] == "voice" else ""
            how += f", confirm→{reply['via']}{' ' + said if said else ''}"
            if not a.get("confirmed_by"):
                how += ", not confirmed"
    elif decision:
        how += f", {decision}"
    return f"{a['node']}={a['intent']} ({how})"


def table_lines(summary: dict) -> list[str]:
    width = max([4] + [len(c.get("node") or "-") for c in summary["calls"]])
    lines = [f"{'number':<15} {'node':<{width}} {'outcome':<15} {'cause':>5}  {'disposition':<28} {'ok':<3} answers"]
    for c in summary["calls"]:
        mark = {True: "yes", False: "NO"}.get(c.get("as_intended"), "-")
        answers = "; ".join(format_answer(a) for a in c["answers"])
        lines.append(f"{redact.phone(c['number']):<15} {c.get('node') or '-':<{width}} {c['outcome'] or '?':<15} "
                     f"{c['cause'] if c['cause'] is not None else '-':>5}  "
                     f"{c.get('disposition') or c['result'] or '-':<28} {mark:<3} {answers}")
        for problem in c.get("problems", []):
            lines.append(f"{'':<15} not as intended: {problem}")
    per_node = summary.get("calls_per_node") or {}
    if len(per_node) > 1:
        lines.append("calls per node: " + ", ".join(f"{node} {n}" for node, n in per_node.items()))
    lines.append(f"{summary['as_intended']}/{summary['checked']} personas as intended"
                 + (f" ({summary['personas'] - summary['checked']} without an expect block)"
                    if summary["personas"] > summary["checked"] else ""))
    return lines


def print_table(summary: dict) -> None:
    print("\n".join(table_lines(summary)))
