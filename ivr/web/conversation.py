"""One call as the page shows it: the attempt, the conversation turn by turn (each prompt as
played, from dialogs.played, and each answer: transcript, intent, keypad), the recording.

A recording is served only from inside a recordings root: this web app's recordings directory
(RECORDINGS_DIR) or another node's, as this machine mounts it (the setting `recordings_roots`).
With several telephony nodes on one database (issue 12) a call's `recordings.path` is the path the
node that made the call wrote, which need not lie under this web app's own directory. The path is
resolved first (symlinks, `..`), so nothing outside every root is ever read.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask import current_app

from ..db import attempts as attempts_db
from ..db.store import HasStore, Store, store_of
from .common import loads


def recording_roots() -> list[Path]:
    """The directories this web app serves recordings from: RECORDINGS_DIR first, then the
    `recordings_roots` setting (or a RECORDINGS_ROOTS list in the app's config)."""
    cfg = current_app.config
    extra = cfg.get("RECORDINGS_ROOTS")
    if extra is None:
        settings = cfg.get("SETTINGS")
        extra = settings.recordings_roots_extra if settings is not None else ()
    roots = []
    for raw in (cfg["RECORDINGS_DIR"], *extra):
        root = Path(raw).resolve()
        if root not in roots:
            roots.append(root)
    return roots


def recording_file(attempt: dict, recording: dict | None, roots: Sequence[Path] | None = None) -> Path | None:
    """The recording's file if it exists and lies inside a recordings root, else None."""
    if not (recording or {}).get("path") and not attempt.get("recording_path"):
        return None
    roots = recording_roots() if roots is None else roots
    for raw in ((recording or {}).get("path"), attempt.get("recording_path")):
        if not raw:
            continue
        try:
            path = Path(raw).resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if any(path.is_relative_to(root) for root in roots) and path.is_file():
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


def recording_row(db: Store | HasStore, attempt_id: str) -> dict | None:
    return store_of(db).one("SELECT * FROM recordings WHERE attempt_id = :id", {"id": attempt_id})


def load(db: Store | HasStore, attempt_id: str, view) -> dict | None:
    s = store_of(db)
    attempt = attempts_db.get(s, attempt_id)
    if attempt is None:
        return None
    p = {"id": attempt_id}
    dialog = s.one("SELECT * FROM dialogs WHERE attempt_id = :id", p)
    answers = attempts_db.answers(s, attempt_id)
    purged = s.one("SELECT * FROM recording_purges WHERE attempt_id = :id ORDER BY id DESC LIMIT 1", p)
    return {"attempt": attempt, "dialog": dialog, "turns": turns(dialog, answers, view),
            "recording": recording_file(attempt, recording_row(s, attempt_id)) is not None, "purged": purged,
            "escalation": s.one("SELECT * FROM escalations WHERE attempt_id = :id", p)}
