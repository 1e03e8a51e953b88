"""Helpers for the web app's tests: a fresh app on a temp database (SQLite, or `engine_url`'s engine),
users made by the product's own `security.add_user`, a client that signs in through the login form and
sends the CSRF token like a browser, and a small seeded call history; all of it on either engine.

Test-only, outside the installed package: importing it makes password hashing cheap (argon2 at
its minimum cost) for the whole process, which must never happen in a product process."""
from __future__ import annotations

import re
from pathlib import Path

from argon2 import PasswordHasher

from ivr import config
from ivr.db import attempts
from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.web import create_app, security

PASSWORD = "correct-horse-battery"
ROLES = security.ROLES
PHONE = "13812345678"
NAME = "王小明"
ID4 = "4321"
LOAN = "LN-2026-000777"
security.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app(tmp_path: Path, database_url: str = "", settings: dict | None = None, **overrides):
    """A web app on a fresh SQLite file in tmp_path, or on `database_url` (a test given `engine_url`
    passes it, and runs once per engine); `settings` changes Settings fields, `overrides` app.config."""
    s = config.load(env={}).replace(db_path=str(tmp_path / "web.db"), cache_dir=tmp_path / "cache",
                                    instance="web-test", database_url=database_url, **(settings or {}))
    app = create_app(s, TESTING=True, **overrides)
    app.config["RECORDINGS_DIR"] = str(tmp_path / "recordings")
    (tmp_path / "recordings").mkdir(exist_ok=True)
    return app


def db_of(app):
    """A handle on the app's database, as `open_database` gives it (close with `store_of(db).close()`)."""
    return open_database(app.config["DATABASE_URL"])


def query(app, sql: str, params: dict | None = None) -> list[dict]:
    """The rows of `sql` (`:name` parameters) in the app's database, on either engine."""
    s = store_of(db_of(app))
    try:
        return s.query(sql, params)
    finally:
        s.close()


def execute(app, sql: str, params: dict | None = None) -> int:
    """Run a statement (`:name` parameters) in the app's database, on either engine; rows changed."""
    s = store_of(db_of(app))
    try:
        return s.execute(sql, params)
    finally:
        s.close()


def add_users(app, roles=ROLES) -> None:
    db = db_of(app)
    try:
        for role in roles:
            security.add_user(db, role, PASSWORD, role, agent_ext="agent1" if role == "agent" else None)
    finally:
        store_of(db).close()


class Client:
    """A test client that behaves like the browser: reads the CSRF token from the page it got."""

    def __init__(self, app):
        self.app = app
        self.c = app.test_client()
        self.token = None

    def get(self, url, **kw):
        r = self.c.get(url, **kw)
        m = _CSRF.search(r.get_data(as_text=True)) if r.mimetype == "text/html" else None
        if m:
            self.token = m.group(1)
        return r

    def post(self, url, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/login")
            data.setdefault("csrf_token", self.token)
        return self.c.post(url, data=data, **kw)

    def login(self, username, password=PASSWORD):
        self.get("/login")
        r = self.post("/login", {"username": username, "password": password})
        self.get("/account")  # the session's token after login
        return r


def signed_in(app, username: str, password: str = PASSWORD) -> "Client":
    """A client signed in as `username` through the login form (a user `add_users` or
    `security.add_user` made); fails the test if the login is refused."""
    c = Client(app)
    r = c.login(username, password)
    assert r.status_code == 302, f"login as {username}: HTTP {r.status_code}"
    return c


def seed(app, recordings: Path | None = None) -> dict:
    """One borrower with an answered, escalated call (with recording), a busy call, a promise and a
    payment; returns the ids."""
    db = db_of(app)
    try:
        return _seed(db, Path(recordings or app.config["RECORDINGS_DIR"]))
    finally:
        store_of(db).close()


def _seed(db, rec_dir: Path) -> dict:
    s = store_of(db)
    bid, cid = attempts.ensure_borrower(db, loan_id=LOAN, name=NAME, id_last4=ID4, amount_due=3500,
                                        due_date="2026-12-10", locale="zh-CN", phone=PHONE)
    rec_dir.mkdir(parents=True, exist_ok=True)
    wav = rec_dir / "a-answered.wav"
    wav.write_bytes(b"RIFF" + b"\0" * 40)
    attempts.create(db, {"id": "a-answered", "borrower_id": bid, "contact_id": cid, "number": PHONE, "locale": "zh-CN",
                         "state": "ended", "outcome": "answered", "disposition": "answered-transferred", "cause": 16,
                         "created_at": "2026-11-30T02:00:00.000+00:00", "answered_at": "2026-11-30T02:00:05.000+00:00",
                         "ended_at": "2026-11-30T02:03:00.000+00:00", "recording_path": str(wav)})
    attempts.create(db, {"id": "a-busy", "borrower_id": bid, "contact_id": cid, "number": PHONE, "locale": "zh-CN",
                         "state": "ended", "outcome": "busy", "disposition": "busy", "cause": 17,
                         "created_at": "2026-11-30T01:00:00.000+00:00", "ended_at": "2026-11-30T01:00:10.000+00:00"})
    s.insert("recordings", {"attempt_id": "a-answered", "path": str(wav), "bytes": 44,
                            "created_at": "2026-11-30T02:03:00.000+00:00"})
    played = ('[{"node": "greeting", "prompt": "greeting", "text": "您好，请问是' + NAME + '本人吗？", '
              '"at": "2026-11-30T02:00:06.000+00:00"}]')
    s.insert("dialogs", {"attempt_id": "a-answered", "started_at": "2026-11-30T02:00:05.000+00:00",
                         "result": "transferred", "last_node": "transfer", "played": played})
    s.insert_all("answers", [  # one batch: every row names the same columns
        {"attempt_id": "a-answered", "seq": 1, "step": "identity", "node": "identity", "via": "keypad", "digits": "1",
         "text": None, "intent": "confirm", "result_at": "2026-11-30T02:00:10.000+00:00"},
        {"attempt_id": "a-answered", "seq": 2, "step": "digits", "node": "digits", "via": "keypad", "digits": ID4,
         "text": None, "intent": "digits", "result_at": "2026-11-30T02:00:20.000+00:00"},
        {"attempt_id": "a-answered", "seq": 3, "step": "plan", "node": "plan", "via": "voice", "digits": None,
         "text": "我要找人工 我的电话是" + PHONE, "intent": "agent", "result_at": "2026-11-30T02:00:30.000+00:00"}])
    esc = s.insert("escalations", {"attempt_id": "a-answered", "borrower_id": bid, "reason": "requested",
                                   "queued_at": "2026-11-30T02:00:31.000+00:00",
                                   "context": '{"name": "' + NAME + '", "loan_id": "' + LOAN + '", '
                                              '"identity_verified": true, "answers": [{"step": "digits", '
                                              '"intent": "digits", "via": "keypad", "digits": "' + ID4 + '"}]}'})
    s.insert("promises", {"attempt_id": "a-answered", "borrower_id": bid, "promise_date": "2026-11-30", "amount": 1000,
                          "confirmed": 1, "source": "ivr", "created_at": "2026-11-30T02:02:00.000+00:00"})
    s.insert("payments", {"borrower_id": bid, "paid_amount": 1000, "paid_at": "2026-11-30",
                          "created_at": "2026-11-30T09:00:00.000+00:00"})
    return {"borrower_id": bid, "contact_id": cid, "escalation_id": esc, "wav": wav}
