"""One call as the page shows it: the attempt, the conversation turn by turn (each prompt as
played, from dialogs.played, and each answer: transcript, intent, keypad), the recording."""
from __future__ import annotations

from pathlib import Path

from flask import current_app

from ..db import attempts as attempts_db
from .common import loads, one


def recording_file(attempt: dict, recording: dict | None, root: Path | None = None) -> Path | None:
    """The recording's file if it exists and lies inside the recordings directory, else None."""
    if not (recording or {}).get("path") and not attempt.get("recording_path"):
        return None
    root = root or Path(current_app.config["RECORDINGS_DIR"]).resolve()
    for raw in ((recording or {}).get("path"), attempt.get("recording_path")):
        if not raw:
            continue
        try:
            path = Path(raw).resolve()
        except (OSError, RuntimeError):
            continue
        if path.is_relative_to(root) and path.is_file():
            return path
    return None


def turns(dialog: dict | None, answers: list[dict], view) -> list[dict]:
    """Prompts and answers merged in time order."""
    out = []
    played = loads((dialog or {}).get("played"), []) or []
    for p in played:
        out.append({"who": "ivr", "at": p.get("at") or "", "node": p.get("node"), "text": view.text(p.get("text")),
                    "prompt": p.get("prompt")})
    for a in answers:
        out.append({"who": "borrower", "at": a["result_at"] or a["prompt_ended_at"] or a["prompt_started_at"] or "",
                    "node": a["node"], "step": a["step"], "via": a["via"], "text": view.text(a["text"]),
                    "digits": view.digits(a["step"], a["digits"]), "intent": a["intent"],
                    "confidence": a["confidence"], "barge_in": a["barge_in"],
                    "prompt_text": view.text(a["prompt_text"]), "slots": view.text(a["slots"])})
    if not played:  # older calls: the prompt text stored with each answer
        with_prompts = []
        for tr in out:
            if tr.get("prompt_text"):
                with_prompts.append({"who": "ivr", "at": "", "node": tr["node"], "text": tr["prompt_text"]})
            with_prompts.append(tr)
        return with_prompts
    out.sort(key=lambda r: (r["at"] or "~", 0 if r["who"] == "ivr" else 1))
    return out


def load(db, attempt_id: str, view) -> dict | None:
    attempt = attempts_db.get(db, attempt_id)
    if attempt is None:
        return None
    dialog = one(db, "SELECT * FROM dialogs WHERE attempt_id = ?", [attempt_id])
    answers = list(db.query("SELECT * FROM answers WHERE attempt_id = ? ORDER BY seq", [attempt_id]))
    recording = one(db, "SELECT * FROM recordings WHERE attempt_id = ?", [attempt_id])
    purged = one(db, "SELECT * FROM recording_purges WHERE attempt_id = ? ORDER BY id DESC LIMIT 1", [attempt_id])
    return {"attempt": attempt, "dialog": dialog, "turns": turns(dialog, answers, view),
            "recording": recording_file(attempt, recording) is not None, "purged": purged,
            "escalation": one(db, "SELECT * FROM escalations WHERE attempt_id = ?", [attempt_id])}
