"""Dispositions from attempt rows + dialog results, the retry rule of each, and their effect on
campaign targets and contacts (finalize, fallback queueing, restart closing). The tests against a
database run on SQLite and on PostgreSQL (`any_db`)."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from ivr.db.store import store_of
from ivr.dialer import campaigns, controller, dispositions, target_state

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)  # 10:00 in Shanghai


@pytest.mark.parametrize("attempt,result,early,expected", [
    ({"outcome": "answered"}, "completed", False, "answered-completed"),
    ({"outcome": "answered"}, "promise", False, "answered-completed"),
    ({"outcome": "answered"}, "refused", False, "answered-completed"),
    ({"outcome": "answered"}, "transferred", False, "answered-transferred"),
    ({"outcome": "answered"}, "hung_up", False, "answered-hung-up-early"),
    ({"outcome": "answered"}, "wrong_person", False, "answered-wrong-person"),
    ({"outcome": "answered"}, "id_mismatch", False, "answered-id-mismatch"),
    ({"outcome": "answered"}, "no_input", False, "answered-no-input"),
    ({"outcome": "answered"}, "callback_requested", False, "answered-callback-requested"),
    ({"outcome": "answered"}, "error", False, "answered-error"),
    ({"outcome": "answered"}, None, False, "answered-no-dialog"),
    ({"outcome": "busy", "cause": 17}, None, False, "busy"),
    ({"outcome": "no-answer", "cause": 19}, None, False, "no-answer"),
    ({"outcome": "rejected", "cause": 21}, None, False, "rejected"),
    ({"outcome": "invalid-number", "cause": 1}, None, False, "invalid-number"),
    ({"outcome": "invalid-number", "cause": 1, "sip_code": 404}, None, True, "carrier-announcement"),
    ({"outcome": "unreachable", "cause": 3}, None, False, "unreachable"),
    ({"outcome": "unreachable", "cause": 34}, None, False, "congestion"),
    ({"outcome": "unreachable", "dial_status": "CONGESTION"}, None, False, "congestion"),
    ({"outcome": "unreachable", "cause": 38}, None, False, "network-error"),
    ({"outcome": "failed", "cause": 41}, None, False, "network-error"),
    ({"outcome": "failed"}, None, False, "dialer-error"),
    ({"outcome": None, "disposition": "unknown-after-restart"}, None, False, "unknown-after-restart"),
])
def test_taxonomy(attempt, result, early, expected):
    assert dispositions.classify(attempt, result, early_media=early) == expected


def test_every_disposition_has_a_rule_and_overrides_are_validated():
    r = dispositions.rules({"busy": {"delay_s": 5}})
    assert r["busy"].delay_s == 5 and r["busy"].failed and r["no-answer"].delay_s == 7200
    for bad in ({"nope": {}}, {"busy": {"action": "explode"}}, {"busy": {"zzz": 1}}, {"busy": {"delay_s": -1}}):
        with pytest.raises(ValueError):
            dispositions.rules(bad)


@pytest.mark.parametrize("disp,status,delay,mark,reason", [
    ("busy", "pending", 600, None, None),
    ("no-answer", "pending", 7200, None, None),
    ("invalid-number", "pending", 0, "invalid", None),
    ("answered-wrong-person", "pending", 600, "wrong_person", None),
    ("answered-completed", "done", None, None, "completed"),
    ("answered-id-mismatch", "done", None, None, "id-mismatch"),
])
def test_default_rules(disp, status, delay, mark, reason):
    n = dispositions.next_step(disp, dispositions.DEFAULT_RULES[disp], attempts=1, max_attempts=6,
                               fails_in_row=0, now=NOW)
    assert n.status == status and n.mark_contact == mark and n.done_reason == reason
    assert (n.next_at - NOW).total_seconds() == delay if delay is not None else n.next_at is None


def test_exhausted_and_fail_streak():
    rule = dispositions.DEFAULT_RULES["busy"]
    n = dispositions.next_step("busy", rule, attempts=6, max_attempts=6, fails_in_row=2, now=NOW)
    assert n.status == "done" and n.done_reason == "exhausted" and n.fails_in_row == 3
    ok = dispositions.DEFAULT_RULES["answered-hung-up-early"]
    assert dispositions.next_step("x", ok, attempts=1, max_attempts=6, fails_in_row=2, now=NOW).fails_in_row == 0
    # third-party attempts do not touch the borrower's own fail streak
    assert dispositions.next_step("busy", rule, attempts=1, max_attempts=6, fails_in_row=3, now=NOW,
                                  kind="third_party").fails_in_row == 3


def test_callback_at_requested_time():
    answers = [{"intent": "callback", "slots": json.dumps({"date": "2026-12-02", "time": "15:00"})}]
    at = dispositions.callback_time(answers, "Asia/Shanghai")
    assert at == dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.timezone.utc)
    n = dispositions.next_step("answered-callback-requested", dispositions.DEFAULT_RULES["answered-callback-requested"],
                               attempts=1, max_attempts=6, fails_in_row=0, now=NOW, callback_at=at)
    assert n.next_at == at
    n = dispositions.next_step("answered-callback-requested", dispositions.DEFAULT_RULES["answered-callback-requested"],
                               attempts=1, max_attempts=6, fails_in_row=0, now=NOW, callback_at=None)
    assert n.next_at == NOW + dt.timedelta(hours=4)


# ---- finalize against a database ---------------------------------------------------------------
@pytest.fixture
def db(any_db):
    d = any_db
    for i, phone in ((1, "13800000001"), (2, "13800000002")):
        store_of(d).insert("borrowers", {"id": i, "loan_id": f"L{i}", "name": "张伟", "amount_due": 3500, "due_date": "2026-12-05",
                               "locale": "zh-CN", "timezone": "Asia/Shanghai", "created_at": "x", "updated_at": "x"})
        store_of(d).insert("contacts", {"id": i, "borrower_id": i, "phone": phone, "kind": "mobile", "status": "ok",
                              "created_at": "x"})
    cid = campaigns.create(d, name="t", selection={"all": True}, max_attempts=2,
                           retry_policy={"busy": {"delay_s": 5}}, fallback={"channel": "sms"}, now=NOW)
    campaigns.apply_command(d, cid, "start", now=NOW)
    return d


def attempt(db, aid, borrower, **row):
    target_state.claim(db, 1, borrower, aid, NOW)
    store_of(db).insert("attempts", {"id": aid, "borrower_id": borrower, "contact_id": borrower, "campaign_id": 1,
                           "number": f"1380000000{borrower}", "locale": "zh-CN", "state": "ended",
                           "created_at": controller.iso(NOW), **row})


def target(db, borrower):
    return store_of(db).one("SELECT * FROM campaign_targets WHERE borrower_id = :b", {"b": borrower})


def test_finalize_retry_then_exhausted_queues_one_sms(db):
    attempt(db, "a1", 1, outcome="busy", cause=17)
    r = controller.finalize(db, "a1", NOW)
    assert r["disposition"] == "busy" and r["status"] == "pending"
    t = target(db, 1)
    assert t["status"] == "pending" and t["next_at"] == controller.iso(NOW + dt.timedelta(seconds=5))
    assert t["fails_in_row"] == 1 and t["attempts"] == 1
    attempt(db, "a2", 1, outcome="no-answer", cause=19)
    r = controller.finalize(db, "a2", NOW)
    assert target(db, 1)["done_reason"] == "exhausted"
    assert controller.finalize(db, "a2", NOW)["disposition"] == "no-answer"   # idempotent
    sms = store_of(db).query("SELECT * FROM outbox")
    assert len(sms) == 1 and sms[0]["to_address"] == "13800000001" and sms[0]["template"] == "unreachable"


def test_finalize_invalid_marks_contact_and_completed_has_no_sms(db):
    attempt(db, "a1", 1, outcome="invalid-number", cause=1)
    controller.finalize(db, "a1", NOW)
    assert store_of(db).scalar("SELECT status FROM contacts WHERE id = 1") == "invalid"
    attempt(db, "b1", 2, outcome="answered")
    store_of(db).insert("dialogs", {"attempt_id": "b1", "started_at": "x", "result": "promise"})
    controller.finalize(db, "b1", NOW)
    t = target(db, 2)
    assert (t["status"], t["done_reason"], t["last_disposition"]) == ("done", "completed", "answered-completed")
    assert store_of(db).scalar("SELECT count(*) FROM outbox") == 0


def test_close_lost_infers_what_it_can(db):
    # answered and the dialog finished: answered, with the dialog's disposition
    target_state.claim(db, 1, 1, "c1", NOW)
    store_of(db).insert("attempts", {"id": "c1", "borrower_id": 1, "contact_id": 1, "campaign_id": 1, "number": "13800000001",
                           "locale": "zh-CN", "state": "in_dialog", "created_at": controller.iso(NOW)})
    store_of(db).insert("dialogs", {"attempt_id": "c1", "started_at": "2026-12-01T02:00:05.000+00:00", "result": "refused"})
    row = controller.close_lost(db, "c1", None, NOW)
    assert row["outcome"] == "answered" and row["answered_at"] == "2026-12-01T02:00:05.000+00:00"
    assert controller.finalize(db, "c1", NOW)["disposition"] == "answered-completed"
    # ringing, nothing known: unknown-after-restart, retried by its rule
    target_state.claim(db, 1, 2, "c2", NOW)
    store_of(db).insert("attempts", {"id": "c2", "borrower_id": 2, "contact_id": 2, "campaign_id": 1, "number": "13800000002",
                           "locale": "zh-CN", "state": "ringing", "created_at": controller.iso(NOW)})
    controller.close_lost(db, "c2", None, NOW)
    r = controller.finalize(db, "c2", NOW)
    assert r["disposition"] == "unknown-after-restart" and r["status"] == "pending"
    # recorded events tell us it was busy
    target_state.claim(db, 1, 2, "c3", NOW) or store_of(db).execute(
        "UPDATE campaign_targets SET status='active', last_attempt_id='c3' WHERE borrower_id=2")
    store_of(db).insert("attempts", {"id": "c3", "borrower_id": 2, "contact_id": 2, "campaign_id": 1, "number": "13800000002",
                           "locale": "zh-CN", "state": "dialing", "created_at": controller.iso(NOW)})
    store_of(db).insert("events", {"attempt_id": "c3", "at": "x", "source": "ami", "name": "HuifangDial",
                         "data": json.dumps({"Event": "UserEvent", "UserEvent": "HuifangDial", "DialStatus": "BUSY",
                                             "Cause": "17", "TechCause": "SIP 486 Busy Here"})})
    row = controller.close_lost(db, "c3", None, NOW)
    assert row["outcome"] == "busy"
    assert controller.finalize(db, "c3", NOW)["disposition"] == "busy"


def test_orphan_target_without_attempt_row_goes_back_to_pending(db):
    target_state.claim(db, 1, 1, "never-written", NOW)
    reverted, ended = controller.fix_orphan_targets(db, NOW)
    t = target(db, 1)
    assert reverted == 1 and ended == [] and t["status"] == "pending" and t["attempts"] == 0 and t["retry"] == 0


def test_callback_uses_the_dialog_servers_callbacks_row(db):
    attempt(db, "cb1", 1, outcome="answered")
    store_of(db).insert("dialogs", {"attempt_id": "cb1", "started_at": "x", "result": "callback_requested"})
    store_of(db).insert("callbacks", {"attempt_id": "cb1", "borrower_id": 1, "reason": "requested",
                            "due_at": "2026-12-02T15:00:00", "created_at": "x"})
    r = controller.finalize(db, "cb1", NOW)
    assert r["disposition"] == "answered-callback-requested"
    assert r["next_at"] == "2026-12-02T07:00:00.000+00:00"    # 15:00 Shanghai
    assert target(db, 1)["next_at"] == "2026-12-02T07:00:00.000+00:00"


def test_finalize_corrects_outcome_when_a_dialog_exists(db):
    # followed after a restart, the answer was missed: CallPlacer closed it as "failed"
    attempt(db, "f1", 1, outcome="failed", cause=None)
    store_of(db).insert("dialogs", {"attempt_id": "f1", "started_at": "2026-12-01T02:00:03.000+00:00", "result": "will_pay_on_time"})
    r = controller.finalize(db, "f1", NOW)
    row = store_of(db).one("SELECT * FROM attempts WHERE id = 'f1'")
    assert r["disposition"] == "answered-completed"
    assert (row["outcome"], row["answered_at"]) == ("answered", "2026-12-01T02:00:03.000+00:00")
