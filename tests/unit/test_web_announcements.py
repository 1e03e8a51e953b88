"""The announcements page: unrecognized early media filed into clusters on opening, a capture to
listen to, a label that teaches the library (audited), and who may do it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ivr.db import attempts
from ivr.dialer import announcement_library as lib
from ivr.dialer.early_media import early_media_in
from tests.support.web_app import Client, add_users, db_of, make_app
from tests.unit.carrier_audio import line, recording, ringback

OFF = "您拨打的电话已关机。"


def failed_with_early_media(app, db, aid, audio):
    attempts.create(db, {"id": aid, "number": "13600000000", "locale": "zh-CN", "state": "ended",
                         "outcome": "unreachable", "created_at": "2026-12-01T02:00:00.000+00:00"})
    early_media_in(app.config["RECORDINGS_DIR"], aid).write_bytes(
        np.clip(audio, -32768, 32767).astype("<i2").tobytes())


def test_supervisor_listens_and_labels_a_cluster(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["supervisor", "agent"])
    db = db_of(app)
    failed_with_early_media(app, db, "off-1", line(ringback(2.0), recording(OFF), gain=0.5, seed=1))
    failed_with_early_media(app, db, "off-2", line(recording(OFF), law="alaw", seed=2))
    c = Client(app)
    c.login("supervisor")
    page = c.get("/announcements").get_data(as_text=True)
    [cluster] = list(db.query("SELECT * FROM announcement_clusters"))
    assert cluster["members"] == 2 and cluster["label"] is None
    assert f'id="cluster-{cluster["id"]}"' in page and "未标注" in page and "关机" in page
    wav = c.get(f"/announcements/{cluster['id']}/audio")
    assert wav.status_code == 200 and wav.mimetype == "audio/wav" and wav.data[:4] == b"RIFF"
    assert c.post(f"/announcements/{cluster['id']}/label", {"label": "powered_off"}).status_code == 302
    assert lib.current(app.config["DATABASE"]).match(line(recording(OFF), law="alaw", gain=2, seed=3)).reason \
        == "powered_off"
    logged = [r["action"] for r in db.query("SELECT action FROM audit_log")]
    assert "label_announcement" in logged and "listen_early_media" in logged
    c.post(f"/announcements/{cluster['id']}/label", {"label": "nonsense"})
    assert "未知的标注" in c.get("/announcements").get_data(as_text=True)
    assert c.post("/announcements/999/label", {"label": "busy"}).status_code == 404
    # once retention removed every capture, the label (a fingerprint in the DB) still works
    for p in Path(app.config["RECORDINGS_DIR"]).glob("early-*"):
        p.unlink()
    assert c.get(f"/announcements/{cluster['id']}/audio").status_code == 404
    assert lib.current(app.config["DATABASE"]).match(line(recording(OFF), seed=4)).reason == "powered_off"

    agent = Client(app)
    agent.login("agent")
    assert agent.get("/announcements").status_code == 403
