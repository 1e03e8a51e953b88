"""The metrics registry, the /metrics + /healthz endpoint and health rules, and that each figure
moves at the one place its event happens (finalize, refusals, answers, turn latency, AMI lag,
queue wait, outbox backlog). Counters are process-global: every test compares before/after."""
from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from ivr import config, health, metrics
from ivr.ami import client as ami_client
from ivr.db.connect import connect
from ivr.dialer import campaigns, controller, scheduler, target_state
from ivr.dialer.policy import Policy, Refuse
from ivr.dialer.queue_wait import QueueWaits
from ivr.dialog.runner import CallContext, FlowRunner
from ivr.dialog.turns import Turn
from ivr.metrics_http import OpsEndpoint, database_check, evaluate
from ivr.notify import outbox
from ivr.notify.notifier import Delivery, Notifier

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


# ---- names and settings ------------------------------------------------------------------------
def test_every_metric_is_named_by_prometheus_conventions():
    names = {m.name for m in REGISTRY.collect() if m.name.startswith(metrics.PREFIX)}
    assert {"huifang_calls", "huifang_answers", "huifang_refusals", "huifang_turn_latency_seconds",
            "huifang_ami_event_lag_seconds", "huifang_ami_reconnects", "huifang_queue_wait_seconds",
            "huifang_outbox_backlog"} <= names
    text = "\n".join(line for m in REGISTRY.collect() if m.name.startswith(metrics.PREFIX)
                     for line in [m.name, m.type])
    for m in REGISTRY.collect():
        if m.name.startswith(metrics.PREFIX) and m.type == "histogram":
            assert m.name.endswith("_seconds"), m.name     # base unit in the name
    assert "huifang_calls\ncounter" in text                 # exported as huifang_calls_total


def test_label_values_never_empty():
    assert metrics.label(None) == "none" and metrics.label("") == "none" and metrics.label(" busy ") == "busy"


def test_each_process_has_its_own_port_derived_or_configured():
    s = config.load(env={"IVR_PORT_BASE": "20000", "IVR_WEB_METRICS_PORT": "9300"})
    ports = {p: s.metrics_port(p) for p in ("dialer", "dialog", "web", "notifier")}
    assert ports == {"dialer": 20581, "dialog": 20582, "web": 9300, "notifier": 20584}
    assert len(set(ports.values()) | {s.web_port_effective, s.ami_port_effective, s.agi_port, s.audiosocket_port}) == 8
    with pytest.raises(ValueError, match="no metrics port for process 'asterisk'"):
        s.metrics_port("asterisk")


# ---- health rules ------------------------------------------------------------------------------
def test_healthy_when_every_check_passes():
    status, body = evaluate("dialer", {"ami": lambda: None, "database": lambda: None})
    assert status == 200 and body == {"process": "dialer", "status": "ok", "checks": {"ami": "ok", "database": "ok"}}


def test_unhealthy_names_the_first_failure_and_every_check():
    def broken():
        raise OSError("disk gone")
    status, body = evaluate("dialer", {"ami": lambda: None, "database": broken, "x": lambda: "down"})
    assert status == 503 and body["status"] == "unavailable"
    assert body["reason"] == "database: OSError: disk gone"
    assert body["checks"] == {"ami": "ok", "database": "OSError: disk gone", "x": "down"}


def test_database_check_never_creates_the_database(tmp_path):
    missing = tmp_path / "nope.db"
    assert "does not exist" in database_check(missing)()
    assert not missing.exists()
    connect(tmp_path / "ok.db").conn.close()
    assert database_check(tmp_path / "ok.db")() is None
    assert database_check(f"sqlite:///{missing}")() == f"database {missing} does not exist"
    settings = config.load(env={}).replace(db_path=str(tmp_path / "ok.db"))
    assert database_check(settings)() is None and not missing.exists()


def test_database_check_on_postgresql_asks_the_server(postgres_url, tmp_path):
    """database_url switches the check: the SQLite file of the settings is not looked at."""
    settings = config.load(env={}).replace(db_path=str(tmp_path / "absent.db"), database_url=postgres_url)
    assert database_check(settings)() is None
    gone = sa.engine.make_url(postgres_url).set(database="no_such_db", password="s3cret")
    problem = database_check(gone.render_as_string(hide_password=False))()
    assert problem.startswith("database ") and "unreachable" in problem and "no_such_db" in problem
    assert "s3cret" not in problem
    refused = sa.engine.make_url(postgres_url).set(port=free_port())
    started = time.monotonic()
    assert "unreachable" in database_check(refused.render_as_string(hide_password=False))()
    assert time.monotonic() - started < 5 and not (tmp_path / "absent.db").exists()


