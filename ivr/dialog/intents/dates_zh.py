"""Chinese date / time-of-day extraction (wraps jionlp, imported lazily).

``find_dates(text, today)`` returns the date/time mentions in ``text`` in
spoken order as ``Mention(start, end, date, time)``.  jionlp does the heavy
lifting; this module only

* first reads what jionlp cannot (``days_zh``: 月底, 下个月初, 年底, 过两天, 明儿 ...),
* drops pseudo-times jionlp finds in ordinary speech (现在, 晚一点),
* turns jionlp's ranges into "a day" or "a clock time" (a week or an
  afternoon is too vague to book, so it gives no slot),
* rolls a bare day of the month that has already passed into next month, and a month-day
  without a year that has passed into next year when that is within half a year (一月十号
  said in December); anything else in the past stays there (the pipeline drops past days),
* reads an hour 1-6 without 上午/早上/凌晨 as afternoon (三点打给我 = 15:00).
"""
from __future__ import annotations

import calendar
import datetime as _dt
import re
from dataclasses import dataclass

from . import days_zh

# Pseudo-times jionlp extracts from ordinary speech.
IGNORED = {"现在", "晚一点", "早一点", "一点", "马上", "刚才", "目前", "一会", "一会儿", "晚点"}
# Morning markers: keep hours 1-6 as a.m. when one of these is said.
MORNING = ("上午", "早上", "早晨", "凌晨", "清晨", "一早", "早")
# A mention made only of these is a time of day with no date of its own.
TIME_ONLY = re.compile(r"^(今天|今晚)?(上午|下午|中午|晚上|傍晚|早上|早晨|凌晨|夜里|今晚)?"
                       r"[零一二两三四五六七八九十\d]+(点|时|:|：)([零一二三四五六七八九十\d]+分?|半|一刻|三刻)?(钟)?(以后|之后|左右)?$")
_jio = None


def _jionlp():
    global _jio
    if _jio is None:
        import contextlib
        import io
        # jionlp prints a banner to stdout on import; our commands print JSON there
        with contextlib.redirect_stdout(io.StringIO()):
            import jionlp  # ~0.3-0.6 s, only on first use
        _jio = jionlp
    return _jio


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    date: _dt.date | None
    time: tuple[int, int] | None
    time_only: bool = False


def _roll_year(date: _dt.date, text: str, today: _dt.date) -> _dt.date:
    """一月十号 said in December means next January (when that is within half a year)."""
    if date >= today or "月" not in text or re.search("[年去昨前上]", text):
        return date
    try:
        later = date.replace(year=date.year + 1)
    except ValueError:
        return date
    return later if (later - today).days <= 183 else date


def _from_jionlp(item: dict, today: _dt.date) -> Mention | None:
    text = item["text"]
    if text in IGNORED:
        return None
    det = item.get("detail") or {}
    kind = det.get("type")
    span = det.get("time") or []
    if kind not in ("time_point", "time_span") or not span:
        return None
    try:
        start = _dt.datetime.strptime(span[0], "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    end = None
    if len(span) > 1 and span[1] not in ("inf", "-inf"):
        try:
            end = _dt.datetime.strptime(span[1], "%Y-%m-%d %H:%M:%S")
        except (TypeError, ValueError):
            end = None
    if end is not None and re.search(r"(之前|以前|前)$", text):
        # "五点前" = by five: the deadline is the end of the span
        start = end.replace(minute=0 if end.minute == 59 else end.minute, second=0)
        if end.hour == 23 and end.minute == 59:
            start = start.replace(hour=0)
        end = start + _dt.timedelta(minutes=59)
    whole_day = (start.hour, start.minute, start.second) == (0, 0, 0) and (
        end is None or (end - start) >= _dt.timedelta(hours=23))
    if end is not None and (end - start) > _dt.timedelta(days=1):
        return None  # 下周, 下个月: no single day
    if re.search(r"(小时|分钟|钟头)(以?后|之后)", text):
        # relative to a clock we do not have: keep only the day
        return Mention(item["offset"][0], item["offset"][1], today, None)
    date = start.date()
    time = None
    has_clock = re.search(r"[点时:：]", text) is not None
    if has_clock and (not whole_day or re.search(r"(零|0)点", text)):
        h, mi = start.hour, start.minute
        if 1 <= h <= 6 and not any(k in text for k in MORNING):
            h += 12
        time = (h, mi)
    elif not whole_day:
        return Mention(item["offset"][0], item["offset"][1], date, None)
    # A bare day of month already behind us means next month (15号 said on the 20th).
    if re.fullmatch(r"[零一二两三四五六七八九十\d]+[号日]", text) and date < today:
        y, mo = (date.year + 1, 1) if date.month == 12 else (date.year, date.month + 1)
        day = min(date.day, calendar.monthrange(y, mo)[1])
        date = _dt.date(y, mo, day)
    date = _roll_year(date, text, today)
    time_only = TIME_ONLY.match(text) is not None
    return Mention(item["offset"][0], item["offset"][1], date, time, time_only)


def find_dates(text: str, today: _dt.date) -> list[Mention]:
    """All date / time mentions in ``text`` (already space-free), in order."""
    out: list[Mention] = []
    taken: list[tuple[int, int]] = []
    text = days_zh.standardise(text)
    for start, end, day in days_zh.find(text, today):
        out.append(Mention(start, end, day, None))
        taken.append((start, end))
    base = {"year": today.year, "month": today.month, "day": today.day,
            "hour": 0, "minute": 0, "second": 0}
    masked = text
    for s, e in taken:
        masked = masked[:s] + "，" * (e - s) + masked[e:]
    try:
        items = _jionlp().ner.extract_time(masked, time_base=base, with_parsing=True)
    except Exception:  # jionlp raises on odd input; slots are best effort
        items = []
    for it in items:
        try:
            men = _from_jionlp(it, today)
        except Exception:
            men = None
        if men is not None:
            out.append(men)
    out.sort(key=lambda m: m.start)
    return out


def pick(mentions: list[Mention], today: _dt.date) -> tuple[_dt.date | None, tuple[int, int] | None]:
    """Resolve mentions into one (date, time): the latest-said date and the
    latest-said clock time win (self-corrections come later); a clock time
    with no date of its own means today."""
    date = None
    time = None
    for m in mentions:
        if m.time is not None:
            time = m.time
        if m.date is not None and not m.time_only:
            date = m.date
    if time is not None and date is None:
        date = today
    return date, time
