"""`ivr campaign` and `ivr risk` as an operator runs them, on the database their settings name: the
SQLite file of db_path, or PostgreSQL when database_url says so (what issue 12 asks of every process)."""
from __future__ import annotations

import json
import subprocess
import sys

from ivr.config import REPO_ROOT
from ivr.db import attempts as attempts_db
from ivr.db.migrate import sqlite_path
from ivr.db.store import store_of


def ivr(env, *args):
    run = subprocess.run([sys.executable, "-m", "ivr.cli", *args], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout, run.stderr


def test_campaign_commands_and_risk_reach_the_configured_database(tmp_path, engine_url, any_db):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "IVR_CACHE_DIR": str(tmp_path / "cache")}
    path = sqlite_path(engine_url)
    env.update({"IVR_DB_PATH": str(path)} if path is not None else {"IVR_DATABASE_URL": engine_url})
    for loan, phone in (("L1", "13800000001"), ("L2", "13800000002")):
        attempts_db.ensure_borrower(any_db, loan_id=loan, name="张伟", id_last4="1234", amount_due=3500,
                                    due_date="2026-12-05", locale="zh-CN", phone=phone)

    rc, out, err = ivr(env, "campaign", "create", "--name", "t", "--loans", "L2", "--by", "test")
    assert rc == 0, err
    cid = int(out)
    rc, out, err = ivr(env, "campaign", "start", str(cid), "--by", "test")
    assert (rc, out.strip()) == (0, f"campaign {cid}: running"), err
    rc, out, err = ivr(env, "campaign", "status", str(cid))
    status = json.loads(out)
    assert (status["state"], status["targets"]) == ("running", {"pending": 1}), err
    store = store_of(any_db)
    assert store.scalar("SELECT b.loan_id FROM campaign_targets t JOIN borrowers b ON b.id = t.borrower_id") == "L2"
    assert store.query("SELECT command, requested_by, result FROM commands") == [
        {"command": "start", "requested_by": "test", "result": "ok: running"}]
    rc, out, err = ivr(env, "campaign", "resume", str(cid))
    assert rc != 0 and "cannot resume a campaign that is running" in err and "Traceback" not in err

    rc, out, err = ivr(env, "risk", "--loan", "L1")
    assert rc == 0 and json.loads(out)["level"] == "low", err
    rc, out, err = ivr(env, "risk", "--loan", "nope")
    assert rc == 1 and "no borrower with loan id nope" in err
