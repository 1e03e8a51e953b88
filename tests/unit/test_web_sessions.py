"""Server-side sessions and login throttling behind proxies: a cookie carries no password-hash
material and stops working at logout, password change, disabling and expiry (even a copy taken
before); failures lock one client address or one user name, never everyone behind a proxy. The
tests that read or write sessions and login attempts run on both engines (`engine_url`)."""
from __future__ import annotations

import hashlib

from flask.sessions import SecureCookieSessionInterface

from tests.support.web_app import PASSWORD, Client, add_users, execute, make_app, query

COOKIE = "huifang_session"


def cookie_of(client: Client) -> str:
    return client.c.get_cookie(COOKIE).value


def decoded(app, value: str) -> dict:
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    return serializer.loads(value)


def with_cookie(app, value: str) -> Client:
    """Another browser that was handed a copy of a session cookie."""
    other = Client(app)
    other.c.set_cookie(COOKIE, value)
    return other


def test_cookie_has_a_random_id_only_and_the_database_keeps_its_hash(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin"])
    c = Client(app)
    c.login("admin")
    value = cookie_of(c)
    data = decoded(app, value)
    assert set(data) <= {"sid", "lang", "csrf_token", "_permanent", "_flashes"}, data
    pw_hash = query(app, "SELECT password_hash FROM users WHERE username = 'admin'")[0]["password_hash"]
    for part in (pw_hash[-16:], pw_hash.split("$")[-1][:12], pw_hash.split("$")[-2][:12]):
        assert part not in value and part not in str(data)
    rows = query(app, "SELECT * FROM web_sessions")
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(data["sid"].encode()).hexdigest()
    assert data["sid"] not in str(rows[0])


def test_a_cookie_copied_before_logout_does_not_work_after(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin"])
    c = Client(app)
    c.login("admin")
    copy = with_cookie(app, cookie_of(c))
    assert copy.get("/admin/users").status_code == 200          # the copy works while the session lives
    c.post("/logout")
    assert c.get("/admin/users").status_code == 302
    assert copy.get("/admin/users").status_code == 302          # ... and not after logout
    row = query(app, "SELECT revoked_at, revoked_reason FROM web_sessions")[0]
    assert row["revoked_at"] and row["revoked_reason"] == "logout"


def test_password_change_ends_every_other_session_even_copies(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["admin"])
    a = Client(app)
    a.login("admin")
    copy = with_cookie(app, cookie_of(a))
    r = a.post("/account", {"current": PASSWORD, "new": "another-long-pass", "repeat": "another-long-pass"})
    assert r.status_code == 302
    assert a.get("/admin/users").status_code == 200              # the one who changed it stays in
    assert copy.get("/admin/users").status_code == 302


def test_disabling_or_resetting_a_user_ends_their_sessions(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin", "supervisor", "qa"])
    admin, sup, qa = Client(app), Client(app), Client(app)
    admin.login("admin")
    sup.login("supervisor")
    qa.login("qa")
    ids = {r["username"]: r["id"] for r in query(app, "SELECT id, username FROM users")}
    admin.get("/admin/users")
    assert admin.post(f"/admin/users/{ids['supervisor']}", {"role": "supervisor"}).status_code == 302  # active off
    assert sup.get("/campaigns").status_code == 302
    admin.post(f"/admin/users/{ids['supervisor']}", {"role": "supervisor", "active": "1"})
    assert sup.get("/campaigns").status_code == 302              # re-enabled: a new login is needed
    assert admin.post(f"/admin/users/{ids['qa']}", {"role": "qa", "active": "1",
                                                    "password": "reset-by-admin-1"}).status_code == 302
    assert qa.get("/qa").status_code == 302
    sup.login("supervisor")
    admin.post(f"/admin/users/{ids['supervisor']}", {"role": "qa", "active": "1"})
    assert sup.get("/qa").status_code == 302                      # a new role: a new login
    reasons = {r["revoked_reason"] for r in query(app, "SELECT revoked_reason FROM web_sessions")}
    assert {"user_disabled", "password_change", "role_change"} <= reasons


def test_an_expired_session_is_refused(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin"])
    c = Client(app)
    c.login("admin")
    assert c.get("/admin/users").status_code == 200
    execute(app, "UPDATE web_sessions SET expires_at = '2000-01-01T00:00:00.000+00:00'")
    assert c.get("/admin/users").status_code == 302


def _fail(client, username, addr, **kw):
    return client.post("/login", {"username": username, "password": "wrong-wrong"},
                       environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"X-Forwarded-For": addr}, **kw)


def _login(username, addr, app):
    c = Client(app)
    c.get("/login")
    return c.post("/login", {"username": username, "password": PASSWORD},
                  environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"X-Forwarded-For": addr})


def proxied_app(tmp_path, proxies=1, database_url="", **overrides):
    from ivr import config
    from ivr.web import create_app
    s = config.load(env={}).replace(db_path=str(tmp_path / "web.db"), cache_dir=tmp_path / "cache",
                                    instance="web-test", web_trusted_proxies=proxies, database_url=database_url)
    app = create_app(s, TESTING=True, **overrides)
    add_users(app, ["admin", "supervisor"])
    return app


def test_behind_a_proxy_twenty_failures_lock_that_address_not_everyone(tmp_path, engine_url):
    app = proxied_app(tmp_path, database_url=engine_url)
    attacker = Client(app)
    attacker.get("/login")
    for i in range(20):
        assert _fail(attacker, f"guess{i}", "203.0.113.5").status_code == 401
    r = _login("admin", "203.0.113.5", app)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert _login("admin", "198.51.100.7", app).status_code == 302   # everyone else behind the proxy
    ips = {r["ip"] for r in query(app, "SELECT DISTINCT ip FROM login_attempts")}
    assert ips == {"203.0.113.5", "198.51.100.7"}                    # never the proxy's 127.0.0.1


def test_failures_against_one_user_name_lock_that_name_from_anywhere(tmp_path, engine_url):
    app = proxied_app(tmp_path, database_url=engine_url)
    c = Client(app)
    c.get("/login")
    for i in range(5):
        _fail(c, "admin", f"192.0.2.{i + 1}")
    assert _login("admin", "198.51.100.7", app).status_code == 429
    assert _login("supervisor", "198.51.100.7", app).status_code == 302


def test_without_trusted_proxies_a_forged_forwarded_for_is_ignored(tmp_path):
    app = proxied_app(tmp_path, proxies=0, LOGIN_MAX_FAILS_IP=3)
    c = Client(app)
    c.get("/login")
    for i in range(3):
        _fail(c, f"guess{i}", f"192.0.2.{i + 1}")   # a new forged address each time: still one client
    assert _login("supervisor", "198.51.100.99", app).status_code == 429


def test_trusted_proxies_setting_is_checked(tmp_path):
    import pytest
    for bad in (-1, 99):
        with pytest.raises(ValueError, match="web_trusted_proxies"):
            proxied_app(tmp_path / str(bad), proxies=bad)
