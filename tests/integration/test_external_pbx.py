"""Huifang on a lender's own Asterisk (issue 10, item 1): `asterisk_mode = "external"`.

The PBX is a second Asterisk configured the way a lender's team would (tests/integration/lender_pbx.py:
its own pjsip.conf, extensions.conf, queues.conf, an AMI user with only the classes the README lists,
our rendered dialplan `#include`d). It keeps Huifang's media in its own spool, which Huifang reaches
by another path (`asterisk_media_dir` vs `media_dir`), like a mount of the PBX's disk. No managed
Asterisk runs: only the dialog server and the simulated phones. Then: a whole conversation, an
escalation answered by an agent's phone, the recording served by the web app and purged by retention,
and `ivr asterisk check` passing on this PBX and failing, with the fix named, when it is not right.

Huifang and the lender's PBX each on ports of their own (`stack_settings`).
SQLite only, for the suite's time (~2.5 min a run): it is about a PBX Huifang does not manage; the
same dialog server, escalation and web pages run on PostgreSQL in test_campaign_dialer.py and the browser tests.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from ivr.agents.apply import conf_text as agent_conf_text
from ivr.asterisk import render
from ivr.config import REPO_ROOT
from ivr.db.connect import connect
from ivr.demo import call_all
from ivr.sim.calllog import calls
from ivr.sim.personas import load_personas
from ivr.stack import Stack, ensure_installed
from ivr.web import create_app, retention, security

from .lender_pbx import LenderPbx

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
CONVERSATION = "13900000002"   # keypad: 1 (it is me), 1234, 1 (will pay on time)
DISPUTE = "13900000013"        # keypad: ..., 4 at the plan: escalated to an agent
NO_AGENT = "13900000009"       # keypad 0 at the identity question, while every agent is paused
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def external(stack_settings):
    ours = stack_settings("external", ring_timeout_s=8)
    out = ours.database.parent
    lender = stack_settings("lender")  # only its port block is used: the PBX is configured by hand
    pbx = LenderPbx(Path(lender.rootfs), lender.port_base, trunk_port=ours.trunk_port_effective,
                    agent_port=ours.agent_port)
    settings = ours.replace(
        asterisk_mode="external", ami_port=pbx.ami_port, ami_user=pbx.ami_user, ami_secret=pbx.ami_secret,
        asterisk_media_dir=pbx.media_in_asterisk, media_dir=str(pbx.media_on_host))
    ensure_installed(settings)
    personas = json.loads((HERE / "personas.json").read_text())
    personas_path = out / "personas.json"
    personas_path.write_text(json.dumps({n: personas[n] for n in (CONVERSATION, DISPUTE, NO_AGENT)},
                                        ensure_ascii=False))
    borrowers = json.loads((HERE / "borrowers.json").read_text())
    pbx.start(render.render_dialplan(settings))
    stack = Stack(settings, out / "run", personas_path, agent_registrar=f"127.0.0.1:{pbx.sip_port}",
                  on_agents_provisioned=lambda s: pbx.paste_agents(agent_conf_text(s)))
    try:
        stack.start()
        everyone = load_personas(personas_path)
        rows = asyncio.run(call_all(settings, {n: everyone[n] for n in (CONVERSATION, DISPUTE)}, borrowers,
                                    concurrency=2, run_tag="external"))
        for n in (1, 2):
            pbx.cli(f"queue pause member PJSIP/huifang-agent{n}")
        rows += asyncio.run(call_all(settings, {NO_AGENT: everyone[NO_AGENT]}, borrowers, run_tag="external"))
        yield settings, pbx, stack, {row["number"]: row for row in rows}
    finally:
        stack.stop()
        pbx.stop()


def query(settings, sql, args=()):
    return list(connect(settings.database).query(sql, list(args)))


def test_whole_conversation_through_the_lenders_pbx(external):
    """The lender's Asterisk dials the borrower over its own `huifang-trunk` endpoint, runs our
    dialplan and talks to the dialog server: a keypad conversation to its end, recorded into the
    PBX's spool and registered under Huifang's view of that directory."""
    settings, pbx, stack, rows = external
    row = rows[CONVERSATION]
    assert (row["outcome"], row["cause"]) == ("answered", 16)
    assert [(a["step"], a["intent"], a["via"]) for a in row["answers"]] == [
        ("identity", "confirm", "keypad"), ("digits", "digits", "keypad"), ("plan", "confirm", "keypad")]
    assert row["dialog"]["result"] == "will_pay_on_time"
    recording = Path(row["recording_path"])
    assert recording == pbx.media_on_host / "recordings" / f"{row['id']}.wav"
    with wave.open(str(recording)) as w:
        assert w.getnframes() / w.getframerate() >= 5.0
    # nothing of it went to a managed Asterisk's directory
    assert not (Path(settings.rootfs) / "srv/huifang" / settings.instance).exists()


def test_escalation_reaches_the_lenders_agent_queue(external):
    """Key 4 (dispute) at the plan question: the call waits in the PBX's `huifang-agents` queue and an
    agent's phone, a member of that queue, answers it."""
    settings, pbx, stack, rows = external
    row = rows[DISPUTE]
    assert row["dialog"]["result"] == "dispute"
    [esc] = query(settings, "SELECT * FROM escalations WHERE attempt_id = ?", [row["id"]])
    assert esc["reason"] == "dispute" and json.loads(esc["context"])["name"] == "刘洋"
    agent_calls = [c for c in calls(stack.agent_log) if c.get("attempt") == row["id"]]
    assert agent_calls and agent_calls[0]["status"] == 200
    stages = [json.loads(e["data"]).get("Stage") for e in
              query(settings, "SELECT data FROM events WHERE attempt_id = ? AND name = 'HuifangStage'", [row["id"]])]
    assert "queued" in stages