def test_heartbeat_goes_stale():
    now = [100.0]
    beat = health.Heartbeat(max_age_s=30, clock=lambda: now[0])
    assert beat.check() == "the loop has not run yet"
    beat.beat()
    now[0] += 29
    assert beat.check() is None
    now[0] += 5
    assert beat.check() == "the loop last ran 34 s ago"


class _Placer:
    def __init__(self, connected):
        self.ami = type("Ami", (), {"connected": connected})()


def test_dialer_is_down_without_ami(tmp_path):
    s = config.load(env={}).replace(db_path=str(tmp_path / "h.db"))
    connect(s.database).conn.close()
    ctl = type("Ctl", (), {"placer": None})()
    checks = health.dialer_checks(s, ctl)
    assert evaluate("dialer", checks)[1]["reason"] == "ami: not started"
    ctl.placer = _Placer(False)
    assert evaluate("dialer", checks)[1]["reason"].startswith("ami: not connected to AMI 127.0.0.1:")
    ctl.placer = _Placer(True)
    assert evaluate("dialer", checks)[0] == 200


def test_dialog_server_is_down_until_listeners_serve_and_models_are_loaded(tmp_path):
    class Listener:
        def __init__(self, up):
            self.up = up

        def is_serving(self):
            return self.up

    speech = type("Speech", (), {"_models": {}, "available": lambda self, loc: loc == "ko-KR"})()
    server = type("Server", (), {"_servers": [], "speech": speech,
                                 "prompts": type("P", (), {"locales": ["zh-CN", "ko-KR"]})(),
                                 "settings": config.load(env={}).replace(db_path=str(tmp_path / "d.db"))})()
    connect(server.settings.database).conn.close()
    checks = health.dialog_checks(server)
    status, body = evaluate("dialog", checks)
    assert status == 503 and body["checks"]["listeners"] == "0 of 2 listeners (FastAGI, AudioSocket) serving"
    assert body["checks"]["speech_models"] == "speech model not loaded for ko-KR"   # zh-CN has none: keypad
    server._servers = [Listener(True), Listener(True)]
    speech._models["ko-KR"] = object()
    assert evaluate("dialog", checks)[0] == 200
    server._servers[1].up = False
    assert evaluate("dialog", checks)[1]["reason"] == "listeners: 1 of 2 listeners (FastAGI, AudioSocket) serving"


