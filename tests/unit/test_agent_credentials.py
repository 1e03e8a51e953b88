"""Agents' SIP credentials: strong, shown once, stored only as the digest HA1 Asterisk checks
(md5_cred), rendered as registration-only endpoints (no static contact), one web account per phone."""
from __future__ import annotations

import re

import pytest

from ivr.agents import credentials, endpoints
from ivr.asterisk.render import agent_endpoints, queue_members
from ivr.config import Settings
from ivr.db.connect import connect


@pytest.fixture
def db(tmp_path):
    """An SQLite file, for the test that reads the file's bytes (the others run on both engines)."""
    d = connect(tmp_path / "h.db")
    yield d
    d.conn.close()


def test_md5_cred_is_the_rfc2617_ha1():
    # RFC 2617 section 3.5: Mufasa / testrealm@host.com / "Circle Of Life"
    assert credentials.md5_cred("Mufasa", "testrealm@host.com", "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9"


def test_passwords_are_long_random_and_never_repeat():
    seen = {credentials.new_password() for _ in range(2000)}
    assert len(seen) == 2000
    for pw in list(seen)[:50]:
        assert len(pw) >= 24 and re.fullmatch(r"[A-Za-z0-9_-]+", pw)


def test_only_the_hash_is_stored(tmp_path, db):
    password = endpoints.create(db, "agent1", by="t")
    row = endpoints.get(db, "agent1")
    assert row["md5_cred"] == credentials.md5_cred("huifang-agent1", "huifang", password)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for f in tmp_path.glob("h.db*"):
        assert password.encode() not in f.read_bytes(), f
    again = endpoints.reset(db, "agent1", by="t")
    assert again != password and endpoints.get(db, "agent1")["md5_cred"] != row["md5_cred"]


def test_names_and_links(any_db, store):
    db = any_db
    for bad in ("", "Agent1", "1agent", "agent-1", "a" * 32, "agent 1", "agent1;x"):
        with pytest.raises(credentials.CredentialError):
            endpoints.create(db, bad)
    first = endpoints.create(db, "agent1")
    with pytest.raises(credentials.CredentialError, match="exists"):
        endpoints.create(db, "agent1")
    assert endpoints.get(db, "agent1")["md5_cred"] == credentials.md5_cred("huifang-agent1", "huifang", first)
    with pytest.raises(credentials.CredentialError, match="no agent endpoint"):
        endpoints.reset(db, "agent9")
    now = "2026-12-01T00:00:00"
    wang, li = (store.insert("users", {"username": name, "password_hash": "x", "role": "agent", "created_at": now,
                                       "updated_at": now}) for name in ("wang", "li"))
    endpoints.link(db, "agent1", wang)
    with pytest.raises(credentials.CredentialError, match="belongs to wang"):
        endpoints.link(db, "agent1", li)
    with pytest.raises(credentials.CredentialError, match="create it first"):
        endpoints.link(db, "agent7", li)
    assert [(e["name"], e["username"]) for e in endpoints.active(db)] == [("agent1", "wang")]
    endpoints.create(db, "agent2", user_id=li)          # created and linked in one transaction
    with pytest.raises(credentials.CredentialError, match="belongs to li"):
        endpoints.link(db, "agent2", wang)
    assert [(e["name"], e["username"]) for e in endpoints.active(db)] == [("agent1", "wang"), ("agent2", "li")]
    endpoints.link(db, None, wang)
    assert store.get("users", wang)["agent_ext"] is None and store.get("users", wang)["updated_at"] > now
    assert [(e["name"], e["username"]) for e in endpoints.active(db)] == [("agent1", None), ("agent2", "li")]


def test_interface_names():
    assert credentials.name_from_interface("PJSIP/huifang-agent1") == "agent1"
    assert credentials.name_from_interface("PJSIP/huifang-zhang_wei-0000001a") == "zhang_wei"
    assert credentials.name_from_interface("PJSIP/huifang-trunk-00000003") == "trunk"  # syntactically a name
    assert credentials.name_from_interface("PJSIP/other-agent1") is None
    assert credentials.name_from_interface("Local/agent1@x") is None


def test_rendered_endpoints_require_registration(any_db):
    db = any_db
    password = endpoints.create(db, "agent1")
    endpoints.create(db, "agent2")
    endpoints.deactivate(db, "agent2")
    text = agent_endpoints(Settings(), endpoints.active(db))
    assert password not in text and not re.search(r"^contact", text, re.M) and "password =" not in text
    sections = re.findall(r"^\[(.+)\]\ntype = (\w+)", text, re.M)
    assert sections == [("huifang-agent1", "auth"), ("huifang-agent1", "aor"), ("huifang-agent1", "endpoint")]
    assert f"md5_cred = {endpoints.get(db, 'agent1')['md5_cred']}" in text and "auth = huifang-agent1" in text
    assert queue_members(endpoints.active(db)) == "member => PJSIP/huifang-agent1,0,agent1"


def test_simulated_phones_accounts_file(tmp_path):
    from ivr.sim.phone import registered_accounts
    assert registered_accounts(None)["accounts"] == []
    good = tmp_path / "a.json"
    good.write_text('{"registrar": "127.0.0.1:5060", "accounts": [{"name": "agent1", "username": "huifang-agent1", '
                    '"password": "p"}]}')
    assert registered_accounts(str(good))["accounts"][0]["username"] == "huifang-agent1"
    bad = tmp_path / "b.json"
    bad.write_text('{"registrar": "127.0.0.1:5060", "accounts": [{"name": "agent1", "password": ""}]}')
    with pytest.raises(ValueError, match="name, username and password"):
        registered_accounts(str(bad))


def test_stack_provisions_fresh_credentials_in_a_private_file(tmp_path, engine_url, any_db):
    """On either engine (`database_url`): the simulated phones' endpoints land in that database, and
    the configuration Asterisk is given (registered_agents) reads them from there."""
    import json
    import stat

    from ivr import config
    from ivr.asterisk.render import registered_agents
    from ivr.stack import provision_simulated_agents
    s = config.load(env={}).replace(db_path=str(tmp_path / "not-this.db"), database_url=engine_url,
                                    cache_dir=tmp_path / "cache", instance="prov-test")
    path = provision_simulated_agents(s, ["agent1", "agent2"], tmp_path / "run" / "accounts.json")
    first = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [a["username"] for a in first["accounts"]] == ["huifang-agent1", "huifang-agent2"]
    for a in first["accounts"]:
        assert endpoints.get(any_db, a["name"])["md5_cred"] == credentials.md5_cred(a["username"], "huifang",
                                                                                   a["password"])
    assert [a["name"] for a in registered_agents(s)] == ["agent1", "agent2"]
    again = json.loads(provision_simulated_agents(s, ["agent1"], path).read_text())
    assert again["accounts"][0]["password"] != first["accounts"][0]["password"]   # a fresh one at every start
    assert not (tmp_path / "not-this.db").exists()
