"""One real stack per integration test session, like the Asterisk testsuite: our own Asterisk
(started with our asterisk.conf, waited on until fully booted), the dialog server with Vosk, and
pjsua2 phones. Ports come from IVR_TEST_PORT_BASE (default 25000) so a demo can run beside it.
"""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from ivr import config
from ivr.demo import call_all
from ivr.sim.personas import load_personas
from ivr.stack import Stack, ensure_installed

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    out = tmp_path_factory.mktemp("stack")
    base = int(os.environ.get("IVR_TEST_PORT_BASE", "25000"))
    s = config.load().replace(instance=f"test-{base}", port_base=base, db_path=str(out / "huifang.db"),
                              ring_timeout_s=8)
    ensure_installed(s)
    return s


@pytest.fixture(scope="session")
def stack(settings, tmp_path_factory):
    st = Stack(settings, tmp_path_factory.mktemp("run"), HERE / "personas.json")
    st.start()
    yield st
    st.stop()


@pytest.fixture(scope="session")
def persona_calls(stack, settings):
    """Every persona of personas.json called once, concurrently; {number: attempt row + answers}."""
    personas = load_personas(HERE / "personas.json")
    borrowers = json.loads((HERE / "borrowers.json").read_text())
    rows = asyncio.run(call_all(settings, personas, borrowers, concurrency=10, run_tag="it"))
    return {row["number"]: row for row in rows}
