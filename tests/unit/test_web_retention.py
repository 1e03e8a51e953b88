"""Recording retention on both engines: the setting (clamped to 1..MAX_DAYS whatever the row says),
the purge (only old files inside the recordings directory, each logged, the run audited), and
`ivr purge-recordings` on the database `database_url` names. (The compliance page's retention form
is tested with that page, test_web_compliance.py.)"""
from __future__ import annotations

import datetime as dt

from ivr import cli as ivr_cli
from ivr.db.store import store_of
from ivr.web import retention
from tests.support.web_app import db_of, make_app, seed


def test_retention_setting_and_purge_on_each_engine(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    ids = seed(app)
    s = store_of(db_of(app))
    try:
        assert retention.retention_days(s, 180) == 180
        retention.set_retention_days(s, 45, "admin")
        retention.set_retention_days(s, 30, "admin")       # one row, replaced
        assert retention.retention_days(s, 180) == 30
        s.execute("UPDATE web_settings SET value = '999999999' WHERE key = :k", {"k": retention.SETTING})
        assert retention.retention_days(s, 180) == retention.MAX_DAYS
        outside = tmp_path / "keep.wav"
        outside.write_bytes(b"x")
        s.execute("UPDATE attempts SET recording_path = :p WHERE id = 'a-busy'", {"p": str(outside)})
        now = dt.datetime(2026, 12, 31, tzinfo=dt.timezone.utc)
        assert retention.purge(s, app.config["RECORDINGS_DIR"], 60, now=now) == []
        assert retention.purge(s, app.config["RECORDINGS_DIR"], 30, now=now, dry_run=True)[0]["bytes"] == 44
        assert ids["wav"].exists()
        removed = retention.purge(s, app.config["RECORDINGS_DIR"], 30, now=now, actor="cli")
        assert [r["attempt_id"] for r in removed] == ["a-answered"]
        assert not ids["wav"].exists() and outside.exists()
        log = s.query("SELECT attempt_id, retention_days, purged_by, bytes FROM recording_purges")
        assert log == [{"attempt_id": "a-answered", "retention_days": 30, "purged_by": "cli", "bytes": 44}]
        audited = s.query("SELECT actor, detail FROM audit_log WHERE action = 'purge_recordings' ORDER BY id")
        assert [a["actor"] for a in audited] == ["system", "cli"] and '"removed": 1' in audited[-1]["detail"]
    finally:
        s.close()


def test_cli_purge_on_the_database_url(tmp_path, engine_url, monkeypatch, capsys):
    app = make_app(tmp_path, database_url=engine_url)
    media = tmp_path / "media"
    ids = seed(app, media / "recordings")   # recorded 2026-11-30: old enough for a one-day retention
    monkeypatch.setenv("IVR_DB_PATH", str(tmp_path / "not-this.db"))
    monkeypatch.setenv("IVR_DATABASE_URL", engine_url)
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("IVR_MEDIA_DIR", str(media))   # recordings_dir = <media_dir>/recordings
    assert ivr_cli.main(["purge-recordings", "--days", "1", "--dry-run"]) == 0
    assert "would remove 1 recording(s)" in capsys.readouterr().err and ids["wav"].exists()
    assert ivr_cli.main(["purge-recordings", "--days", "1"]) == 0
    assert "removed 1 recording(s)" in capsys.readouterr().err and not ids["wav"].exists()
    assert not (tmp_path / "not-this.db").exists()
