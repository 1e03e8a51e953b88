"""What the SIGKILL test keeps when it fails: enough to tell a product bug from a slow machine.

Why this exists: the 20-kill test failed once (the last controller run did not finish within its
limit) and its log went with pytest's temp directory, so nobody could say what state the campaign
was stuck in. On failure the test now writes an evidence directory beside the stack's run
directory (`evidence(...)`) — the controllers' log, the campaign's targets, attempts and
refusals as JSON, the dialog server's log and the phones' call log — and puts its path and a short diagnosis (which targets are
not done and why they might be stuck) into the failure message itself, which CI prints.
`IVR_KEEP_EVIDENCE=<dir>` copies the directory there as well (outside any temp directory).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ivr.db.store import store_of

TARGET_COLUMNS = ("status", "attempts", "retry", "next_at", "last_attempt_id", "done_reason", "last_disposition",
                  "fails_in_row", "updated_at")
ATTEMPT_COLUMNS = ("id", "state", "outcome", "disposition", "created_at", "originated_at", "ended_at", "node",
                   "dial_status", "cause")


def campaign_state(db, campaign_id: int) -> dict:
    """The campaign's rows that decide whether a controller can finish it."""
    store = store_of(db)
    targets = store.query(
        "SELECT b.loan_id, t.* FROM campaign_targets t JOIN borrowers b ON b.id = t.borrower_id "
        "WHERE t.campaign_id = :c ORDER BY b.loan_id", {"c": campaign_id})
    attempts = store.query(
        "SELECT b.loan_id, a.* FROM attempts a JOIN borrowers b ON b.id = a.borrower_id "
        "WHERE a.campaign_id = :c ORDER BY a.created_at, a.id", {"c": campaign_id})
    refusals = store.query("SELECT * FROM dial_refusals WHERE campaign_id = :c ORDER BY id", {"c": campaign_id})
    campaign = store.one("SELECT id, state FROM campaigns WHERE id = :c", {"c": campaign_id})
    others = store.query("SELECT id, name, state FROM campaigns WHERE state IN ('running', 'paused')")
    nodes = store.query("SELECT * FROM nodes ORDER BY name")
    return {"campaign": campaign, "running_or_paused": others, "targets": targets, "attempts": attempts,
            "refusals": refusals, "nodes": nodes}


def diagnosis(state: dict) -> list[str]:
    """One line per thing that keeps the campaign from finishing (or the test from passing)."""
    attempts = {a["id"]: a for a in state["attempts"]}
    lines = [f"campaign {state['campaign']}; running or paused: {state['running_or_paused']}"]
    for t in state["targets"]:
        if t["status"] == "done":
            continue
        last = attempts.get(t["last_attempt_id"]) if t["last_attempt_id"] else None
        why = ""
        if t["status"] == "active" and last is None:
            why = " <- active, its attempt row does not exist"
        elif t["status"] == "active" and last["state"] == "ended":
            why = " <- active, its attempt ended but was never applied (finalize)"
        elif t["status"] == "active":
            why = f" <- active, its attempt still {last['state']}"
        lines.append(f"target {t['loan_id']}: " + ", ".join(f"{k}={t[k]}" for k in TARGET_COLUMNS) + why)
    for a in state["attempts"]:
        if a["state"] != "ended" or a["disposition"] is None:
            lines.append(f"attempt of {a['loan_id']}: " + ", ".join(f"{k}={a[k]}" for k in ATTEMPT_COLUMNS))
    reasons: dict[str, int] = {}
    for r in state["refusals"]:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    lines.append(f"refusals logged: {reasons}")
    return lines


def evidence(db, campaign_id: int, *, out: Path, log_path: Path, seed: int, how: list[str], note: str = "") -> str:
    """Write the evidence directory; return the text for the failure message."""
    where = out / f"kill-evidence-seed{seed}-{time.strftime('%H%M%S')}"
    where.mkdir(parents=True, exist_ok=True)
    try:
        state = campaign_state(db, campaign_id)
        lines = diagnosis(state)
        (where / "state.json").write_text(json.dumps(state, indent=1, default=str, ensure_ascii=False))
    except Exception as exc:   # the database itself may be what broke: keep the rest anyway
        lines = [f"could not read the campaign's state: {exc!r}"]
    if log_path.exists():
        shutil.copy(log_path, where / log_path.name)
    for name in ("dialog.log", "phones/borrower-calls.jsonl"):   # the dialog server's log, the phones' witness
        if (out / name).is_file():
            shutil.copy(out / name, where / Path(name).name)
    summary = "\n".join([f"seed {seed} (rerun with IVR_KILL_SEED={seed}); evidence kept in {where}", note,
                         f"kills: {how}", *lines])
    (where / "summary.txt").write_text(summary + "\n")
    keep = os.environ.get("IVR_KEEP_EVIDENCE")
    if keep:
        shutil.copytree(where, Path(keep) / where.name, dirs_exist_ok=True)
    tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else "(no controller log)"
    return f"{summary}\n--- controller log, last 4000 characters ---\n{tail}"
