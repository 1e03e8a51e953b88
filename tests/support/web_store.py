"""Web tests on either engine: users and a call history seeded through the Store, and a signed-in
client that does not need the session table.

Why it looks like this: the pages of ivr/web/{agent,qa,compliance,borrowers,reports,calls,dashboard,
announcements,conversation,monitor}.py run on the Store (issue 12), so their tests run on SQLite and
PostgreSQL (`make_app(tmp_path, database_url=engine_url)`). Signing in, server-side sessions and the
audit log (ivr/web/{auth,security,sessions,audit,common}.py) and web_app.py's add_users/seed are
ported on another branch; until then they work only on SQLite. So a test here seeds with the Store
and signs in by naming the user in the test client's session: `sign_in` puts a before-request hook
right after security's own user loader, which reads that user row through the Store. Login itself is
tested in test_web_auth.py / test_web_sessions.py, not here.
"""
from __future__ import annotations

from pathlib import Path

from flask import g, session

from ivr.db import attempts
from ivr.db.clock import now_iso
from ivr.db.store import store_of
from ivr.web import get_db, security
from tests.support.web_app import ID4, LOAN, NAME, PASSWORD, PHONE, Client, db_of

_TEST_USER = "test_signed_in_as"


def add_users(app, roles, agent_ext: str = "agent1") -> dict[str, int]:
    """One active user per role, named after it (an agent gets the endpoint `agent_ext`); their ids."""
    s = store_of(db_of(app))
    try:
        now = now_iso()
        return {role: s.insert("users", {"username": role, "display_name": role, "role": role, "locale": "zh-CN",
                                         "password_hash": security.hash_password(PASSWORD), "can_unmask": 0,
                                         "agent_ext": agent_ext if role == "agent" else None, "active": 1,
                                         "created_at": now, "updated_at": now})
                for role in roles}
    finally:
        s.close()


def _signed_in_test_user() -> None:
    name = session.get(_TEST_USER)
    if name and g.get("user") is None:
        g.user = store_of(get_db()).one("SELECT * FROM users WHERE username = :name AND active = 1", {"name": name})


def sign_in(app, username: str) -> Client:
    """A client signed in as `username` (see the module docstring)."""
    hooks = app.before_request_funcs.setdefault(None, [])
    if _signed_in_test_user not in hooks:   # after the loader (it sets g.user None), before the role checks
        names = [getattr(f, "__name__", "") for f in hooks]
        hooks.insert(names.index("_load_user") + 1 if "_load_user" in names else len(hooks), _signed_in_test_user)
    client = Client(app)
    with client.c.session_transaction() as sess:
        sess[_TEST_USER] = username
    return client


def seed(app, recordings: Path | None = None) -> dict:
    """web_app.seed's call history through the Store: one borrower with an answered, escalated call
    (with recording and dialog), a busy call, a promise and a payment; returns the ids."""
    s = store_of(db_of(app))
    try:
        bid, cid = attempts.ensure_borrower(s, loan_id=LOAN, name=NAME, id_last4=ID4, amount_due=3500,
                                            due_date="2026-12-10", locale="zh-CN", phone=PHONE)
        rec_dir = Path(recordings or app.config["RECORDINGS_DIR"])
        rec_dir.mkdir(parents=True, exist_ok=True)
        wav = rec_dir / "a-answered.wav"
        wav.write_bytes(b"RIFF" + b"\0" * 40)
        call = {"borrower_id": bid, "contact_id": cid, "number": PHONE, "locale": "zh-CN", "state": "ended"}
        attempts.create(s, {**call, "id": "a-answered", "outcome": "answered", "disposition": "answered-transferred",
                            "cause": 16, "created_at": "2026-11-30T02:00:00.000+00:00",
                            "answered_at": "2026-11-30T02:00:05.000+00:00", "ended_at": "2026-11-30T02:03:00.000+00:00",
                            "recording_path": str(wav)})
        attempts.create(s, {**call, "id": "a-busy", "outcome": "busy", "disposition": "busy", "cause": 17,
                            "created_at": "2026-11-30T01:00:00.000+00:00", "ended_at": "2026-11-30T01:00:10.000+00:00"})
        s.insert("recordings", {"attempt_id": "a-answered", "path": str(wav), "bytes": 44,
                                "created_at": "2026-11-30T02:03:00.000+00:00"})
        s.insert("dialogs", {"attempt_id": "a-answered", "started_at": "2026-11-30T02:00:05.000+00:00",
                             "result": "transferred", "last_node": "transfer",
                             "played": '[{"node": "greeting", "prompt": "greeting", "text": "您好，请问是' + NAME
                                       + '本人吗？", "at": "2026-11-30T02:00:06.000+00:00"}]'})
        s.insert_all("answers", [
            {"attempt_id": "a-answered", "seq": 1, "step": "identity", "node": "identity", "via": "keypad",
             "digits": "1", "text": None, "intent": "confirm", "result_at": "2026-11-30T02:00:10.000+00:00"},
            {"attempt_id": "a-answered", "seq": 2, "step": "digits", "node": "digits", "via": "keypad",
             "digits": ID4, "text": None, "intent": "digits", "result_at": "2026-11-30T02:00:20.000+00:00"},
            {"attempt_id": "a-answered", "seq": 3, "step": "plan", "node": "plan", "via": "voice", "digits": None,
             "text": "我要找人工 我的电话是" + PHONE, "intent": "agent", "result_at": "2026-11-30T02:00:30.000+00:00"}])
        esc = s.insert("escalations", {"attempt_id": "a-answered", "borrower_id": bid, "reason": "requested",
                                       "queued_at": "2026-11-30T02:00:31.000+00:00",
                                       "context": '{"name": "' + NAME + '", "loan_id": "' + LOAN + '"}'})
        s.insert("promises", {"attempt_id": "a-answered", "borrower_id": bid, "promise_date": "2026-11-30",
                              "amount": 1000, "confirmed": 1, "source": "ivr",
                              "created_at": "2026-11-30T02:02:00.000+00:00"})
        s.insert("payments", {"borrower_id": bid, "paid_amount": 1000, "paid_at": "2026-11-30",
                              "created_at": "2026-11-30T09:00:00.000+00:00"})
        return {"borrower_id": bid, "contact_id": cid, "escalation_id": esc, "wav": wav}
    finally:
        s.close()
