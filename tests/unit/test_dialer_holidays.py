"""Skipping holidays never silently stops: a year the holiday calendar does not know (the package
knows 2004-2026; 2099 stands for any year nobody has published) makes a campaign that skips
holidays refuse to start, and the policy refuse each call on such a day, unless the lender's
holiday file lists that year."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from ivr.config import REPO_ROOT
from ivr.db.connect import connect
from ivr.dialer import campaigns
from ivr.dialer.holidays import HolidayCalendar, HolidayFileError, MissingHolidayYear, read_holiday_file
from ivr.dialer.policy import Candidate, ContactFacts, Dial, Policy, Refuse, decide

SH = ZoneInfo("Asia/Shanghai")
FILE_2099 = """# our holidays for 2099, from the State Council notice
2099-01-01   # New Year

2099-10-01
2099-10-02
"""


@pytest.fixture
def holiday_file(tmp_path):
    path = tmp_path / "holidays.txt"
    path.write_text(FILE_2099, encoding="utf-8")
    return path


def test_the_file_is_one_date_per_line_with_comments(holiday_file, tmp_path):
    assert read_holiday_file(holiday_file) == {dt.date(2099, 1, 1), dt.date(2099, 10, 1), dt.date(2099, 10, 2)}
    bad = tmp_path / "bad.txt"
    bad.write_text("2099-01-01\n2099/10/01\n")
    with pytest.raises(HolidayFileError, match=r"line 2: '2099/10/01' is not a date"):
        read_holiday_file(bad)
    with pytest.raises(HolidayFileError, match="no-such"):
        HolidayCalendar(tmp_path / "no-such.txt")


def test_an_unknown_year_is_an_error_not_a_working_day(holiday_file):
    package = HolidayCalendar()
    assert package.is_holiday(dt.date(2026, 10, 1)) and not package.is_holiday(dt.date(2026, 10, 9))
    with pytest.raises(MissingHolidayYear) as exc:
        package.is_holiday(dt.date(2099, 3, 2))
    assert "2099" in str(exc.value) and "holiday_file" in str(exc.value)
    lender = HolidayCalendar(holiday_file)
    assert lender.is_holiday(dt.date(2099, 10, 2)) and not lender.is_holiday(dt.date(2099, 3, 2))
    assert lender.is_holiday(dt.date(2026, 10, 1))   # years the file does not list: the package


def test_the_file_is_the_whole_truth_for_the_years_it_lists(tmp_path):
    path = tmp_path / "h.txt"
    path.write_text("2026-10-08\n")
    cal = HolidayCalendar(path)
    assert cal.is_holiday(dt.date(2026, 10, 8)) and not cal.is_holiday(dt.date(2026, 10, 1))
    path.write_text("2026-10-01\n2099-05-01\n")   # edited while the dialer runs
    os.utime(path, ns=(0, 10**18))
    cal.refresh()
    assert cal.is_holiday(dt.date(2026, 10, 1)) and cal.knows(2099)


def candidate(locale="zh-CN"):
    return Candidate(campaign_id=1, borrower_id=1, timezone="Asia/Shanghai", locale=locale, flow="followup",
                     attempts=0, next_at="", contacts=(ContactFacts(contact_id=1, phone="13800000001"),))


def test_the_policy_refuses_a_day_of_an_unknown_year(holiday_file):
    now = dt.datetime(2099, 3, 2, 10, 0, tzinfo=SH)
    skip = Policy(skip_holidays=True)
    d = decide(candidate(), now, skip)
    assert isinstance(d, Refuse) and d.reason == "holiday-calendar-missing" and "2099" in d.detail
    assert d.until == now + dt.timedelta(hours=1)
    assert isinstance(decide(candidate(), now, skip, HolidayCalendar(holiday_file)), Dial)
    holiday = decide(candidate(), dt.datetime(2099, 10, 1, 10, 0, tzinfo=SH), skip, HolidayCalendar(holiday_file))
    assert isinstance(holiday, Refuse) and holiday.reason == "public-holiday"
    assert holiday.until == dt.datetime(2099, 10, 3, 8, 0, tzinfo=SH)
    assert isinstance(decide(candidate(), now, Policy()), Dial)           # not skipping holidays: no calendar needed
    assert isinstance(decide(candidate("ko-KR"), now, skip), Dial)        # holidays apply to zh-CN borrowers


@pytest.fixture
def db(tmp_path):
    d = connect(tmp_path / "t.db")
    d["borrowers"].insert({"id": 1, "loan_id": "L1", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                           "created_at": "x", "updated_at": "x"})
    return d


def test_a_campaign_that_skips_holidays_refuses_to_start_for_an_unknown_year(db, tmp_path, holiday_file):
    """December of a known year (the lender listed 2098), a campaign running into January of the next."""
    known = tmp_path / "2098.txt"
    known.write_text("2098-10-01\n")
    now = dt.datetime(2098, 12, 3, tzinfo=dt.timezone.utc)
    cid = campaigns.create(db, name="x", selection={"all": True}, policy={"skip_holidays": True},
                           schedule_start="2098-12-20T00:00:00+08:00", schedule_end="2099-01-10T00:00:00+08:00")
    with pytest.raises(campaigns.CampaignError) as exc:
        campaigns.apply_command(db, cid, "start", now=now, calendar=HolidayCalendar(known))
    assert "does not know the public holidays of 2099;" in str(exc.value) and "holiday_file" in str(exc.value)
    assert campaigns.get(db, cid)["state"] == "draft"
    # the same, queued by the web app and applied by the controller
    campaigns.request(db, cid, "start", "web:boss", now=now)
    done = campaigns.process_commands(db, now, HolidayCalendar(known))
    assert done[0]["result"].startswith("refused: ") and "2099" in done[0]["result"]
    # once the lender's file lists both years it starts
    both = tmp_path / "both.txt"
    both.write_text(known.read_text() + holiday_file.read_text())
    assert campaigns.apply_command(db, cid, "start", now=now, calendar=HolidayCalendar(both)) == "running"


def test_open_ended_campaigns_are_checked_ahead_and_others_are_not_blocked(db):
    now = dt.datetime(2098, 11, 1, tzinfo=dt.timezone.utc)   # 90 days ahead reach into 2099
    open_ended = campaigns.create(db, name="x", selection={"all": True}, policy={"skip_holidays": True})
    with pytest.raises(campaigns.CampaignError, match="2099"):
        campaigns.apply_command(db, open_ended, "start", now=now)
    plain = campaigns.create(db, name="y", selection={"all": True})
    assert campaigns.apply_command(db, plain, "start", now=now) == "running"


def test_cli_start_names_the_year_and_uses_the_holiday_file(tmp_path, holiday_file):
    db_path = tmp_path / "cli.db"
    d = connect(db_path)
    d["borrowers"].insert({"id": 1, "loan_id": "L1", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                           "created_at": "x", "updated_at": "x"})
    cid = campaigns.create(d, name="x", selection={"all": True}, policy={"skip_holidays": True},
                           schedule_start="2099-03-01T00:00:00+08:00", schedule_end="2099-03-31T00:00:00+08:00")

    def ivr(*args, **env):
        full = dict(os.environ, PYTHONPATH=str(REPO_ROOT), IVR_DB_PATH=str(db_path), **env)
        return subprocess.run([sys.executable, "-m", "ivr.cli", *args], capture_output=True, text=True, env=full,
                              cwd=REPO_ROOT, timeout=60)
    out = ivr("campaign", "start", str(cid))
    assert out.returncode == 1 and "public holidays of 2099" in out.stderr and "Traceback" not in out.stderr
    out = ivr("campaign", "start", str(cid), IVR_HOLIDAY_FILE=str(holiday_file))
    assert out.returncode == 0 and "running" in out.stdout, out.stderr
