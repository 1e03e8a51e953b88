"""Accounts: argon2 hashes, sessions with secure cookie settings, login throttling per user and
per IP (stored in the database), safe redirects, `ivr user add`. What reads or writes the accounts,
sessions and login attempts runs on both engines (`engine_url`)."""
from __future__ import annotations

from ivr import cli as ivr_cli
from tests.support.web_app import PASSWORD, Client, add_users, execute, make_app, query


def test_password_is_argon2_and_login_works(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin"])
    row = query(app, "SELECT password_hash, last_login_at FROM users")[0]
    assert row["last_login_at"] is None
    assert row["password_hash"].startswith("$argon2id$") and PASSWORD not in row["password_hash"]
    c = Client(app)
    r = c.login("admin")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert c.get("/account").status_code == 200
    assert query(app, "SELECT last_login_at FROM users")[0]["last_login_at"]
    assert [r["action"] for r in query(app, "SELECT action FROM audit_log ORDER BY id")] == ["login"]
    c.post("/logout")
    assert c.get("/account").status_code == 302


def test_secure_cookie_configurable(tmp_path):
    app = make_app(tmp_path, SESSION_COOKIE_SECURE=True)
    add_users(app, ["admin"])
    r = Client(app).login("admin")
    assert "Secure" in r.headers.get("Set-Cookie", "")


def test_wrong_password_and_unknown_user_look_the_same(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["admin"])
    c = Client(app)
    c.get("/login")
    a = c.post("/login", {"username": "admin", "password": "nope-nope-nope"})
    b = c.post("/login", {"username": "ghost", "password": "nope-nope-nope"})
    assert a.status_code == b.status_code == 401
    assert a.get_data(as_text=True).count("用户名或密码错误") == 1


def test_throttled_per_user_even_with_right_password(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin"])
    c = Client(app)
    c.get("/login")
    for _ in range(5):
        assert c.post("/login", {"username": "admin", "password": "wrong-wrong"}).status_code == 401
    assert c.post("/login", {"username": "admin", "password": PASSWORD}).status_code == 429
    rows = query(app, "SELECT count(*) AS n FROM login_attempts WHERE username = 'admin' AND ok = 0")
    assert rows[0]["n"] == 5


def test_throttled_per_ip_across_user_names(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url, LOGIN_MAX_FAILS_IP=4)
    add_users(app, ["admin"])
    c = Client(app)
    c.get("/login")
    for i in range(4):
        c.post("/login", {"username": f"user{i}", "password": "wrong-wrong"})
    assert c.post("/login", {"username": "admin", "password": PASSWORD}).status_code == 429
    other = Client(app)
    other.get("/login")
    r = other.post("/login", {"username": "admin", "password": PASSWORD}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 302


def test_open_redirect_refused(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["admin"])
    c = Client(app)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        c.get("/login")  # each login starts a fresh session (and CSRF token)
        r = c.post("/login", {"username": "admin", "password": PASSWORD, "next": target})
        assert r.headers["Location"] == "/"


def test_disabled_user_loses_session_and_password_change_ends_other_sessions(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin", "supervisor"])
    sup = Client(app)
    sup.login("supervisor")
    assert sup.get("/campaigns").status_code == 200
    execute(app, "UPDATE users SET active = 0 WHERE username = 'supervisor'")
    assert sup.get("/campaigns").status_code == 302
    a1, a2 = Client(app), Client(app)
    a1.login("admin")
    a2.login("admin")
    r = a1.post("/account", {"current": PASSWORD, "new": "another-long-pass", "repeat": "another-long-pass"})
    assert r.status_code == 302
    assert a1.get("/campaigns").status_code == 200
    assert a2.get("/campaigns").status_code == 302


def test_cli_user_add(tmp_path, capsys, engine_url, monkeypatch):
    # the CLI reads its settings from IVR_* like every command; database_url picks the engine
    monkeypatch.setenv("IVR_DB_PATH", str(tmp_path / "not-this.db"))
    monkeypatch.setenv("IVR_DATABASE_URL", engine_url)
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    assert ivr_cli.main(["user", "add", "boss", "--role", "admin", "--password", "a-long-password"]) == 0
    out = capsys.readouterr().out
    assert "user boss (admin) created in " in out and "not-this.db" not in out
    assert ivr_cli.main(["user", "add", "boss", "--role", "admin", "--password", "a-long-password"]) == 1
    assert ivr_cli.main(["user", "add", "short", "--role", "admin", "--password", "short"]) == 1
    from ivr.db.store import open_store
    s = open_store(engine_url)
    try:
        assert [r["role"] for r in s.query("SELECT role FROM users WHERE username = 'boss'")] == ["admin"]
        assert s.query("SELECT action, actor FROM audit_log") == [{"action": "user_add", "actor": "cli"}]
    finally:
        s.close()
    assert not (tmp_path / "not-this.db").exists()
