"""One real stack per integration test session, like the Asterisk testsuite: our own Asterisk
(started with our asterisk.conf, waited on until fully booted), the dialog server with Vosk, and
pjsua2 phones. Its ports, instance and run directory come from `stack_settings` (tests/conftest.py),
so a demo or another test run can run beside it.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ivr.asterisk import process as asterisk
from ivr.demo import call_all, demo_due_date as DEMO_DUE
from ivr.dialog.prompts import Prompts
from ivr.sim.personas import load_personas
from ivr.stack import Stack, ensure_installed

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def settings(stack_settings):
    s = stack_settings("test", ring_timeout_s=8)
    ensure_installed(s)
    return s


BARGE_IN_NUMBER = "13900000014"
VOICE_BARGE_IN_NUMBER = "13900000021"


def seconds(pcm: bytes) -> float:
    return len(pcm) / 16000


def timed_personas(settings, borrowers) -> dict:
    """Personas whose timing depends on how long our prompts are: barge-in during the plan question."""
    b = borrowers[BARGE_IN_NUMBER]
    prompts = Prompts(settings)
    values = {"name": b["name"], "amount": b["amount_due"], "due_date": DEMO_DUE()}
    before_plan = sum(seconds(prompts.audio(b["locale"], key, values)[1]) for key in ("id_ok", "reminder"))
    k = borrowers[VOICE_BARGE_IN_NUMBER]
    greeting = seconds(prompts.audio(k["locale"], "greeting", {"name": k["name"]})[1])
    return {
        BARGE_IN_NUMBER: {"answer_after_ms": 500, "steps": [
            {"dtmf": "1"}, {"dtmf": "1234"}, {"wait_ms": int((before_plan + 2.5) * 1000)}, {"dtmf": "1"}]},
        # speaks 1.5 s into the identity question (the greeting cannot be interrupted)
        VOICE_BARGE_IN_NUMBER: {"answer_after_ms": 500, "steps": [
            {"wait_ms": int((greeting + 1.5) * 1000)}, {"say": "네", "locale": "ko-KR"}, {"dtmf": "1"},
            {"dtmf": "1234"}]},
    }


@pytest.fixture(scope="session")
def personas_file(settings, tmp_path_factory):
    borrowers = json.loads((HERE / "borrowers.json").read_text())
    data = json.loads((HERE / "personas.json").read_text())
    data.update(timed_personas(settings, borrowers))
    path = tmp_path_factory.mktemp("personas") / "personas.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


@pytest.fixture(scope="session")
def stack(settings, tmp_path_factory, personas_file):
    st = Stack(settings, tmp_path_factory.mktemp("run"), personas_file)
    st.start()
    asterisk.cli(settings, "pjsip set logger on")  # every SIP message, SDP included, in messages.log
    yield st
    st.stop()


@pytest.fixture(scope="session")
def persona_calls(stack, settings, personas_file):
    """Every persona called once, concurrently; {number: attempt row + answers + dialog}."""
    personas = load_personas(personas_file)
    borrowers = json.loads((HERE / "borrowers.json").read_text())
    rows = asyncio.run(call_all(settings, personas, borrowers, concurrency=10, run_tag="it"))
    return {row["number"]: row for row in rows}
