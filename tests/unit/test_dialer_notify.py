"""Fallback messages: outbox idempotency, webhook signing, retries/backoff, the Aliyun SMS SDK
adapter, all against HTTP servers on 127.0.0.1."""
from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import pytest

from ivr.db.connect import connect
from ivr.db.store import store_of
from ivr.dialer.clock import FixedClock
from ivr.notify import outbox
from ivr.notify.aliyun import AliyunSmsSender
from ivr.notify.notifier import Notifier
from ivr.notify.webhook import WebhookSender, verify

SECRET = "s3cret"


class Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        srv = self.server
        srv.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, reply = srv.replies.pop(0) if srv.replies else (200, {"id": "m-1"})
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.requests, srv.replies = [], []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def seed(handle):
    store_of(handle).insert("borrowers", {"loan_id": "LN0001234", "name": "张伟", "amount_due": 3500,
                                          "due_date": "2026-12-05", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                                          "created_at": "x", "updated_at": "x"})
    return handle


@pytest.fixture
def db(any_db):
    """The outbox and the notifier's statements run on both engines."""
    return seed(any_db)


@pytest.fixture
def sqlite_db(tmp_path):
    """For the provider adapter's test, whose subject is the HTTP exchange, not the SQL."""
    return seed(connect(tmp_path / "t.db"))


def borrower(db):
    return store_of(db).one("SELECT * FROM borrowers WHERE loan_id = 'LN0001234'")


def queued(db):
    return outbox.for_borrower(db, borrower(db)["id"])


def test_enqueue_is_idempotent_and_renders_locale_template(db):
    a, created = outbox.enqueue(db, key="k1", channel="sms", borrower=borrower(db), to_address="13800000001",
                                template="unreachable", lender="某汽车金融")
    b, again = outbox.enqueue(db, key="k1", channel="sms", borrower=borrower(db), to_address="13800000001",
                              template="unreachable")
    assert created and not again and a == b
    row = queued(db)
    assert len(row) == 1 and "张伟" in row[0]["body"] and "3500" in row[0]["body"] and "1234" in row[0]["body"]
    assert row[0]["body"].startswith("【某汽车金融】")


def test_webhook_signed_post_retries_with_backoff_then_sent(db, server):
    clock = FixedClock(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc))
    outbox.enqueue(db, key="k2", channel="sms", borrower=borrower(db), to_address="13800000001",
                   template="unreachable", now=clock.now())
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    n = Notifier(db, {"sms": WebhookSender(url, SECRET)}, base_delay_s=30, clock=clock)
    server.replies = [(503, {"error": "down"}), (500, {"error": "down"})]
    assert n.run_once() == 1
    row = queued(db)[0]
    assert row["status"] == "queued" and row["tries"] == 1 and row["next_try_at"] == "2026-12-01T02:00:30.000+00:00"
    assert n.run_once() == 0                      # not due yet
    clock.advance(seconds=30)
    assert n.run_once() == 1
    row = queued(db)[0]
    assert row["tries"] == 2 and row["next_try_at"] == "2026-12-01T02:01:30.000+00:00"   # 60 s later
    clock.advance(seconds=60)
    assert n.run_once() == 1
    row = queued(db)[0]
    assert row["status"] == "sent" and row["provider_id"] == "m-1"
    deliveries = store_of(db).query("SELECT ok, status_code, error FROM deliveries ORDER BY id")
    assert deliveries == [{"ok": 0, "status_code": 503, "error": "HTTP 503"},
                          {"ok": 0, "status_code": 500, "error": "HTTP 500"},
                          {"ok": 1, "status_code": 200, "error": None}]
    req = server.requests[-1]
    assert verify(SECRET, req["headers"]["X-Huifang-Timestamp"], req["body"], req["headers"]["X-Huifang-Signature"])
    assert not verify("wrong", req["headers"]["X-Huifang-Timestamp"], req["body"], req["headers"]["X-Huifang-Signature"])
    assert req["headers"]["Idempotency-Key"] == "k2"
    payload = json.loads(req["body"])
    assert payload["to"] == "13800000001" and payload["template"] == "unreachable"


def test_webhook_4xx_is_final_and_max_tries(db, server):
    outbox.enqueue(db, key="k3", channel="sms", borrower=borrower(db), to_address="1", template="unreachable")
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.replies = [(400, {"error": "bad"})]
    Notifier(db, {"sms": WebhookSender(url, SECRET)}).run_once()
    assert queued(db)[0]["status"] == "failed"
    # a dead endpoint: network errors are retried, then the message fails after max_tries
    clock = FixedClock(dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
    outbox.enqueue(db, key="k4", channel="sms", borrower=borrower(db), to_address="1", template="unreachable",
                   now=clock.now())
    dead = Notifier(db, {"sms": WebhookSender("http://127.0.0.1:9/x", SECRET, timeout_s=1)}, max_tries=3,
                    base_delay_s=1, clock=clock)
    for _ in range(5):
        dead.run_once()
        clock.advance(seconds=10)
    row = next(r for r in queued(db) if r["idempotency_key"] == "k4")
    assert row["status"] == "failed" and row["tries"] == 3


def test_webhook_refuses_plain_http_off_box():
    with pytest.raises(ValueError):
        WebhookSender("http://example.com/hook", SECRET)


def test_aliyun_sdk_adapter_against_local_endpoint(sqlite_db, server):
    db = sqlite_db
    clock = FixedClock(dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
    outbox.enqueue(db, key="k5", channel="sms", borrower=borrower(db), to_address="13800000001",
                   template="unreachable", now=clock.now())
    sender = AliyunSmsSender(endpoint=f"127.0.0.1:{server.server_address[1]}", protocol="http",
                             access_key_id="AKID", access_key_secret="SECRET", sign_name="测试金融",
                             templates={"unreachable.zh-CN": "SMS_0001"})
    server.replies = [(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "limit", "RequestId": "r1"}),
                      (200, {"Code": "OK", "Message": "OK", "BizId": "biz-42", "RequestId": "r2"})]
    n = Notifier(db, {"sms": sender}, base_delay_s=1, clock=clock)
    n.run_once()
    assert queued(db)[0]["status"] == "queued"
    clock.advance(seconds=2)
    n.run_once()
    row = queued(db)[0]
    assert row["status"] == "sent" and row["provider_id"] == "biz-42"
    req = server.requests[-1]
    text = req["path"] + "?" + req["body"].decode()
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers.get("x-acs-action") == "SendSms", headers
    assert "SMS_0001" in text and "13800000001" in text
    assert "AKID" in text or "AKID" in json.dumps(req["headers"])
