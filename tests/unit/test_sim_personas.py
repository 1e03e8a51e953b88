import json

import pytest

from ivr.sim.personas import PersonaError, load_personas, parse_personas

GOOD = {
    "13800000001": {"answer_after_ms": 800, "hangup_after_ms": 20000,
                    "steps": [{"wait_ms": 300}, {"say": "네", "locale": "ko-KR"}, {"dtmf": "1"},
                              {"say": "일 이 삼 사", "locale": "ko-KR"}, {"hangup": True}]},
    "13800000002": {"reject": "busy"},
    "13800000003": {"reject": "noanswer"},
    "13800000004": {"reject": "decline"},
    "13800000005": {"reject": "notfound"},
    "13800000006": {"announcement": {"text": "您拨打的号码是空号", "locale": "zh-CN", "then": "notfound"}},
    "13800000007": {"reject": "unavailable"},
}


def test_good_file_parses(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(GOOD, ensure_ascii=False), encoding="utf-8")
    personas = load_personas(f)
    p = personas["13800000001"]
    assert p.answer_after_ms == 800 and p.hangup_after_ms == 20000
    assert [s.action for s in p.steps] == ["wait_ms", "say", "dtmf", "say", "hangup"]
    assert p.steps[1].locale == "ko-KR"
    assert personas["13800000002"].reject_status == 486
    assert personas["13800000004"].reject_status == 603
    assert personas["13800000005"].reject_status == 404
    assert personas["13800000007"].reject_status == 480
    a = personas["13800000006"].announcement
    assert a.status == 404 and a.locale == "zh-CN"
    assert ("네", "ko-KR") in p.phrases()


def test_defaults():
    p = parse_personas({"1": {}})["1"]
    assert p.steps == () and p.reject is None and p.answer_after_ms == 500


@pytest.mark.parametrize("data, where", [
    ({"138x": {}}, "number 138x"),
    ({"1": []}, "number 1"),
    ({"1": {"answer_after": 3}}, "number 1: answer_after"),
    ({"1": {"reject": "maybe"}}, "number 1: reject"),
    ({"1": {"reject": "busy", "steps": []}}, "number 1: reject"),
    ({"1": {"answer_after_ms": -1}}, "number 1: answer_after_ms"),
    ({"1": {"answer_after_ms": "800"}}, "number 1: answer_after_ms"),
    ({"1": {"hangup_after_ms": 0}}, "number 1: hangup_after_ms"),
    ({"1": {"steps": {"say": "x"}}}, "number 1: steps"),
    ({"1": {"steps": [{"say": "네"}]}}, "number 1: steps[0].locale"),
    ({"1": {"steps": [{"say": "네", "locale": "ja-JP"}]}}, "number 1: steps[0].locale"),
    ({"1": {"steps": [{"say": ""}]}}, "number 1: steps[0].say"),
    ({"1": {"steps": [{"dtmf": "12x"}]}}, "number 1: steps[0].dtmf"),
    ({"1": {"steps": [{"dtmf": 1}]}}, "number 1: steps[0].dtmf"),
    ({"1": {"steps": [{"wait_ms": 1, "dtmf": "1"}]}}, "number 1: steps[0]"),
    ({"1": {"steps": [{"hangup": False}]}}, "number 1: steps[0].hangup"),
    ({"1": {"steps": [{"wait_ms": 10}, {"dtmf": "1", "volume": 3}]}}, "number 1: steps[1].volume"),
    ({"1": {"steps": [{"jump": 1}]}}, "number 1: steps[0]"),
    ({"1": {"announcement": {"text": "x"}}}, "number 1: announcement.locale"),
    ({"1": {"announcement": {"text": "x", "locale": "zh-CN", "then": "noanswer"}}}, "number 1: announcement.then"),
    ({"1": {"announcement": {"text": "x", "locale": "zh-CN"}, "reject": "busy"}}, "number 1: reject"),
    ({"1": {"announcement": "空号"}}, "number 1: announcement"),
])
def test_errors_name_file_number_and_field(data, where):
    with pytest.raises(PersonaError) as e:
        parse_personas(data, "people.json")
    assert str(e.value).startswith(f"people.json: {where}"), str(e.value)


def test_top_level_must_be_object():
    with pytest.raises(PersonaError, match="people.json: the top level"):
        parse_personas([], "people.json")


