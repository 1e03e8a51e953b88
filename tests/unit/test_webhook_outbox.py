"""One delivery path for every event: the web app's background loop only puts call results into the
outbox (channel "webhook"); nothing reaches the lender's webhook until the notifier runs, and then
it arrives signed with that webhook's secret, the result's idempotency key, exactly once. A failing
receiver is retried by the notifier; a disabled webhook is given up, not retried."""
from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time

import pytest

from ivr.notify.config import load_notifier
from ivr.notify.outbox import enqueue_event, measure_backlog
from ivr.notify.webhook import verify
from ivr.web import api
from ivr.web.server import Server
from tests.support.web_app import db_of, make_app, seed


@pytest.fixture
def receiver():
    """A loopback webhook receiver; `codes` is the status it answers with, in order (then 204)."""
    got, codes = [], []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"headers": dict(self.headers), "body": body})
            self.send_response(codes.pop(0) if codes else 204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/hook", got, codes
    srv.shutdown()


def _notifier(db, tmp_path):
    path = tmp_path / "notify.toml"
    path.write_text("[notify]\nmax_tries = 3\nbase_delay_s = 0\n")   # no sms/wechat: webhooks need no section
    return load_notifier(db, path)


def test_web_app_event_lands_in_outbox_and_only_the_notifier_delivers_it(tmp_path, receiver):
    url, got, _ = receiver
    app = make_app(tmp_path)
    seed(app)
    db = db_of(app)
    hook_id = db["webhooks"].insert({"url": url, "secret": "k3y", "created_at": "x", "cursor": ""}).last_pk
    server = Server(app).start()     # the web app, with its background loop, as `ivr web serve` runs it
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and db.execute("SELECT count(*) FROM outbox").fetchone()[0] < 2:
            time.sleep(0.2)
        time.sleep(5.5)              # at least one more round of the web app's loop
    finally:
        server.stop()
    rows = list(db.query("SELECT * FROM outbox ORDER BY id"))
    assert [(r["channel"], r["status"], r["to_address"], r["template"]) for r in rows] == \
        [("webhook", "queued", str(hook_id), "call.result")] * 2
    assert got == []                                          # the web app delivered nothing itself
    assert measure_backlog(db, dt.datetime.now(dt.timezone.utc))["webhook"] == 2

    assert _notifier(db, tmp_path).run_once() == 2
    assert len(got) == 2 and _notifier(db, tmp_path).run_once() == 0
    attempts = sorted(json.loads(g["body"])["attempt_id"] for g in got)
    assert attempts == sorted(json.loads(r["body"])["attempt_id"] for r in rows)
    for g in got:
        h = g["headers"]
        assert verify("k3y", h["X-Huifang-Timestamp"], g["body"], h["X-Huifang-Signature"])
        assert h["Idempotency-Key"] == "result-" + json.loads(g["body"])["attempt_id"]
        assert json.loads(g["body"])["event"] == "call.result"
    assert {r["status"] for r in db.query("SELECT status FROM outbox")} == {"sent"}
    assert db.execute("SELECT count(*) FROM deliveries WHERE ok = 1").fetchone()[0] == 2


def test_notifier_retries_a_failing_receiver_and_gives_up_on_a_disabled_webhook(tmp_path, receiver):
    url, got, codes = receiver
    app = make_app(tmp_path)
    seed(app)
    db = db_of(app)
    hook_id = db["webhooks"].insert({"url": url, "secret": "k3y", "created_at": "x", "cursor": ""}).last_pk
    assert api.queue_webhooks(db) == 2
    codes.extend([503, 503])
    notifier = _notifier(db, tmp_path)
    notifier.run_once()
    assert {r["status"] for r in db.query("SELECT status FROM outbox")} == {"queued"}   # 503: try again
    notifier.run_once()
    assert {r["status"] for r in db.query("SELECT status FROM outbox")} == {"sent"} and len(got) == 4

    db.execute("UPDATE webhooks SET active = 0, cursor = '' WHERE id = ?", [hook_id])
    db.execute("UPDATE outbox SET status = 'queued', tries = 0")
    notifier.run_once()
    assert len(got) == 4
    assert {(r["status"], r["last_error"]) for r in db.query("SELECT * FROM outbox")} == \
        {("failed", f"webhook {hook_id} removed or disabled")}


def test_the_notifier_delivers_queued_events_on_either_engine(tmp_path, receiver, any_db, store):
    """The notifier's side alone, on SQLite and PostgreSQL: events queued twice under one key are one
    row, delivered once, signed with their webhook's secret; the backlog empties; a webhook disabled
    meanwhile is given up, not retried."""
    url, got, codes = receiver
    hook = store.insert("webhooks", {"url": url, "secret": "k3y", "created_at": "x", "cursor": ""})
    off = store.insert("webhooks", {"url": url, "secret": "other", "created_at": "x", "cursor": "", "active": 0})
    for attempt, webhook_id in (("a1", hook), ("a2", hook), ("a1", hook), ("a3", off)):
        enqueue_event(any_db, key=f"webhook-{webhook_id}-result-{attempt}", webhook_id=webhook_id,
                      event="call.result", payload={"attempt_id": attempt}, idempotency_key=f"result-{attempt}")
    assert measure_backlog(any_db, dt.datetime.now(dt.timezone.utc))["webhook"] == 3
    codes.append(503)                         # the first POST fails and is tried again later
    notifier = _notifier(any_db, tmp_path)
    assert notifier.run_once() == 3
    assert notifier.run_once() == 1           # base_delay_s = 0: the 503 one is due again at once
    assert notifier.run_once() == 0
    assert sorted(json.loads(g["body"])["attempt_id"] for g in got) == ["a1", "a1", "a2"]
    for g in got:
        h = g["headers"]
        assert verify("k3y", h["X-Huifang-Timestamp"], g["body"], h["X-Huifang-Signature"])
        assert h["Idempotency-Key"] == "result-" + json.loads(g["body"])["attempt_id"]
    rows = store.query("SELECT to_address, status, tries, last_error FROM outbox ORDER BY id")
    assert [(r["to_address"], r["status"]) for r in rows] == [(str(hook), "sent")] * 2 + [(str(off), "failed")]
    assert rows[2]["last_error"] == f"webhook {off} removed or disabled"
    assert store.scalar("SELECT COUNT(*) FROM deliveries WHERE ok = 1") == 2
    assert store.scalar("SELECT COUNT(*) FROM deliveries") == 4
    assert measure_backlog(any_db, dt.datetime.now(dt.timezone.utc))["webhook"] == 0
