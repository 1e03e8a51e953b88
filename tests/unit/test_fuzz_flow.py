"""Fuzzing the flow loader: whatever YAML (or bytes) a flow file holds, `flow.load` either
returns a Flow or raises FlowError listing problems — never another exception, which would
stop the dialog server at start-up with a traceback instead of a message naming the file."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, strategies as st
from tests.support.fuzzing import fuzz_settings

from ivr.config import REPO_ROOT
from ivr.dialog import flow as flowmod

PROMPTS = REPO_ROOT / "prompts"
REAL = yaml.safe_load((REPO_ROOT / "flows" / "followup.yaml").read_text(encoding="utf-8"))
FUZZ = fuzz_settings(150, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(sorted(REAL["nodes"])),
                    st.sampled_from(list(flowmod.STEPS) + list(flowmod.CONDITIONS) + list(flowmod.ACTIONS)))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)
node_keys = st.one_of(st.sampled_from(sorted(flowmod.NODE_KEYS)), st.text(max_size=8))
nodes = st.dictionaries(node_keys, values, max_size=8)


def load_text(text: str | bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            return flowmod.load(path, PROMPTS)
        except flowmod.FlowError as exc:
            assert exc.problems, "a FlowError must name at least one problem"
            for p in exc.problems:
                assert isinstance(p.line, int) and p.message
            return None


def dump(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_the_real_flow_loads():
    assert load_text(dump(REAL)) is not None


@FUZZ
@given(st.dictionaries(st.text(max_size=8), nodes, max_size=6), st.one_of(st.text(max_size=8), values))
def test_generated_flows_only_flow_errors(node_table, start):
    load_text(dump({"flow": "fuzz", "start": start, "nodes": node_table}))


@FUZZ
@given(st.sampled_from(sorted(REAL["nodes"])), st.sampled_from(sorted(flowmod.NODE_KEYS)), values)
@example("identity", "timeout_ms", "soon")         # was: ValueError from int()
@example("identity", "retries", [1, 2])            # was: TypeError from int()
@example("identity", "max_digits", None)           # was: TypeError from int()
@example("greeting", "say", ["a", "b"])            # was: TypeError (unhashable prompt key)
@example("identity", "when", ["confirm"])          # was: AttributeError (.items() of a list)
@example("greeting", "next", {"a": 1})             # was: TypeError (unhashable target)
@example("greeting", "say", {"a": 1})             # was: TypeError (unhashable prompt key)
@example("identity", "step", ["identity"])         # a FlowError already
def test_one_field_of_the_real_flow_mutated(node, key, value):
    data = copy.deepcopy(REAL)
    data["nodes"][node][key] = value
    load_text(dump(data))


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
@example(b"\xff\xfe not utf-8")                   # was: UnicodeDecodeError
@example("nodes: {a: {say: x, next: a}}\nstart: a\n" + "[" * 200 + "]" * 200)
@example("&a [*a]")                                # a recursive alias
def test_garbage_only_flow_errors(text):
    load_text(text)


@pytest.mark.parametrize("top", [[], "text", 3, {"nodes": []}, {"nodes": {1: {"say": "greeting", "next": 1}}},
                                 {"nodes": {"a": None}}, {"start": ["a"], "nodes": {"a": {"hangup": True}}}])
def test_odd_top_levels(top):
    load_text(dump(top))
