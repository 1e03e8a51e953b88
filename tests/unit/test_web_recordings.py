"""Reading a recording: whole or by byte range (what a browser's <audio> asks for), every read is
one audit entry naming the range; a range gets a proper 206 with only those bytes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr import config
from ivr.db.store import store_of
from tests.support.web_app import Client, add_users, db_of, make_app, seed


def audit_entries(app):
    return [json.loads(r["detail"]) | {"actor": r["actor"]} for r in
            db_of(app).query("SELECT actor, detail FROM audit_log WHERE action = 'listen_recording' "
                             "AND object_id = 'a-answered' ORDER BY id")]


def test_every_range_read_is_a_206_with_those_bytes_and_an_audit_entry(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["qa"])
    ids = seed(app)
    content = ids["wav"].read_bytes()
    c = Client(app)
    c.login("qa")
    whole = c.get("/recordings/a-answered")
    assert whole.status_code == 200 and whole.data == content
    for header, status, expect in (("bytes=1-", 206, content[1:]), ("bytes=4-9", 206, content[4:10]),
                                   ("bytes=-4", 206, content[-4:]), ("bytes=0-", 206, content)):
        r = c.get("/recordings/a-answered", headers={"Range": header})
        assert r.status_code == status, header
        assert r.data == expect, header
        assert r.headers["Content-Range"].startswith("bytes "), header
    assert c.get("/recordings/a-answered", headers={"Range": "bytes=999-"}).status_code == 416  # nothing read
    entries = audit_entries(app)
    assert [e["range"] for e in entries] == [None, "bytes=1-", "bytes=4-9", "bytes=-4", "bytes=0-"]
    assert all(e["actor"] == "qa" for e in entries)
    assert entries[1]["status"] == 206 and entries[1]["content_range"] == f"bytes 1-{len(content) - 1}/{len(content)}"


def test_a_recording_under_another_nodes_root_plays_once_configured(tmp_path):
    """Issue 12: a call made on node B has node B's path in recordings.path. It plays when that
    directory (as this machine mounts it) is in the setting recordings_roots; a path that leaves every
    root (`..`, a symlink) never plays."""
    app = make_app(tmp_path)
    add_users(app, ["qa"])
    seed(app)
    node_b = tmp_path / "node-b" / "recordings"
    node_b.mkdir(parents=True)
    (node_b / "b1.wav").write_bytes(b"RIFF-node-b")
    (tmp_path / "node-b" / "secret.wav").write_bytes(b"RIFF-secret")
    (node_b / "link.wav").symlink_to(tmp_path / "node-b" / "secret.wav")
    s = store_of(db_of(app))

    def recorded_at(path):
        s.execute("UPDATE recordings SET path = :p WHERE attempt_id = 'a-answered'", {"p": str(path)})
        s.execute("UPDATE attempts SET recording_path = :p WHERE id = 'a-answered'", {"p": str(path)})

    c = Client(app)
    c.login("qa")
    recorded_at(node_b / "b1.wav")
    assert c.get("/recordings/a-answered").status_code == 404     # not a root of this web app yet
    app.config["SETTINGS"] = app.config["SETTINGS"].replace(recordings_roots=f"/nowhere:{node_b}")
    r = c.get("/recordings/a-answered")
    assert r.status_code == 200 and r.data == b"RIFF-node-b"
    assert "/recordings/a-answered" in c.get("/calls/a-answered").get_data(as_text=True)
    for escape in (node_b / ".." / "secret.wav", node_b / "link.wav"):
        recorded_at(escape)
        assert c.get("/recordings/a-answered").status_code == 404, escape
    recorded_at(tmp_path / "recordings" / "a-answered.wav")     # this web app's own directory still plays
    assert c.get("/recordings/a-answered").status_code == 200
    s.close()


def test_recordings_roots_setting():
    assert config.load(env={}).recordings_roots_extra == ()
    s = config.load(env={"IVR_RECORDINGS_ROOTS": "/mnt/node-b/recordings: /mnt/node-c/recordings"})
    assert s.recordings_roots_extra == (Path("/mnt/node-b/recordings"), Path("/mnt/node-c/recordings"))
    with pytest.raises(ValueError, match="recordings_roots: each directory must be an absolute path"):
        config.load(env={"IVR_RECORDINGS_ROOTS": "/mnt/ok:relative/dir"})
