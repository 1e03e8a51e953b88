"""Accounts: argon2 hashes, sessions with secure cookie settings, login throttling per user and
per IP (stored in the database), safe redirects, `ivr user add`."""
from __future__ import annotations

from ivr import cli as ivr_cli
from tests.support.web_app import PASSWORD, Client, add_users, db_of, make_app


def test_password_is_argon2_and_login_works(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["admin"])
    row = next(iter(db_of(app).query("SELECT password_hash FROM users")))
    assert row["password_hash"].startswith("$argon2id$") and PASSWORD not in row["password_hash"]
    c = Client(app)
    r = c.login("admin")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert c.get("/").status_code == 200
    c.post("/logout")
    assert c.get("/").status_code == 302


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


def test_throttled_per_user_even_with_right_password(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["admin"])
    c = Client(app)
    c.get("/login")
    for _ in range(5):
        assert c.post("/login", {"username": "admin", "password": "wrong-wrong"}).status_code == 401
    assert c.post("/login", {"username": "admin", "password": PASSWORD}).status_code == 429
    rows = list(db_of(app).query("SELECT count(*) AS n FROM login_attempts WHERE username = 'admin' AND ok = 0"))
    assert rows[0]["n"] == 5


def test_throttled_per_ip_across_user_names(tmp_path):
    app = make_app(tmp_path, LOGIN_MAX_FAILS_IP=4)
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


def test_disabled_user_loses_session_and_password_change_ends_other_sessions(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["admin", "supervisor"])
    sup = Client(app)
    sup.login("supervisor")
    assert sup.get("/campaigns").status_code == 200
    db = db_of(app)
    db.execute("UPDATE users SET active = 0 WHERE username = 'supervisor'")
    assert sup.get("/campaigns").status_code == 302
    a1, a2 = Client(app), Client(app)
    a1.login("admin")
    a2.login("admin")
    r = a1.post("/account", {"current": PASSWORD, "new": "another-long-pass", "repeat": "another-long-pass"})
    assert r.status_code == 302
    assert a1.get("/campaigns").status_code == 200
    assert a2.get("/campaigns").status_code == 302


def test_cli_user_add(tmp_path, capsys):
    db_path = tmp_path / "cli.db"
    import os  # the CLI reads its settings from IVR_* like every command
    old = dict(os.environ)
    os.environ.update(IVR_DB_PATH=str(db_path), IVR_CACHE_DIR=str(tmp_path))
    try:
        rc = ivr_cli.main(["user", "add", "boss", "--role", "admin", "--password", "a-long-password"])
        assert rc == 0
        assert ivr_cli.main(["user", "add", "boss", "--role", "admin", "--password", "a-long-password"]) == 1
        assert ivr_cli.main(["user", "add", "short", "--role", "admin", "--password", "short"]) == 1
    finally:
        os.environ.clear()
        os.environ.update(old)
    from ivr.db.connect import connect
    db = connect(db_path)
    assert [r["role"] for r in db.query("SELECT role FROM users WHERE username = 'boss'")] == ["admin"]
    assert list(db.query("SELECT action, actor FROM audit_log"))[0] == {"action": "user_add", "actor": "cli"}
