"""No production command can bend time: no `ivr` command or setting takes a clock, fake "now" or
time shift; only the in-process `policy_shift` of the demo and the tests moves the time the
calling-hours policy decides on, and every stored time (the compliance proof included) stays real."""
from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest

from ivr import cli, config
from ivr.config import Settings
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns, controller
from ivr.dialer.clock import parse_iso, shift_to
from tests.support.fake_placer import FakePlacer
from tests.support.web_app import Client, add_users, make_app

SHANGHAI = ZoneInfo("Asia/Shanghai")
# anything that names a clock, a time shift or a fake "now"
CLOCK_WORDS = re.compile(r"fake|now|clock|shift|offset|faketime|time[-_]?travel|pretend|as[-_]of|\bat\b|today",
                         re.IGNORECASE)
# reference day for understanding relative dates ("next Friday") or risk levels: these commands place
# no call and write nothing, so their day cannot bend a calling rule or a stored time
READ_ONLY_TODAY = {("ivr", "nlu"), ("ivr", "asr"), ("ivr", "risk")}


def walk(parser: argparse.ArgumentParser, path=("ivr",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, path + (name,))


def test_no_ivr_command_offers_a_clock_option():
    offenders, seen = [], 0
    for path, parser in walk(cli.build_parser()):
        seen += 1
        for action in parser._actions:
            names = list(action.option_strings) + [action.dest]
            if path in READ_ONLY_TODAY and names[0] == "--today":
                continue
            if any(CLOCK_WORDS.search(n.lstrip("-")) for n in names):
                offenders.append(f"{' '.join(path)}: {action.option_strings or action.dest}")
        help_text = parser.format_help()
        if re.search(r"fake|clock", help_text, re.IGNORECASE):
            offenders.append(f"{' '.join(path)} --help mentions: {help_text}")
    assert seen > 15  # the walk really went through the subcommands
    assert not offenders, offenders


@pytest.mark.parametrize("argv", [["dialer", "run", "--fake-now", "2026-12-01T10:00:00+08:00"],
                                  ["notify", "run", "--notify-config", "x.toml", "--fake-now", "2026-12-01T10:00"]])
def test_fake_now_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "unrecognized arguments: --fake-now" in capsys.readouterr().err


def test_no_setting_shifts_the_clock():
    names = [f.name for f in dataclasses.fields(Settings)]
    assert not [n for n in names if CLOCK_WORDS.search(n)], names
    # and the environment cannot add one: unknown IVR_ variables are not settings
    s = config.load(env={"IVR_FAKE_NOW": "2026-12-01T10:00:00+08:00", "IVR_CLOCK_OFFSET": "3600"})
    assert not [n for n in vars(s) if CLOCK_WORDS.search(n)]


def _campaign_db(path):
    adb = AsyncDb(path)
    d = adb.db
    d["borrowers"].insert({"id": 1, "loan_id": "L1", "name": "n", "amount_due": 100, "due_date": "2026-12-05",
                           "locale": "zh-CN", "timezone": "Asia/Shanghai", "created_at": "x", "updated_at": "x"})
    d["contacts"].insert({"borrower_id": 1, "phone": "13800000001", "kind": "mobile", "created_at": "x"})
    cid = campaigns.create(d, name="t", selection={"all": True}, max_cps=50, max_attempts=1)
    campaigns.apply_command(d, cid, "start")
    return adb, cid


def _policy_moment(hour: int) -> dt.datetime:
    """A policy time far from now (40 days ahead), so a shifted stamp could never pass for a real one."""
    day = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=40)
    return dt.datetime.combine(day, dt.time(hour, 0), tzinfo=SHANGHAI)


def test_compliance_export_carries_real_time_when_the_policy_clock_is_shifted(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["auditor"])
    adb, cid = _campaign_db(app.config["DATABASE"])
    placer = FakePlacer(adb, outcome_for=lambda n: {"outcome": "answered", "dialog": "completed"}, duration_s=0.05)
    ctl = controller.Controller(Settings(), placer=placer, db=adb, tick_s=0.02,
                                policy_shift=shift_to(_policy_moment(10)))
    before = dt.datetime.now(dt.timezone.utc)
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 30))
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert len(placer.placed) == 1   # the policy saw 10:00 and let the call through
    row = next(adb.db.query("SELECT * FROM attempts"))
    for key in ("created_at", "ended_at"):
        assert before - dt.timedelta(seconds=1) <= parse_iso(row[key]) <= after, (key, row[key])
    stamps = [r["started_at"] for r in adb.db.query("SELECT started_at FROM campaigns")]
    assert all(before - dt.timedelta(minutes=1) <= parse_iso(s) <= after for s in stamps)
    adb.close()

    c = Client(app)
    c.login("auditor")
    r = c.post("/compliance/export", {"loan_id": "L1", "format": "csv"})
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    record = dict(zip(rows[0], rows[1]))
    exported = parse_iso(next(v for k, v in record.items() if "UTC" in k))
    assert before - dt.timedelta(seconds=1) <= exported <= after
    local = next(v for k, v in record.items() if k == "借款人当地时间")
    assert local == exported.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    assert not local.startswith(_policy_moment(10).strftime("%Y-%m-%d"))


def test_a_shifted_policy_refuses_in_its_own_time_and_stores_real_times(tmp_path):
    """Policy at 03:00 Beijing: refused; the target waits until 08:00 policy time, i.e. 5 h of real time."""
    adb, cid = _campaign_db(tmp_path / "t.db")
    placer = FakePlacer(adb, duration_s=0.01)
    ctl = controller.Controller(Settings(), placer=placer, db=adb, tick_s=0.02,
                                policy_shift=shift_to(_policy_moment(3)))

    async def go():
        await ctl.start()
        await ctl.tick()
        await asyncio.gather(*ctl._tasks)
    real = dt.datetime.now(dt.timezone.utc)
    asyncio.run(go())
    assert placer.placed == []
    target = next(adb.db.query("SELECT * FROM campaign_targets"))
    wait = parse_iso(target["next_at"]) - real
    assert dt.timedelta(hours=5) - dt.timedelta(seconds=5) <= wait <= dt.timedelta(hours=5), wait
    refusal = next(adb.db.query("SELECT * FROM dial_refusals"))
    assert refusal["reason"] == "outside-calling-hours"
    assert abs((parse_iso(refusal["at"]) - real).total_seconds()) < 5
    adb.close()
