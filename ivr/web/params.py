"""Query and form values read on the server: each reader checks kind and range and refuses anything
else with `BadParam`, which the app answers with a 400 whose message is in the user's language
(`param.<key>` in i18n/*.json), never a traceback.

Why it looks like this: the pages used to call `date.fromisoformat`, `int()` and `float()` where
they needed a value, so `/reports?since=9999-12-01` or a path id past SQLite's 64-bit integers
ended in a 500. One place with the ranges the product accepts (dates 2000..2100, ids that fit
both engines, text without NUL) keeps every page's answer the same. Dates *inside* the range that make no report sense
(since after until) are the page's business.
"""
from __future__ import annotations

import datetime as dt
import math

from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter, IntegerConverter

MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
MAX_ID = 2**31 - 1       # the largest id either engine holds (SERIAL is a 4-byte integer on PostgreSQL); past it: 404 or a form error
MAX_TEXT = 2000          # any free-text value longer than this is refused


class BadParam(BadRequest):
    """A value the server will not use: `key` names the message, `params` fill it in."""

    def __init__(self, key: str, **params):
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: a non-negative integer an id column holds on SQLite and PostgreSQL (else 404,
    as for any unknown id; PostgreSQL would refuse a larger one with an error, not find no row)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class LoanIdConverter(BaseConverter):
    """`<loan_id:...>`: a lender's loan number as it was imported — any non-empty text, slashes
    included ("2023/0001" is a real loan number; "/0" must find loan "/0", not be merged into "0")."""

    regex = ".+"
    part_isolating = False


def _raw(source, name: str) -> str:
    value = source.get(name, "")
    value = value.strip() if isinstance(value, str) else ""
    if len(value) > MAX_TEXT:
        raise BadParam("too_long", name=name, limit=MAX_TEXT)
    return value


def text(source, name: str, default: str = "") -> str:
    """Free text (stripped, at most MAX_TEXT characters); empty gives `default`. (A NUL, which
    PostgreSQL's text cannot hold, never gets here: the app refuses it in any parameter.)"""
    return _raw(source, name) or default


def date(source, name: str, default: dt.date | None = None) -> dt.date | None:
    """A YYYY-MM-DD date between MIN_DATE and MAX_DATE; empty gives `default`."""
    raw = _raw(source, name)
    if not raw:
        return default
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadParam("bad_date", name=name, value=raw[:40]) from None
    if not MIN_DATE <= value <= MAX_DATE:
        raise BadParam("date_range", name=name, value=raw[:40], low=MIN_DATE.isoformat(), high=MAX_DATE.isoformat())
    return value


def local_datetime(source, name: str) -> dt.datetime | None:
    """A local date and time (`2026-12-01T09:30`, what <input type=datetime-local> sends), no zone."""
    raw = _raw(source, name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BadParam("bad_datetime", name=name, value=raw[:40]) from None
    if value.tzinfo is not None:
        raise BadParam("bad_datetime", name=name, value=raw[:40])
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise BadParam("date_range", name=name, value=raw[:40], low=MIN_DATE.isoformat(), high=MAX_DATE.isoformat())
    return value


def integer(source, name: str, default: int | None = None, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """A whole number within low..high; empty gives `default`."""
    raw = _raw(source, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam("not_whole", name=name, value=raw[:40]) from None
    if not low <= value <= high:
        raise BadParam("int_range", name=name, value=raw[:40], low=low, high=high)
    return value


def number(source, name: str, default: float | None = None, *, low: float, high: float) -> float | None:
    """A finite number within low..high; empty gives `default`."""
    raw = _raw(source, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadParam("not_a_number", name=name, value=raw[:40]) from None
    if not math.isfinite(value):
        raise BadParam("not_a_number", name=name, value=raw[:40])
    if not low <= value <= high:
        raise BadParam("int_range", name=name, value=raw[:40], low=low, high=high)
    return value


def choice(source, name: str, options, default=None):
    """One of `options`; empty gives `default`."""
    raw = _raw(source, name)
    if not raw:
        return default
    if raw not in options:
        raise BadParam("bad_choice", name=name, value=raw[:40])
    return raw


def message(exc: BadParam) -> str:
    """The refusal in the user's language, the parameter named in words where the catalogue has it."""
    from .i18n import translate
    values = dict(exc.params)
    if "name" in values:
        key = f"param.name.{values['name']}"
        label = translate(key)
        values["name"] = values["name"] if label == key else label
    return translate(f"param.{exc.key}", **values)
