"""Flow files are checked at load time: every problem is reported with its file and line."""
from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import REPO_ROOT
from ivr.dialog.flow import FlowError, load

PROMPTS = REPO_ROOT / "prompts"


def grammar_ok(locale, step):
    return ["네"]


def write(tmp_path, text) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return path


def problems(tmp_path, text, prompts_dir=PROMPTS, grammar=grammar_ok):
    with pytest.raises(FlowError) as info:
        load(write(tmp_path, text), prompts_dir, grammar=grammar)
    return [str(p) for p in info.value.problems]


def test_the_shipped_flow_is_valid_with_the_real_grammars():
    flow = load(REPO_ROOT / "flows" / "followup.yaml", PROMPTS)
    assert flow.start == "greeting"
    assert {"identity", "id_check", "plan", "transfer", "end"} <= set(flow.nodes)


def test_missing_target_and_unreachable_node_are_reported_with_lines(tmp_path):
    found = problems(tmp_path, """flow: t
start: a
nodes:
  a:
    say: greeting
    next: nowhere
  orphan:
    hangup: true
""")
    assert any(":4: node 'a' goes to missing node 'nowhere'" in p for p in found)
    assert any(":7: node 'orphan' is unreachable" in p for p in found)


def test_prompt_missing_in_one_locale(tmp_path):
    prompts = tmp_path / "prompts"
    for locale, text in (("zh-CN", "hello: 你好\n"), ("ko-KR", "other: 안녕\n")):
        (prompts / locale).mkdir(parents=True)
        (prompts / locale / "prompts.yaml").write_text(text)
    found = problems(tmp_path, "flow: t\nstart: a\nnodes:\n  a:\n    say: hello\n    next: b\n  b:\n    hangup: true\n",
                     prompts_dir=prompts)
    assert any("prompt 'hello' missing in" in p and "ko-KR" in p for p in found)


def test_ask_without_grammar_in_a_locale(tmp_path):
    text = """flow: t
start: q
nodes:
  q:
    ask: identity
    step: identity
    when: {confirm: end}
    on_no_input: end
    on_no_match: end
  end:
    hangup: true
"""
    found = problems(tmp_path, text, grammar=lambda locale, step: [] if locale == "ko-KR" else ["是"])
    assert any("no ko-KR grammar for step 'identity'" in p for p in found)


def test_unknown_kind_key_condition_and_yaml_errors(tmp_path):
    found = problems(tmp_path, """flow: t
start: a
nodes:
  a:
    branch: weather_is_nice
    when: {"true": b}
  b:
    dance: true
""")
    assert any("unknown condition 'weather_is_nice'" in p for p in found)
    assert any("needs exactly one of" in p for p in found)
    assert any("when: 'true' and 'false'" in p for p in found)
    bad = problems(tmp_path, "flow: [unclosed\n")
    assert bad and ":" in bad[0]
