"""The simulator's `first_calls` persona option ("busy, then answers on the retry")."""
from __future__ import annotations

import pytest

from ivr.sim.personas import FirstCalls, PersonaError, parse_persona


def test_first_calls_parsed():
    p = parse_persona("t", "13800000001", {"first_calls": {"reject": "busy", "count": 2}, "steps": [{"dtmf": "1"}]})
    assert p.first_calls == FirstCalls("busy", 2) and p.reject is None


@pytest.mark.parametrize("bad", [{"reject": "explode"}, {"reject": "busy", "count": 0}, {"reject": "busy", "x": 1},
                                 "busy"])
def test_first_calls_errors_name_the_field(bad):
    with pytest.raises(PersonaError, match="first_calls"):
        parse_persona("t", "13800000001", {"first_calls": bad})
