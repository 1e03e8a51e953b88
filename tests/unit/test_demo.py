"""`ivr demo` without the stack: borrowers from any persona file (locale, numbers of any country),
the importer's check kept for real imports, and the summary that says how each answer was decided."""
from __future__ import annotations

import json

import pytest

from ivr import cli
from ivr.db.connect import connect, open_database
from ivr.db.store import store_of
from ivr.demo import DATA, demo_borrower, simulated_trunk_number, with_own_database, write_borrowers_csv
from ivr.demo_report import expectation_problems, format_answer, summarize, table_lines
from ivr.dialer import importer
from ivr.sim.personas import load_personas, parse_personas

TABLE = {k: v for k, v in json.loads((DATA / "borrowers.json").read_text()).items() if not k.startswith("_")}

# numbers no real ko-KR import accepts (phonenumbers, region KR)
NOT_KOREAN = ["13800000002", "07700 900123", "+44 7700 900123"]
FOREIGN = {
    "13800000002": {"steps": [{"say": "아니요", "locale": "ko-KR", "or_dtmf": "2"}]},  # Korean, Chinese-looking
    "07700 900123": {"locale": "ko-KR", "steps": [{"dtmf": "2"}]},
    "+44 7700 900123": {"steps": [{"dtmf": "1"}, {"say": "네", "locale": "ko-KR"}]},
    "+1 415 555 0100": {"locale": "ko-KR", "steps": [{"dtmf": "0"}]},
    "0312345678": {"steps": [{"dtmf": "0"}]},  # keypad only, so zh-CN; a Korean area number, invalid in China
}


def test_borrower_locale_comes_from_the_persona():
    personas = parse_personas(FOREIGN)
    korean = demo_borrower(personas["13800000002"], TABLE)
    assert TABLE["13800000002"]["locale"] == "zh-CN"  # the built-in table says 张伟, Chinese ...
    assert korean["locale"] == "ko-KR" and korean["name"] != TABLE["13800000002"]["name"]  # ... the persona wins
    assert demo_borrower(personas["07700900123"], TABLE)["locale"] == "ko-KR"      # declared
    assert demo_borrower(personas["0312345678"], TABLE)["locale"] == "zh-CN"       # keypad only: the default
    builtin = load_personas(DATA / "personas.json")
    assert demo_borrower(builtin["01010000007"], TABLE) == TABLE["01010000007"]    # the table when it agrees
    assert demo_borrower(builtin["13800000002"], TABLE)["name"] == "张伟"           # keypad only: the table's


def _csv(tmp_path, personas):
    return write_borrowers_csv(tmp_path / "borrowers.csv", personas, TABLE)


def test_real_imports_still_refuse_numbers_the_demo_dials(tmp_path, monkeypatch, engine_url):
    """The same file: every real import path rejects the numbers not valid for the borrower's region;
    the demo's import (its simulated trunk) takes them, stored as the phones will be dialled. The
    demo's import runs on each engine (`ivr import` here on an SQLite file: ivr/dialer/cli.py's own)."""
    personas = parse_personas(FOREIGN)
    csv_path = _csv(tmp_path, personas)

    real = importer.import_file(connect(tmp_path / "real.db"), csv_path)
    refused = {e.line: e.reason for e in real.errors}
    assert real.created == 1 and len(refused) == 4   # only +1 415 555 0100 (a valid US number) passes
    for line, number, region in ((2, "13800000002", "KR"), (3, "07700 900123", "KR"), (4, "+44 7700 900123", "KR"),
                                 (6, "0312345678", "CN")):
        assert refused[line] == f"invalid phone number for region {region}: {number!r}"

    db_path = tmp_path / "cli.db"
    monkeypatch.setenv("IVR_DB_PATH", str(db_path))
    assert cli.main(["import", str(csv_path)]) == 2   # `ivr import` (what an operator runs) refuses too
    assert connect(db_path)["borrowers"].count == 1

    demo_db = store_of(open_database(engine_url, migrate=False))   # what `ivr demo` opens, on each engine
    demo = importer.import_file(demo_db, csv_path, phone_rule=simulated_trunk_number)
    assert demo.rejected == 0 and demo.created == 5
    dialled = {r["phone"] for r in demo_db.query("SELECT phone FROM contacts")}
    assert dialled == set(personas) == {"13800000002", "07700900123", "00447700900123", "0014155550100",
                                        "0312345678"}
    locales = {r["phone"]: r["locale"] for r in demo_db.query(
        "SELECT c.phone, b.locale FROM contacts c JOIN borrowers b ON b.id = c.borrower_id")}
    demo_db.close()
    assert locales["13800000002"] == "ko-KR" and locales["0312345678"] == "zh-CN"


def test_the_demo_never_writes_to_the_database_url(tmp_path):
    """A lender's PostgreSQL in database_url: the demo (and its children) use the run's own file."""
    from ivr import config
    lender = config.load(env={"IVR_DATABASE_URL": "postgresql://huifang@db.internal/huifang"})
    demo = with_own_database(lender, tmp_path)
    assert demo.database_url_effective == f"sqlite:///{tmp_path / 'huifang.db'}"
    assert config.load(env=demo.to_env()).database_url_effective == demo.database_url_effective


def test_the_demo_rule_still_refuses_what_is_not_a_number(tmp_path):
    with pytest.raises(importer.RowInvalid):
        simulated_trunk_number("138-abc", "KR", "phone")
    with pytest.raises(importer.RowInvalid):
        simulated_trunk_number(None, "KR", "phone")
    assert simulated_trunk_number(" +1 415 555 0100 ", "CN", "phone") == "0014155550100"


