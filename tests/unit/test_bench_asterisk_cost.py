"""bench/asterisk_cost.py's variants: the no-MixMonitor context is today's [huifang-call] minus
exactly its MixMonitor line, and the straight-to-trunk Originate dials what the wrapper dials first."""
import pytest

from bench.asterisk_cost import NOMIX_CONTEXT, ContextMissing, CostBench, nomix_context, straight_to_trunk
from ivr import config
from ivr.asterisk.render import render_dialplan


def _context(dialplan: str, name: str) -> list[str]:
    lines = dialplan.splitlines()
    start = lines.index(f"[{name}]") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    return [line for line in lines[start:end] if line.strip() and not line.startswith(";")]


def test_nomix_context_is_the_call_context_without_mixmonitor():
    rendered = render_dialplan(config.load())
    today = _context(rendered, "huifang-call")
    variant = _context(nomix_context(rendered), NOMIX_CONTEXT)
    recording = " same => n,MixMonitor(${IVR_RECORDING})"
    assert recording in today
    assert not any(line.lstrip().startswith("same => n,MixMonitor(") for line in variant)
    assert [line for line in today if line != recording] == variant   # the early media's StopMixMonitor stays
    assert any("AGI(agi://" in line for line in variant) and any("exten => queue" in line for line in variant)


def test_nomix_context_refuses_a_dialplan_it_does_not_recognise():
    with pytest.raises(ContextMissing):
        nomix_context("[other]\nexten => s,1,NoOp()\n")
    with pytest.raises(ContextMissing):   # the line it should remove is not there: say so, do not measure nothing
        nomix_context("[huifang-call]\nexten => s,1,NoOp()\n[next]\n")


def test_straight_to_trunk_dials_the_first_trunk_string():
    action = {"Action": "Originate", "Channel": "Local/abc@huifang-dial/n", "Context": "huifang-call",
              "Variable": ["IVR_ATTEMPT=abc", "IVR_DIAL1=PJSIP/13800000001@huifang-trunk", "IVR_DIAL2=PJSIP/x@y"]}
    assert straight_to_trunk(action)["Channel"] == "PJSIP/13800000001@huifang-trunk"
    assert action["Channel"].startswith("Local/")   # the controller's action is not changed in place
    with pytest.raises(ContextMissing):
        straight_to_trunk({**action, "Variable": ["IVR_ATTEMPT=abc"]})


@pytest.mark.parametrize("variant, channel, context, call_context", [
    ("full", "Local/abc@huifang-dial/n", "huifang-line", "huifang-call"),
    ("no-local", "PJSIP/1@t", "huifang-call", None),
    ("no-mixmonitor", "Local/abc@huifang-dial/n", "huifang-line", NOMIX_CONTEXT),
    ("bare", "PJSIP/1@t", NOMIX_CONTEXT, None),
])
def test_each_variant_changes_only_its_parts(variant, channel, context, call_context):
    """Through the dial wrapper the answered call runs ${IVR_CALL_CONTEXT}; straight to the trunk,
    the originated trunk channel runs the Originate's context itself."""
    bench = CostBench.__new__(CostBench)
    action = {"Channel": "Local/abc@huifang-dial/n", "Context": "huifang-line", "Variable": ["IVR_DIAL1=PJSIP/1@t"]}
    got = bench.originate(variant, action)
    assert (got["Channel"], got["Context"]) == (channel, context)
    extra = [f"IVR_CALL_CONTEXT={call_context}"] if call_context else []
    assert got["Variable"] == action["Variable"] + extra
    assert action["Variable"] == ["IVR_DIAL1=PJSIP/1@t"]   # the controller's action is not changed in place