def test_bad_json_and_missing_file(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"1": {', encoding="utf-8")
    with pytest.raises(PersonaError, match=r"bad.json: not valid JSON: line 1"):
        load_personas(f)
    with pytest.raises(PersonaError, match="cannot read"):
        load_personas(tmp_path / "nope.json")


# ---- locale, dialled numbers, re-ask keys, expect (issue 9: the demo speaks for itself) -----------
def test_locale_declared_else_the_language_spoken_else_none():
    personas = parse_personas({
        "13800000102": {"steps": [{"dtmf": "1"}, {"say": "아니요", "locale": "ko-KR"}]},
        "13800000103": {"locale": "zh-CN", "steps": [{"say": "네", "locale": "ko-KR"}]},
        "13800000104": {"steps": [{"dtmf": "1"}, {"wait_ms": 10}]},
        "13800000105": {"reject": "busy"},
        "13800000106": {"announcement": {"text": "空号", "locale": "zh-CN", "then": "notfound"}},
        "13800000107": {"locale": "ko-KR", "reject": "busy"},
    })
    assert personas["13800000102"].locale == "ko-KR"   # speaks Korean, whatever its number looks like
    assert personas["13800000103"].locale == "zh-CN"   # declared wins over the language spoken
    assert personas["13800000104"].locale is None      # keypad only: the caller's default applies
    assert personas["13800000105"].locale is None
    assert personas["13800000106"].locale is None      # a carrier announcement is not the borrower
    assert personas["13800000107"].locale == "ko-KR"


@pytest.mark.parametrize("key, dialled", [
    ("13800000002", "13800000002"),
    ("+1 415 555 0100", "0014155550100"),
    ("07700 900123", "07700900123"),
    ("(031) 234-5678", "0312345678"),
    ("+86 138.0000.0002", "008613800000002"),
])
def test_keys_are_dialled_as_written(key, dialled):
    personas = parse_personas({key: {}})
    assert list(personas) == [dialled]
    assert personas[dialled].number == dialled and personas[dialled].written == key


def test_dial_string_refuses_what_no_trunk_can_dial():
    from ivr.sim.personas import dial_string
    for bad in ("", "+", "138x", "agent1", "1+1", "1" * 21):
        with pytest.raises(ValueError):
            dial_string(bad)
    assert dial_string("+8613800000002") == "008613800000002"


def test_two_keys_for_one_dialled_number_are_refused():
    with pytest.raises(PersonaError, match=r"p.json: number \+1 415 555 0100: the same dialled number 0014155550100"):
        parse_personas({"0014155550100": {}, "+1 415 555 0100": {}}, "p.json")


def test_or_dtmf_on_the_last_answer():
    p = parse_personas({"1": {"steps": [{"dtmf": "1"}, {"say": "아니요", "locale": "ko-KR", "or_dtmf": "2"},
                                        {"hangup": True}]}})["1"]
    assert p.steps[1].or_dtmf == "2" and p.steps[1].describe()["or_dtmf"] == "2"
    assert p.steps[0].or_dtmf == ""


def test_expect_parses():
    p = parse_personas({"1": {"expect": {"disposition": "answered-wrong-person", "result": "wrong_person",
                                         "answers": {"identity": "deny"}}}})["1"]
    assert p.expect.disposition == "answered-wrong-person" and p.expect.result == "wrong_person"
    assert dict(p.expect.answers) == {"identity": "deny"}
    assert parse_personas({"1": {"expect": {"disposition": "busy"}}})["1"].expect.answers is None


@pytest.mark.parametrize("data, where", [
    ({"1": {"locale": "fr-FR"}}, "number 1: locale"),
    ({"1": {"steps": [{"say": "네", "locale": "ko-KR", "or_dtmf": "x"}]}}, "number 1: steps[0].or_dtmf"),
    ({"1": {"steps": [{"dtmf": "1", "or_dtmf": "1"}]}}, "number 1: steps[0].or_dtmf"),
    ({"1": {"steps": [{"say": "네", "locale": "ko-KR", "or_dtmf": "1"}, {"dtmf": "1234"}]}},
     "number 1: steps[0].or_dtmf"),
    ({"1": {"expect": "busy"}}, "number 1: expect"),
    ({"1": {"expect": {"disposition": "answered"}}}, "number 1: expect.disposition"),
    ({"1": {"expect": {"disposition": "busy", "intents": {}}}}, "number 1: expect.intents"),
    ({"1": {"expect": {"disposition": "busy", "answers": ["identity"]}}}, "number 1: expect.answers"),
    ({"1": {"expect": {"disposition": "busy", "answers": {"identity": ""}}}}, "number 1: expect.answers.identity"),
    ({"1 2x": {}}, "number 1 2x"),
])
def test_new_fields_errors_name_file_number_and_field(data, where):
    with pytest.raises(PersonaError) as e:
        parse_personas(data, "people.json")
    assert str(e.value).startswith(f"people.json: {where}"), str(e.value)


def test_builtin_personas_all_say_how_they_must_end():
    from ivr.demo import DATA
    personas = load_personas(DATA / "personas.json")
    assert personas and all(p.expect is not None and p.expect.answers is not None for p in personas.values())
