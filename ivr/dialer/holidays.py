"""Which days are public holidays (mainland China), and which years we know that for.

Why this exists: the `chinese-calendar` package knows the State Council's holiday schedule only up
to the year it was released for (1.11: 2004-2026), and the schedule for a year is published in
November or December of the year before. A campaign that skips holidays must never call on a day
whose year nobody told us about, so:

* a year is *known* if the lender's holiday file lists at least one day of it, or the package
  covers it; for a year the file lists, the file is the whole truth (it replaces the package);
* `is_holiday` of a day in an unknown year raises `MissingHolidayYear` (never "no holiday");
* a campaign that skips holidays refuses to start when a day it could call on falls in an
  unknown year (`check_campaign`), and the policy refuses each call on such a day
  ("holiday-calendar-missing"), so a campaign that runs into a new year stops calling instead of
  calling on the holiday.

The holiday file (setting `holiday_file`, `IVR_HOLIDAY_FILE`): UTF-8 text, one ISO date per line
(`2027-01-01`), `#` starts a comment, blank lines are ignored; list every day off of each year
it covers (the make-up working days are simply not listed). It is re-read when it changes.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
HORIZON_DAYS = 90   # an open-ended campaign is checked for this many days ahead


class MissingHolidayYear(LookupError):
    def __init__(self, years: list[int], source: str):
        self.years = sorted(set(years))
        listed = ", ".join(str(y) for y in self.years)
        super().__init__(
            f"the holiday calendar ({source}) does not know the public holidays of {listed}; supply them in "
            f"a holiday file (one ISO date per line, # comments) named by the setting holiday_file "
            f"(IVR_HOLIDAY_FILE), or do not skip holidays")


class HolidayFileError(ValueError):
    pass


def read_holiday_file(path: str | os.PathLike[str]) -> set[dt.date]:
    """The days listed in a holiday file; a line that is not a date is an error naming the line."""
    days = set()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise HolidayFileError(f"holiday file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HolidayFileError(f"holiday file {path}: not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        try:
            days.add(dt.date.fromisoformat(value))
        except ValueError:
            raise HolidayFileError(f"holiday file {path}, line {number}: {value!r} is not a date (YYYY-MM-DD)") from None
    return days


@lru_cache(maxsize=256)
def _package_knows(year: int) -> bool:
    import chinese_calendar
    try:
        chinese_calendar.get_holiday_detail(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


class HolidayCalendar:
    """The package's calendar, completed (and overridden per year) by the lender's holiday file."""

    def __init__(self, holiday_file: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(holiday_file) if holiday_file else None
        self._stamp: tuple[int, int] | None = None   # (mtime_ns, size) of the file last read
        self._days: set[dt.date] = set()
        self.refresh()

    @property
    def source(self) -> str:
        return f"chinese-calendar and {self.path}" if self.path else "chinese-calendar"

    def refresh(self) -> None:
        """Re-read the holiday file if it changed (a lender adds next year's days while the dialer runs)."""
        if self.path is None:
            return
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp or stamp is None:
            self._days = read_holiday_file(self.path)
            self._stamp = stamp
            log.info("holiday file %s: %d day(s), years %s", self.path, len(self._days), sorted(self.file_years))

    @property
    def file_years(self) -> set[int]:
        return {d.year for d in self._days}

    def knows(self, year: int) -> bool:
        return year in self.file_years or _package_knows(year)

    def is_holiday(self, day: dt.date) -> bool:
        if day.year in self.file_years:
            return day in self._days
        if not _package_knows(day.year):
            raise MissingHolidayYear([day.year], self.source)
        import chinese_calendar
        holiday, name = chinese_calendar.get_holiday_detail(day)
        return bool(holiday and name)

    def missing_years(self, first: dt.date, last: dt.date) -> list[int]:
        return [y for y in range(first.year, last.year + 1) if not self.knows(y)]


def campaign_days(campaign: Mapping[str, Any], now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The first and last day a campaign could call on (its schedule, else HORIZON_DAYS from now).
    A day early and late, for the borrowers' time zones."""
    start = dt.datetime.fromisoformat(campaign["schedule_start"]) if campaign.get("schedule_start") else now
    start = max(start, now)
    end = dt.datetime.fromisoformat(campaign["schedule_end"]) if campaign.get("schedule_end") else \
        start + dt.timedelta(days=HORIZON_DAYS)
    return (start - dt.timedelta(days=1)).date(), (end + dt.timedelta(days=1)).date()


def check_campaign(campaign: Mapping[str, Any], skip_holidays: bool, now: dt.datetime,
                   calendar: HolidayCalendar) -> None:
    """Raise MissingHolidayYear if a campaign that skips holidays could call on a day of an unknown year."""
    if not skip_holidays:
        return
    first, last = campaign_days(campaign, now)
    missing = calendar.missing_years(first, last)
    if missing:
        raise MissingHolidayYear(missing, calendar.source)
