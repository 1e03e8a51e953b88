"""DTMF (keypad) input -> the same result shape as speech."""
from __future__ import annotations

from . import common

KEYMAP = {
    "identity": {"1": "confirm", "2": "deny", "0": "agent", "9": "callback"},
    "plan": {"1": "confirm", "2": "promise", "3": "refuse", "4": "dispute", "5": "hardship",
             "0": "agent", "9": "callback"},
    "confirm": {"1": "confirm", "2": "deny", "0": "agent"},
}


def keypad(step: str, digits: str) -> dict:
    common.check_step(step)
    keys = "".join(c for c in (digits or "") if c in "0123456789*")  # '#' ends input
    if step == "digits":
        chars = keys.replace("*", "X")
        if not chars:
            return common.result("unknown")
        return common.result("digits", digits=common.last_digits(chars))
    if not keys:
        return common.result("unknown")
    # For a menu the last key pressed counts (callers often correct themselves).
    return common.result(KEYMAP[step].get(keys[-1], "unknown"))


def keypad_date(digits: str, today) -> dict:
    """A promise date keyed as MMDD (e.g. 1220 = 20 December): the next such day from today.

    A lone 0 asks for a human. The amount is not keyed: the runner assumes the amount due.
    """
    import datetime as dt
    keys = "".join(c for c in (digits or "") if c.isdigit())
    if keys == "0":
        return common.result("agent")
    if len(keys) != 4:
        return common.result("unknown")
    try:
        day = dt.date(today.year, int(keys[:2]), int(keys[2:]))
    except ValueError:
        return common.result("unknown")
    if day < today:
        try:
            day = day.replace(year=today.year + 1)
        except ValueError:
            return common.result("unknown")
    return common.result("promise", date=day)


def keypad_time(digits: str, today) -> dict:
    """A callback time keyed as HHMM (24 h, e.g. 1500), on today's date; the dialer moves a time
    already past (or outside calling hours) to the next allowed slot."""
    keys = "".join(c for c in (digits or "") if c.isdigit())
    if keys == "0":
        return common.result("agent")
    if len(keys) != 4 or not (0 <= int(keys[:2]) <= 23 and 0 <= int(keys[2:]) <= 59):
        return common.result("unknown")
    return common.result("callback", date=today, time=(int(keys[:2]), int(keys[2:])))
