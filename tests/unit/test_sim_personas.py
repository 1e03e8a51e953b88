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
