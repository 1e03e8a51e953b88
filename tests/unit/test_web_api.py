"""The loan system's API: hashed tokens with scopes, pushing borrowers and payments through the
importer (same per-row report), pulling results with a cursor, the OpenAPI description, and
result webhooks signed like the dialer's notifier. Tokens, result pulls and the admin's token and
webhook pages run on both engines (`engine_url`); pushes (the importer) and webhook delivery (the
outbox) only on SQLite until those modules are on the Store."""
from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading

import pytest

from ivr.db import attempts
from ivr.db.store import store_of
from ivr.notify.config import load_notifier
from ivr.notify.webhook import verify
from ivr.web import admin, api
from tests.support.web_app import PHONE, Client, add_users, db_of, make_app, query, seed


@pytest.fixture
def setup(tmp_path):
    """`setup(scopes, database_url)` -> (app, its database handle, an API token, a test client): a
    seeded app with a token of the loan system."""
    handles = []

    def make(scopes="push,pull", database_url=""):
        app = make_app(tmp_path, database_url=database_url)
        seed(app)
        db = db_of(app)
        handles.append(db)
        token = admin.new_token(db, "loan-system", "test", scopes)
        return app, db, token, app.test_client()
    yield make
    for db in handles:
        store_of(db).close()


def notify_toml(tmp_path):
    path = tmp_path / "notify.toml"
    path.write_text("[notify]\nmax_tries = 3\n")
    return path


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_hashed_and_checked(setup, engine_url):
    app, db, token, c = setup(scopes="pull", database_url=engine_url)
    s = store_of(db)
    row = s.query("SELECT * FROM api_tokens")[0]
    assert row["last_used_at"] is None
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest() and token not in json.dumps(row)
    assert c.get("/api/v1/results").status_code == 401
    assert c.get("/api/v1/results", headers=auth("hf_wrong")).status_code == 401
    assert c.get("/api/v1/results", headers=auth(token)).status_code == 200
    assert s.scalar("SELECT last_used_at FROM api_tokens")
    assert c.post("/api/v1/borrowers", json={"borrowers": []}, headers=auth(token)).status_code == 403
    s.execute("UPDATE api_tokens SET revoked_at = 'now'")
    assert c.get("/api/v1/results", headers=auth(token)).status_code == 401


def test_push_borrowers_and_payments(setup):
    app, db, token, c = setup()
    r = c.post("/api/v1/borrowers", headers=auth(token), json={"borrowers": [
        {"loan_id": "API-1", "name": "周八", "phone": "13700000001", "amount_due": 4200, "due_date": "2026-12-20"},
        {"loan_id": "API-2", "name": "吴九", "phone": "12345"},
        {"loan_id": "API-3", "name": "x'); DROP TABLE borrowers; --", "phone": "13700000003"}]})
    body = r.get_json()
    assert r.status_code == 200 and body["created"] == 2 and body["rejected"] == 1
    assert body["errors"][0]["line"] == 3 and body["errors"][0]["column"] == "phone"
    names = [x["name"] for x in db.query("SELECT name FROM borrowers WHERE loan_id LIKE 'API-%' ORDER BY loan_id")]
    assert names == ["周八", "x'); DROP TABLE borrowers; --"]
    r = c.post("/api/v1/payments", headers=auth(token), json={"payments": [
        {"loan_id": "API-1", "paid_amount": 4200, "paid_at": "2026-12-02"}, {"loan_id": "nobody", "paid_amount": 1,
                                                                          "paid_at": "2026-12-02"}]})
    assert r.get_json()["created"] == 1 and r.get_json()["rejected"] == 1
    assert c.post("/api/v1/borrowers", headers=auth(token), json={"nope": 1}).status_code == 400
    assert [a["actor"] for a in db.query("SELECT actor FROM audit_log WHERE action LIKE 'api_push_%'")] == \
        ["api:loan-system"] * 2
    status = c.get("/api/v1/borrowers/API-1", headers=auth(token)).get_json()
    assert status["amount_due"] == 4200 and status["risk"]["level"] == "low"