def test_web_app_is_down_when_it_answers_500_or_not_at_all(tmp_path):
    s = config.load(env={}).replace(db_path=str(tmp_path / "w.db"))
    connect(s.database).conn.close()
    code = [500]

    class App(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(code[0])
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        assert evaluate("web", health.web_checks(s, url))[1]["reason"] == "http: GET /login answered 500"
        code[0] = 200
        assert evaluate("web", health.web_checks(s, url))[0] == 200
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "URLError" in evaluate("web", health.web_checks(s, url, timeout_s=1))[1]["reason"]


# ---- the endpoint ------------------------------------------------------------------------------
def test_endpoint_serves_metrics_and_health_on_loopback():
    up = [True]
    ep = OpsEndpoint("dialer", "127.0.0.1", 0, {"ami": lambda: None if up[0] else "not connected"}).start()
    try:
        assert ep.port != 0 and ep.url == f"http://127.0.0.1:{ep.port}"
        metrics.CALLS.labels("answered", "answered-transferred").inc()
        status, ctype, text = get(ep.url + "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        line = next(x for x in text.splitlines()
                    if x.startswith('huifang_calls_total{disposition="answered-transferred",outcome="answered"}'))
        assert float(line.split()[-1]) == value("huifang_calls_total", outcome="answered",
                                                disposition="answered-transferred") >= 1
        status, ctype, text = get(ep.url + "/healthz")
        assert (status, ctype, json.loads(text)["status"]) == (200, "application/json", "ok")
        up[0] = False
        status, _, text = get(ep.url + "/healthz")
        assert status == 503 and json.loads(text)["reason"] == "ami: not connected"
        assert get(ep.url + "/")[0] == 404
    finally:
        ep.stop()


def test_a_busy_port_is_a_clear_error():
    first = OpsEndpoint("dialog", "127.0.0.1", 0).start()
    try:
        with pytest.raises(OSError, match=r"dialog: cannot serve /metrics on 127\.0\.0\.1:\d+: .*"
                                          r"\(set dialog_metrics_port\)"):
            OpsEndpoint("dialog", "127.0.0.1", first.port).start()
    finally:
        first.stop()


# ---- where each figure moves -------------------------------------------------------------------
@pytest.fixture
def db(tmp_path):
    d = connect(tmp_path / "t.db")
    d["borrowers"].insert({"id": 1, "loan_id": "L1", "name": "张伟", "amount_due": 3500, "due_date": "2026-12-05",
                           "locale": "zh-CN", "timezone": "Asia/Shanghai", "created_at": "x", "updated_at": "x"})
    d["contacts"].insert({"id": 1, "borrower_id": 1, "phone": "13800000001", "kind": "mobile", "status": "ok",
                          "created_at": "x"})
    cid = campaigns.create(d, name="t", selection={"all": True}, max_attempts=3, now=NOW)
    campaigns.apply_command(d, cid, "start", now=NOW)
    return d


def _ended(db, aid, **row):
    target_state.claim(db, 1, 1, aid, NOW)
    db["attempts"].insert({"id": aid, "borrower_id": 1, "contact_id": 1, "campaign_id": 1, "number": "13800000001",
                           "locale": "zh-CN", "state": "ended", "created_at": controller.iso(NOW), **row})


def test_a_call_is_counted_once_by_outcome_and_disposition_when_finalized(db):
    before = value("huifang_calls_total", outcome="busy", disposition="busy")
    _ended(db, "a1", outcome="busy", cause=17)
    controller.finalize(db, "a1", NOW)
    controller.finalize(db, "a1", NOW)   # a repeated finalize (restart, reconcile) counts nothing
    assert value("huifang_calls_total", outcome="busy", disposition="busy") == before + 1


def test_an_attempt_closed_after_a_restart_is_counted_where_it_is_closed(db):
    before = value("huifang_calls_total", outcome="none", disposition="unknown-after-restart")
    _ended(db, "a2")
    db["attempts"].update("a2", {"state": "dialing"})
    controller.close_lost(db, "a2", None, NOW)
    controller.finalize(db, "a2", NOW)
    assert value("huifang_calls_total", outcome="none", disposition="unknown-after-restart") == before + 1


def test_refusals_are_counted_by_rule_each_time_the_policy_refuses(db):
    before = value("huifang_refusals_total", rule="outside-calling-hours")
    refusal = Refuse(1, 1, "outside-calling-hours", NOW + dt.timedelta(hours=1))
    policies = {1: Policy()}
    scheduler.record_refusals(db, [refusal], NOW, policies)
    scheduler.record_refusals(db, [refusal], NOW, policies)   # logged once (rate-limited), counted twice
    assert value("huifang_refusals_total", rule="outside-calling-hours") == before + 2
    assert db.execute("SELECT count(*) FROM dial_refusals").fetchone()[0] == 1


def test_queue_wait_ends_when_an_agent_answers_the_queue_gives_up_or_the_borrower_hangs_up():
    now = [0.0]
    waits = QueueWaits(clock=lambda: now[0])
    queued = {"Event": "UserEvent", "UserEvent": "HuifangStage", "Stage": "queued", "Attempt": "a"}
    count = {r: value("huifang_queue_wait_seconds_count", result=r) for r in ("answered", "timeout", "abandoned")}
    total = value("huifang_queue_wait_seconds_sum", result="answered")

    assert waits.observe("a", {"Event": "AgentConnect", "Uniqueid": "a"}) is None   # not queued: no wait
    waits.observe("a", queued)
    now[0] = 12.5
    assert waits.observe("a", {"Event": "Newstate", "Uniqueid": "a"}) is None
    assert waits.observe("a", {"Event": "AgentConnect", "Uniqueid": "a", "HoldTime": "12"}) == ("answered", 12.5)
    assert waits.observe("a", {"Event": "Hangup", "Uniqueid": "a"}) is None          # already counted

    waits.observe("b", queued)
    now[0] = 72.5
    assert waits.observe("b", {"Event": "UserEvent", "UserEvent": "HuifangStage", "Stage": "queue-ended",
                               "QueueStatus": "TIMEOUT"}) == ("timeout", 60.0)
    waits.observe("c", queued)
    assert waits.observe("c", {"Event": "Hangup", "Uniqueid": "c-other-leg"}) is None
    assert waits.observe("c", {"Event": "Hangup", "Uniqueid": "c"}) == ("abandoned", 0.0)
    # the answered call runs on the borrower's own channel (the Local pair is long gone): its Hangup counts
    waits.observe("d", {**queued, "Attempt": "d", "Uniqueid": "pbx-1.7"})
    assert waits.observe("d", {"Event": "Hangup", "Uniqueid": "d"}) is None
    assert waits.observe("d", {"Event": "Hangup", "Uniqueid": "pbx-1.7"}) == ("abandoned", 0.0)
    assert value("huifang_queue_wait_seconds_sum", result="answered") == total + 12.5
    assert {r: value("huifang_queue_wait_seconds_count", result=r) - n for r, n in count.items()} == \
        {"answered": 1, "timeout": 1, "abandoned": 2}


def test_ami_event_lag_is_taken_from_the_asterisk_timestamp():
    count, total = value("huifang_ami_event_lag_seconds_count"), value("huifang_ami_event_lag_seconds_sum")
    ami_client._observe_lag({"Event": "Newstate", "Timestamp": f"{time.time() - 2.0:.6f}"})
    ami_client._observe_lag({"Event": "Newstate"})                    # no timestamp: nothing to measure
    assert value("huifang_ami_event_lag_seconds_count") == count + 1
    assert 2.0 <= value("huifang_ami_event_lag_seconds_sum") - total < 3.0


def test_outbox_backlog_counts_queued_messages_per_channel(db):
    borrower = next(db.query("SELECT * FROM borrowers"))
    for n in range(3):
        outbox.enqueue(db, key=f"k{n}", channel="sms", borrower=borrower, to_address="13800000001",
                       template="unreachable", now=NOW - dt.timedelta(minutes=10 - n))

    class Sender:
        name = "sms"

        def send(self, message):
            return Delivery(ok=message["idempotency_key"] == "k0", error="provider down")

    sent = value("huifang_outbox_deliveries_total", channel="sms", result="sent")
    later = NOW + dt.timedelta(minutes=1)
    Notifier(db, {"sms": Sender()}, clock=type("C", (), {"now": lambda self: later})()).run_once()
    assert value("huifang_outbox_backlog", channel="sms") == 2            # k1, k2 wait for their retry
    assert value("huifang_outbox_backlog", channel="wechat") == 0
    assert value("huifang_outbox_oldest_age_seconds") == 10 * 60          # k1: queued 9 min before NOW
    assert value("huifang_outbox_deliveries_total", channel="sms", result="sent") == sent + 1


# ---- answers and turn latency, through the flow runner ------------------------------------------
class _Conn:
    """What the runner reads of the AudioSocket connection: audio bursts sent and when the last began."""
    bursts = 0
    burst_started_at = None


class _TimedAudio:
    """Each answer ends at a known moment; the reply after it starts 0.4 s later."""

    def __init__(self, turns):
        self.turns, self.conn, self.answer_end = list(turns), _Conn(), None

    def _burst(self):
        self.conn.bursts += 1
        self.conn.burst_started_at = (self.answer_end + 0.4) if self.answer_end is not None else time.monotonic()

    async def say(self, pcm):
        self._burst()

    async def ask(self, pcm, utterance, **kw):
        self._burst()
        turn = self.turns.pop(0) if self.turns else Turn(via="none")
        self.answer_end = time.monotonic()
        turn.speech_ended = turn.result_at = self.answer_end
        return turn


def test_answers_are_counted_as_stored_by_decision_and_via_and_turn_latency_is_measured():
    from tests.unit.test_runner_decisions import BORROWER, TODAY, Speech, Store, TextOnlyPrompts, keys, voice
    from ivr.dialog.flow import load as load_flow

    settings = config.load(env={})
    flow = load_flow(settings.flows_dir / "followup.yaml", settings.prompts_dir)
    labels = [("confirm", "voice"), ("none", "keypad"), ("reject", "voice")]
    before = {lv: value("huifang_answers_total", decision=lv[0], via=lv[1]) for lv in labels}
    lat = {v: (value("huifang_turn_latency_seconds_count", via=v), value("huifang_turn_latency_seconds_sum", via=v))
           for v in ("voice", "keypad")}
    store = Store()
    ctx = CallContext(attempt_id="a1", locale="ko-KR", borrower=dict(BORROWER), today=TODAY)
    audio = _TimedAudio([voice(("네", 100.0)), keys("1"), keys("1234"), keys("1")])
    asyncio.run(FlowRunner(flow, TextOnlyPrompts(settings), Speech(), audio, store, ctx).run())

    stored: dict[tuple, int] = {}
    for row in store.rows:
        key = (row["decision"] or "none", row["via"])
        stored[key] = stored.get(key, 0) + 1
    counted = {lv: value("huifang_answers_total", decision=lv[0], via=lv[1]) - before[lv] for lv in labels}
    assert {k: v for k, v in counted.items() if v} == stored == {("confirm", "voice"): 1, ("none", "keypad"): 3}
    replies = {v: value("huifang_turn_latency_seconds_count", via=v) - lat[v][0] for v in lat}
    assert replies == {"voice": 1, "keypad": 3}   # every answer here was followed by a prompt
    assert value("huifang_turn_latency_seconds_sum", via="keypad") - lat["keypad"][1] == pytest.approx(1.2)


# ---- the dashboard and the alert rules name only metrics that exist ------------------------------
def _exported_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith(metrics.PREFIX):
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
            names |= {family.name + s for s in suffixes[family.type]}
    return names


def test_dashboard_and_alerts_use_only_defined_metrics():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "ops/grafana/huifang.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    readme = (root / "README.md").read_text()
    alerts = readme[readme.index("### What to alert on"):]
    alerts = alerts[:alerts.index("\n## ")]
    used = set(re.findall(r"huifang_[a-z_]+", " ".join(exprs) + alerts))
    assert used and used <= _exported_names(), used - _exported_names()
    assert {"huifang_calls_total", "huifang_answers_total", "huifang_turn_latency_seconds_bucket",
            "huifang_ami_event_lag_seconds_bucket", "huifang_queue_wait_seconds_bucket", "huifang_outbox_backlog",
            "huifang_refusals_total", "huifang_ami_reconnects_total"} <= used
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_each_scrape_reports_the_health_checks():
    up = [True]
    ep = OpsEndpoint("notifier", "127.0.0.1", 0, {"send_loop": lambda: None if up[0] else "stale"}).start()
    try:
        get(ep.url + "/metrics")
        assert value("huifang_health_check", check="send_loop") == 1
        up[0] = False
        get(ep.url + "/metrics")
        assert value("huifang_health_check", check="send_loop") == 0
    finally:
        ep.stop()


def test_each_process_serves_only_what_it_records():
    # a labelled histogram shows its buckets once a call was measured; measure one here instead of
    # relying on a test that ran before (alone, or on another xdist worker, there is none)
    metrics.TURN_LATENCY.labels(via="keypad").observe(0.3)
    dialog = OpsEndpoint("dialog", "127.0.0.1", 0).start()
    dialer = OpsEndpoint("dialer", "127.0.0.1", 0).start()
    try:
        dialog_text, dialer_text = get(dialog.url + "/metrics")[2], get(dialer.url + "/metrics")[2]
    finally:
        dialog.stop()
        dialer.stop()
    assert "huifang_turn_latency_seconds_bucket" in dialog_text and "process_resident_memory_bytes" in dialog_text
    assert "huifang_ami_connected" not in dialog_text      # would fire the AMI alert from the wrong process
    assert "huifang_ami_connected" in dialer_text and "huifang_answers" not in dialer_text
    assert "_created" not in dialer_text
    with pytest.raises(ValueError, match="unknown process 'asterisk'"):
        metrics.registry_for("asterisk")


def test_web_responses_are_counted_by_status_code():
    from ivr.web.response_metrics import count_responses

    def app(environ, start_response):
        start_response(environ["want"], [])
        return [b""]

    counted = count_responses(app)
    before = value("huifang_web_responses_total", code="500")
    counted({"want": "500 INTERNAL SERVER ERROR"}, lambda status, headers, exc_info=None: None)
    counted({"want": "200 OK"}, lambda status, headers, exc_info=None: None)
    assert value("huifang_web_responses_total", code="500") == before + 1


def test_ami_reconnects_and_connection_state_are_counted():
    from tests.unit.test_ami_client import make_client, until, with_fake

    @with_fake
    async def scenario(fake):
        client, _, states = make_client(fake, ping_interval=10)
        before = value("huifang_ami_reconnects_total")
        await client.start()
        try:
            await until(lambda: value("huifang_ami_connected") == 1)
            fake.drop_all()
            await until(lambda: value("huifang_ami_connected") == 0)
            await until(lambda: fake.logins == 2)
            await client.wait_connected(3)
            await until(lambda: value("huifang_ami_connected") == 1)
            assert value("huifang_ami_reconnects_total") == before + 1   # the first login is no reconnect
        finally:
            await client.close()
    scenario()