def test_no_agent_message_is_played_from_the_media_directory(external):
    """Every agent paused: after the PBX's queue wait the dialog server has Asterisk play the no-agent
    message from `asterisk_media_dir` (where `ivr dialog serve` put it), and a callback is due."""
    settings, pbx, stack, rows = external
    row = rows[NO_AGENT]
    assert row["dialog"]["result"] == "transferred"
    [cb] = query(settings, "SELECT * FROM callbacks WHERE attempt_id = ?", [row["id"]])
    assert cb["reason"] == "no_agent"
    log = pbx.instance.messages_log.read_text(errors="replace")
    assert f"Playing '{settings.media_dir_in_asterisk}/sounds/zh-CN/no_agent." in log
    assert "no_agent" not in "".join(line for line in log.splitlines() if "WARNING" in line)


def login(client, username):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code in (302, 303), r.get_data(as_text=True)[:300]


def test_recording_is_played_by_the_web_app_then_purged(external):
    """The web app serves the recording from the PBX's spool (as Huifang sees it); the retention
    purge deletes it there, after which the web app has nothing to serve."""
    settings, pbx, stack, rows = external
    row = rows[CONVERSATION]
    app = create_app(settings, TESTING=True)
    db = connect(settings.database)
    security.add_user(db, "sup-ext", PASSWORD, "supervisor")
    client = app.test_client()
    login(client, "sup-ext")
    r = client.get(f"/recordings/{row['id']}")
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    body = r.get_data()
    assert body[:4] == b"RIFF" and len(body) == Path(row["recording_path"]).stat().st_size > 16000

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    removed = retention.purge(db, settings.recordings_dir, 1, actor="test", now=later)
    assert row["recording_path"] in [item["path"] for item in removed]
    assert not Path(row["recording_path"]).exists()
    assert client.get(f"/recordings/{row['id']}").status_code == 404


def run_check(settings) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(settings.to_env())
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-m", "ivr.cli", "asterisk", "check"], cwd=str(REPO_ROOT), env=env,
                          capture_output=True, text=True, timeout=60)


def test_check_passes_on_the_lenders_pbx(external):
    """`ivr asterisk check` against this PBX, whose AMI user has only read=call,user,agent and
    write=originate,reporting: every line ok, exit status 0."""
    settings, pbx, stack, rows = external
    done = run_check(settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "everything Huifang needs is in place" in done.stdout
    for expected in ("read = agent", "write = originate", "app_mixmonitor", "huifang-call",
                     f"{settings.media_dir_in_asterisk}/recordings (Asterisk's view)"):
        assert re.search(rf"^ok .*{re.escape(expected)}", done.stdout, re.M), (expected, done.stdout)


def test_check_names_what_is_missing(external):
    """A missing read class and an unloaded module each make the check fail with the fix named.
    (Last in this module: it changes the PBX.)"""
    settings, pbx, stack, rows = external
    manager = pbx.root / "etc/manager.conf"
    manager.write_text(manager.read_text().replace("read = call,user,agent", "read = call,user"))
    pbx.cli("manager reload")
    pbx.cli("module unload app_mixmonitor.so")
    done = run_check(settings)
    assert done.returncode == 1
    out = done.stdout
    assert re.search(r"^MISSING +AMI +read = agent: .*add `agent` to its `read`", out, re.M), out
    assert re.search(r"^MISSING +module +app_mixmonitor: not loaded .*load => app_mixmonitor\.so", out, re.M), out
    assert re.search(r"^ok +AMI +read = user", out, re.M), out
    # without MixMonitor the probe cannot record: the media line says so too
    assert re.search(r"^MISSING +media .*Asterisk's view", out, re.M), out