def test_pull_results_with_cursor(setup, engine_url):
    app, db, token, c = setup(database_url=engine_url)
    first = c.get("/api/v1/results?limit=1", headers=auth(token)).get_json()
    assert [r["attempt_id"] for r in first["results"]] == ["a-busy"]
    second = c.get(f"/api/v1/results?limit=5&after={first['next']}", headers=auth(token)).get_json()
    got = second["results"]
    assert [r["attempt_id"] for r in got] == ["a-answered"]
    assert got[0]["promises"][0]["amount"] == 1000 and got[0]["escalation"]["reason"] == "requested"
    assert PHONE not in json.dumps(first) + json.dumps(second)
    assert c.get(f"/api/v1/results?after={second['next']}", headers=auth(token)).get_json()["results"] == []
    assert c.get("/api/v1/results?after=!!!", headers=auth(token)).status_code == 400


def test_a_results_page_gives_each_call_its_own_promises_callbacks_and_escalation(setup, engine_url):
    """A page is read with one statement per kind of row for all its calls: each call still gets its own."""
    app, db, token, c = setup(database_url=engine_url)
    s = store_of(db)
    bid = s.scalar("SELECT id FROM borrowers")
    for n in (1, 2, 3):
        attempts.create(s, {"id": f"z{n}", "borrower_id": bid, "number": PHONE, "locale": "zh-CN", "state": "ended",
                            "outcome": "answered", "created_at": f"2026-12-01T0{n}:00:00.000+00:00",
                            "ended_at": f"2026-12-01T0{n}:01:00.000+00:00"})
    s.insert_all("promises", [{"attempt_id": aid, "borrower_id": bid, "promise_date": day, "amount": amount,
                               "confirmed": 1, "source": "ivr", "created_at": "2026-12-01"}
                              for aid, day, amount in (("z1", "2026-12-05", 100), ("z3", "2026-12-06", 300),
                                                       ("z1", "2026-12-07", 200))])
    s.insert("callbacks", {"attempt_id": "z2", "borrower_id": bid, "reason": "requested", "requested_time": "15:00",
                           "created_at": "2026-12-01"})
    s.insert("escalations", {"attempt_id": "z3", "borrower_id": bid, "reason": "requested", "queued_at": "2026-12-01"})
    first = c.get("/api/v1/results?limit=2", headers=auth(token)).get_json()["results"]
    page = c.get(f"/api/v1/results?limit=10&after={first[-1]['cursor']}", headers=auth(token)).get_json()["results"]
    got = {r["attempt_id"]: r for r in page}
    assert list(got) == ["z1", "z2", "z3"]
    assert [(p["promise_date"], p["amount"]) for p in got["z1"]["promises"]] == [("2026-12-05", 100), ("2026-12-07", 200)]
    assert got["z1"]["callbacks"] == [] and got["z1"]["escalation"] is None
    assert got["z2"]["promises"] == [] and [cb["requested_time"] for cb in got["z2"]["callbacks"]] == ["15:00"]
    assert [p["amount"] for p in got["z3"]["promises"]] == [300] and got["z3"]["escalation"]["reason"] == "requested"
    assert "attempt_id" not in got["z1"]["promises"][0]


def test_openapi_describes_every_route(setup):
    app, db, token, c = setup()
    spec = c.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule) for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/v1/")}
    assert routes == set(spec["paths"])


