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