def answer(node, intent, via, text=None, digits=None, decision=None, confirmed_by=None, evidence=None, step=None):
    return {"step": step or node, "node": node, "intent": intent, "via": via, "text": text, "digits": digits,
            "barge_in": 0, "decision": decision, "confirmed_by": confirmed_by, "evidence": evidence}


def row(number, disposition, result, answers, outcome="answered", cause=16):
    return {"number": number, "id": f"a-{number}", "outcome": outcome, "cause": cause, "disposition": disposition,
            "dialog": {"result": result} if result else None, "answers": answers}


def test_each_answer_says_how_it_was_decided():
    assert format_answer(answer("identity", "deny", "voice", "아니요", decision="accept")) == \
        "identity=deny (voice: 아니요, accept)"
    assert format_answer(answer("plan", "unknown", "voice", "음", decision="reject")) == \
        "plan=unknown (voice: 음, reject)"
    assert format_answer(answer("id_check", "digits", "keypad", digits="1234")) == "id_check=digits (keypad: 1234)"
    assert format_answer(answer("identity", "no_input", "none")) == "identity=no_input (no input)"


def test_the_reply_to_a_confirmation_is_shown_with_the_answer_it_confirms():
    """The runner records "did you say ...?" replies at node "<node>:confirm" and marks the confirmed
    answer's confirmed_by; the table shows one entry per answer, the reply folded in."""
    confirmed = row("01010000001", "answered-completed", None, [
        answer("identity", "confirm", "voice", "네", decision="confirm", confirmed_by="keypad"),
        answer("identity:confirm", "confirm", "keypad", digits="1", step="confirm"),
        answer("id_check", "digits", "keypad", digits="1234")])
    refused = row("01010000007", "answered-wrong-person", None, [
        answer("identity", "deny", "voice", "아니요", decision="confirm"),
        answer("identity:confirm", "deny", "keypad", digits="2", step="confirm"),
        answer("identity", "deny", "keypad", digits="2")])
    by_voice = row("01010000010", "answered-completed", None, [
        answer("plan", "confirm", "voice", "네", decision="confirm", confirmed_by="voice"),
        answer("plan:confirm", "confirm", "voice", "네 맞아요", decision="accept", step="confirm")])
    calls = summarize([confirmed, refused, by_voice])["calls"]
    assert [format_answer(a) for a in calls[0]["answers"]] == [
        "identity=confirm (voice: 네, confirm→keypad 1)", "id_check=digits (keypad: 1234)"]
    assert [format_answer(a) for a in calls[1]["answers"]] == [
        "identity=deny (voice: 아니요, confirm→keypad 2, not confirmed)", "identity=deny (keypad: 2)"]
    assert [format_answer(a) for a in calls[2]["answers"]] == ["plan=confirm (voice: 네, confirm→voice 네 맞아요)"]
    assert calls[0]["answers"][0]["confirmation"] == {"via": "keypad", "text": None, "digits": "1",
                                                     "intent": "confirm", "decision": None}


def test_expect_is_checked_on_the_last_answer_to_each_question():
    p = parse_personas({"01010000007": {
        "steps": [{"say": "아니요", "locale": "ko-KR", "or_dtmf": "2"}],
        "expect": {"disposition": "answered-wrong-person", "answers": {"identity": "deny"}}}})
    rejected_then_keyed = row("01010000007", "answered-wrong-person", "wrong_person", [
        answer("identity", "unknown", "voice", "아니 예요", decision="reject"),
        answer("identity", "deny", "voice", "아니요", decision="confirm"),
        answer("identity:confirm", "deny", "keypad", digits="2", step="confirm"),
        answer("identity", "deny", "keypad", digits="2")])
    misheard = row("01010000007", "answered-completed", "will_pay_on_time", [
        answer("identity", "confirm", "voice", "예요", decision="accept"),
        answer("id_check", "digits", "keypad", digits="1234")])
    s = summarize([rejected_then_keyed, misheard], p)
    ok, wrong = s["calls"]
    assert ok["as_intended"] and ok["problems"] == []
    assert not wrong["as_intended"]
    assert wrong["problems"] == ["disposition answered-completed (expected answered-wrong-person)",
                                 "identity=confirm (expected deny)",
                                 "id_check=digits (not expected to be asked)"]
    assert (s["as_intended"], s["checked"]) == (1, 2)
    lines = table_lines(s)
    assert lines[-1] == "1/2 personas as intended"
    assert ("identity=unknown (voice: 아니 예요, reject); identity=deny (voice: 아니요, confirm→keypad 2, "
            "not confirmed); identity=deny (keypad: 2)") in lines[1]
    assert "NO" in lines[2] and "not as intended: identity=confirm (expected deny)" in "\n".join(lines)
    json.dumps(s, ensure_ascii=False)  # summary.json holds it as is


def test_a_question_never_asked_is_a_problem_and_personas_without_expect_are_counted_apart():
    p = parse_personas({"1": {"expect": {"disposition": "answered-completed", "answers": {"identity": "confirm",
                                                                                        "plan": "confirm"}}},
                        "2": {}})
    s = summarize([row("1", "answered-completed", None, [answer("identity", "confirm", "keypad", digits="1")]),
                   row("2", "busy", None, [], outcome="busy", cause=17)], p)
    assert expectation_problems(p["1"], s["calls"][0]) == ["plan never answered (expected confirm)"]
    assert "as_intended" not in s["calls"][1]
    assert table_lines(s)[-1] == "0/1 personas as intended (1 without an expect block)"