def test_webhook_results_are_signed_and_delivered_once(tmp_path, setup):
    app, db, token, c = setup()
    got = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.headers["X-Huifang-Timestamp"], self.headers["X-Huifang-Signature"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        store_of(db).insert("webhooks", {"url": f"http://127.0.0.1:{srv.server_port}/hook", "secret": "s3cret",
                               "created_at": "x", "cursor": ""})
        assert api.queue_webhooks(db) == 2 and api.queue_webhooks(db) == 0
        notifier = load_notifier(db, notify_toml(tmp_path))   # the web app queues, the notifier delivers
        assert notifier.run_once() == 2 and notifier.run_once() == 0
    finally:
        srv.shutdown()
    assert len(got) == 2
    ts, sig, body = got[0]
    assert verify("s3cret", ts, body, sig)
    assert json.loads(body)["event"] == "call.result"
    assert {r["status"] for r in db.query("SELECT status FROM outbox WHERE channel = 'webhook'")} == {"sent"}


def test_admin_creates_token_shown_once(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin"])
    c = Client(app)
    c.login("admin")
    c.get("/admin/tokens")
    page = c.post("/admin/tokens", {"name": "core-banking", "scope_pull": "1"}).get_data(as_text=True)
    token = page.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("hf_") and token not in c.get("/admin/tokens").get_data(as_text=True)
    assert app.test_client().get("/api/v1/results", headers=auth(token)).status_code == 200
    c.post("/admin/webhooks", {"url": "http://example.com/hook"})
    assert "Webhook 无效" in c.get("/admin/tokens").get_data(as_text=True)


def test_admin_revokes_tokens_toggles_webhooks_and_reads_the_audit_log(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin", "auditor"])
    c = Client(app)
    c.login("admin")
    c.get("/admin/tokens")
    page = c.post("/admin/tokens", {"name": "core-banking", "scope_pull": "1"}).get_data(as_text=True)
    token = page.split('id="new-token">')[1].split("<")[0]
    token_id = query(app, "SELECT id FROM api_tokens")[0]["id"]
    assert c.post(f"/admin/tokens/{token_id}/revoke").status_code == 302
    assert app.test_client().get("/api/v1/results", headers=auth(token)).status_code == 401
    assert c.post("/admin/webhooks", {"url": "http://127.0.0.1:9/hook", "secret": "s3cret"}).status_code == 302
    hook = query(app, "SELECT id, active, cursor FROM webhooks")
    assert len(hook) == 1 and hook[0]["active"] == 1 and api.decode_cursor(hook[0]["cursor"])[1] == ""
    c.post(f"/admin/webhooks/{hook[0]['id']}/toggle")
    assert query(app, "SELECT active FROM webhooks")[0]["active"] == 0
    c.post(f"/admin/webhooks/{hook[0]['id']}/toggle")
    assert query(app, "SELECT active FROM webhooks")[0]["active"] == 1
    auditor = Client(app)
    auditor.login("auditor")
    def listed(url):  # the audit rows a page shows
        return auditor.get(url).get_data(as_text=True).count("<tr><td>")
    assert listed("/audit?object_type=webhook&actor=admin") == 3          # added, toggled twice
    assert listed("/audit?action=token_revoke") == 1
    assert listed("/audit?actor=' OR 1=1 --") == 0
    total = query(app, "SELECT count(*) AS n FROM audit_log")[0]["n"]
    newest = query(app, "SELECT max(id) AS id FROM audit_log")[0]["id"]
    assert listed("/audit") == total and listed(f"/audit?before={newest}") == total - 1


def test_loan_ids_with_slashes_are_their_own_borrowers(setup):
    """A loan number may hold '/' ("2023/0001"); a client quotes it. Found by the fuzzer: '/0' was merged
    into '/api/v1/borrowers/0' and redirected — to another borrower's record."""
    from urllib.parse import quote
    app, db, token, c = setup()
    rows = [{"loan_id": loan, "name": "周八", "phone": f"1370000010{i}", "amount_due": 100 + i,
             "due_date": "2026-12-20"} for i, loan in enumerate(["0", "/0", "2023/0001", "2023/0001/"])]
    assert c.post("/api/v1/borrowers", headers=auth(token), json={"borrowers": rows}).get_json()["created"] == 4
    for row in rows:
        r = c.get(f"/api/v1/borrowers/{quote(row['loan_id'], safe='')}", headers=auth(token))
        assert r.status_code == 200, (row["loan_id"], r.status_code)
        assert (r.get_json()["loan_id"], r.get_json()["amount_due"]) == (row["loan_id"], row["amount_due"])
    assert c.get("/api/v1/borrowers/%2F%2F0", headers=auth(token)).status_code == 404
