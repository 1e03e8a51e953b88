"""Reading a recording: whole or by byte range (what a browser's <audio> asks for), every read is
one audit entry naming the range; a range gets a proper 206 with only those bytes."""
from __future__ import annotations

import json

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
