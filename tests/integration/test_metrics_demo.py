"""The figures of a real campaign, read as Prometheus reads them.

What it proves: a short demo campaign (`ivr demo`'s own steps: the stack, the borrower CSV import,
the controller until idle) through the real Asterisk, dialog server and phones, with the dialer's
and the dialog server's /metrics and /healthz on 127.0.0.1 as the demo serves them. Scraped with
urllib and parsed with prometheus-client's parser:
  * huifang_calls_total by outcome and disposition equals the attempts table;
  * huifang_answers_total by decision and via equals the answers table (the dialog server process);
  * turn latency, AMI event lag and the transferred call's queue wait were observed;
  * /healthz said 200 while the dialer ran, and says 503 with a reason once its AMI link is closed.
Its own stack on its own ports (`stack_settings`), four personas.
SQLite only, for the suite's time (~2 min a run): the figures are counted by the processes, not the
database; the database only witnesses them.
"""
from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr import health
from ivr.db.connect import connect
from ivr.demo import DATA, run_campaign, write_borrowers_csv
from tests.support.stacks import running_stack

pytestmark = pytest.mark.integration

# keypad + voice, busy, a transfer to the agents' queue, a spoken "wrong person"
NUMBERS = ("01010000001", "13800000003", "13800000009", "01010000007")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(url: str, name: str) -> dict[tuple, float]:
    """{sorted label items: value} of one sample name in a /metrics page."""
    status, text = get(url + "/metrics")
    assert status == 200
    return {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


@pytest.fixture(scope="module")
def campaign(stack_settings):
    settings = stack_settings("test-metrics", ring_timeout_s=8)
    everyone = json.loads((DATA / "personas.json").read_text())
    table = {k: v for k, v in json.loads((DATA / "borrowers.json").read_text()).items() if not k.startswith("_")}
    with running_stack(settings, {n: everyone[n] for n in NUMBERS}, run_dir="") as stack:
        dialog_url = f"http://{settings.bind}:{settings.metrics_port('dialog')}"
        dialog_health = get(dialog_url + "/healthz")
        ops = health.serve("dialer", settings, health.dialer_checks(settings, None))
        try:
            before = samples(ops.url, "huifang_calls_total")
            health_before = get(ops.url + "/healthz")
            seen, done = [], threading.Event()

            def poll():   # the dialer's health while the campaign runs
                while not done.wait(0.3):
                    status, body = get(ops.url + "/healthz")
                    seen.append((status, json.loads(body)["checks"]))

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            csv_path = write_borrowers_csv(settings.database.parent / "borrowers.csv", stack.personas, table)
            rows = asyncio.run(run_campaign(settings, csv_path, ops))
            done.set()
            poller.join(5)
            yield {"settings": settings, "rows": rows, "dialer": ops.url, "dialog": dialog_url,
                   "dialog_health": dialog_health, "dialer_health_before": health_before,
                   "dialer_health_during": seen,
                   "dialer_health_after": get(ops.url + "/healthz"),
                   "calls_before": before}
        finally:
            ops.stop()


def test_calls_by_outcome_and_disposition_equal_the_attempts_table(campaign):
    db = connect(campaign["settings"].database)
    table = {tuple(sorted({"outcome": r["outcome"] or "none", "disposition": r["disposition"] or "none"}.items())):
             float(r["n"]) for r in db.query("SELECT outcome, disposition, count(*) AS n FROM attempts "
                                              "GROUP BY outcome, disposition")}
    counted = delta(samples(campaign["dialer"], "huifang_calls_total"), campaign["calls_before"])
    assert sum(table.values()) == len(NUMBERS)
    assert counted == table
    assert (("disposition", "busy"), ("outcome", "busy")) in counted


def test_answers_by_decision_and_via_equal_the_answers_table(campaign):
    db = connect(campaign["settings"].database)
    table = {tuple(sorted({"decision": r["decision"] or "none", "via": r["via"]}.items())): float(r["n"])
             for r in db.query("SELECT decision, via, count(*) AS n FROM answers GROUP BY decision, via")}
    assert sum(table.values()) >= 4 and any(dict(k)["via"] == "voice" for k in table), table
    assert samples(campaign["dialog"], "huifang_answers_total") == table


def test_latency_lag_and_queue_wait_were_observed(campaign):
    turns = samples(campaign["dialog"], "huifang_turn_latency_seconds_count")
    assert sum(turns.values()) >= 3, turns
    lag = samples(campaign["dialer"], "huifang_ami_event_lag_seconds_count")
    assert sum(lag.values()) > 20   # every event of four calls
    waits = samples(campaign["dialer"], "huifang_queue_wait_seconds_count")
    transferred = [r for r in campaign["rows"] if r["disposition"] == "answered-transferred"]
    assert transferred and sum(waits.values()) >= len(transferred), waits
    assert samples(campaign["dialog"], "huifang_dialogs_active") == {(): 0.0}


def test_health_endpoints_say_up_and_why_not(campaign):
    status, body = campaign["dialog_health"]
    assert status == 200 and json.loads(body)["checks"] == {"listeners": "ok", "speech_models": "ok",
                                                            "database": "ok"}
    status, body = campaign["dialer_health_before"]   # no controller yet
    assert status == 503 and json.loads(body)["checks"] == {"ami": "not started", "database": "ok"}
    assert (200, {"ami": "ok", "database": "ok"}) in campaign["dialer_health_during"]
    status, body = campaign["dialer_health_after"]
    assert status == 503 and json.loads(body)["reason"].startswith("ami: not connected to AMI 127.0.0.1:")
