"""Controller heartbeats: the loop writes one while it runs (AMI up or down), a clean stop or
silence makes it stale; the campaign page says when no controller is running and pressing 开始
then warns (the command is still queued for a controller started later)."""
from __future__ import annotations

import asyncio
import datetime as dt

from ivr.config import Settings
from ivr.db.clock import now_iso
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns, controller, heartbeat
from tests.support.fake_placer import FakePlacer
from tests.support.web_app import Client, add_users, db_of, make_app


def _outcome(number):
    return {"outcome": "busy", "cause": 17}


def test_loop_beats_while_running_even_with_ami_down_and_marks_a_clean_stop(tmp_path):
    adb = AsyncDb(tmp_path / "t.db")
    assert heartbeat.status(adb.db) == {"alive": False, "last_beat_at": None, "ami_connected": False}
    placer = FakePlacer(adb, outcome_for=_outcome, duration_s=0.01)
    placer.ami.connected = False
    ctl = controller.Controller(Settings(), placer=placer, db=adb, tick_s=0.01)

    async def go():
        await ctl.start()
        await ctl.tick()
        seen = heartbeat.status(adb.db)
        assert seen["alive"] and not seen["ami_connected"]
        placer.ami.connected = True
        ctl._last_beat -= heartbeat.BEAT_EVERY_S    # the next beat is due
        await ctl.tick()
        assert heartbeat.status(adb.db)["ami_connected"]
        await ctl.close()
    asyncio.run(go())
    after = heartbeat.status(adb.db)
    assert not after["alive"] and after["last_beat_at"] is not None
    adb.close()


def test_a_beat_goes_stale(tmp_path):
    adb = AsyncDb(tmp_path / "t.db")
    heartbeat.beat(adb.db, "host:1", now_iso(), True)
    now = dt.datetime.now(dt.timezone.utc)
    assert heartbeat.status(adb.db, now)["alive"]
    assert not heartbeat.status(adb.db, now + dt.timedelta(seconds=heartbeat.STALE_AFTER_S + 1))["alive"]
    adb.close()


def _campaign_page(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    db = db_of(app)
    db["borrowers"].insert({"loan_id": "L1", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                            "created_at": "x", "updated_at": "x"})
    cid = campaigns.create(db, name="t", selection={"all": True})
    c = Client(app)
    c.login("supervisor")
    return app, db, c, cid


def test_start_without_a_controller_warns_and_names_the_last_heartbeat(tmp_path):
    app, db, c, cid = _campaign_page(tmp_path)
    page = c.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "没有正在运行的外呼控制器（最后心跳：从未）" in page
    page = c.post(f"/campaigns/{cid}/command", {"command": "start"}, follow_redirects=True).get_data(as_text=True)
    assert "已提交“开始”，但没有正在运行的外呼控制器" in page and "ivr dialer run" in page
    assert [r["command"] for r in db.query("SELECT command FROM commands")] == ["start"]
    assert c.get(f"/campaigns/{cid}/progress.json").get_json()["controller_alive"] is False
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)).isoformat(timespec="milliseconds")
    heartbeat.beat(db, "host:1", old, True)
    db.execute("UPDATE controller_heartbeats SET beat_at = ?", [old])
    page = c.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "没有正在运行的外呼控制器（最后心跳：20" in page


def test_start_with_a_controller_running_queues_quietly(tmp_path):
    app, db, c, cid = _campaign_page(tmp_path)
    heartbeat.beat(db, "host:1", now_iso(), True)
    page = c.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "外呼控制器运行中" in page and "没有正在运行的外呼控制器" not in page
    page = c.post(f"/campaigns/{cid}/command", {"command": "start"}, follow_redirects=True).get_data(as_text=True)
    assert "没有正在运行的外呼控制器" not in page
    assert c.get(f"/campaigns/{cid}/progress.json").get_json()["controller_alive"] is True


def test_dashboard_says_when_no_controller_runs(tmp_path):
    app, db, c, cid = _campaign_page(tmp_path)
    assert "没有正在运行的外呼控制器" in c.get("/").get_data(as_text=True)
    heartbeat.beat(db, "host:1", now_iso(), True)
    assert "没有正在运行的外呼控制器" not in c.get("/").get_data(as_text=True)


def test_beat_stop_and_status_on_both_engines(any_db):
    now = dt.datetime.now(dt.timezone.utc)
    heartbeat.beat(any_db, "h:1", now.isoformat(), True)
    heartbeat.beat(any_db, "h:1", now.isoformat(), False)          # the same row, updated
    assert heartbeat.status(any_db)["alive"] and not heartbeat.status(any_db)["ami_connected"]
    heartbeat.stopped(any_db, "h:1")
    assert not heartbeat.status(any_db)["alive"]
    heartbeat.beat(any_db, "h:1", now.isoformat(), True)           # started again: the stop is cleared
    assert heartbeat.status(any_db)["alive"]
    assert heartbeat.status(any_db, now + dt.timedelta(seconds=heartbeat.STALE_AFTER_S + 5))["alive"] is False
