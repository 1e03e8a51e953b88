"""The hard limits of every calling rule and pacing cap, and the one place they are applied.

Why one module: a cap checked by the web form but not by the CLI (or the other way round) is a
cap nobody can rely on. Every way of setting a campaign goes through `campaign_settings`:
`campaigns.create` calls it (so `ivr campaign create`, the web form, the demo and any script get
the same answer), and the entry points call it first only to show the operator what was clamped.
The dialer applies the same limits again when it reads a stored campaign (`Policy.from_dict`,
`pacing_rate`, `concurrency`), so even a row written by hand cannot make it call more.

Two kinds of bad value, two answers:
* not a finite number of the right kind, not a yes/no, or below the minimum (`max_cps=nan`,
  a retry delay of `1e400`, `max_connected_per_borrower_day=0`): refused with `LimitError`, which
  names the setting in words and carries a message key for the web app's catalogues
  (`limit.<key>` in ivr/web/i18n/*.json);
* above its hard limit (`max_connected_per_borrower_day=99`, a window opening at 06:00): clamped
  to the limit, with a `Clamped` note for the operator; only the clamped value is ever stored.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, SupportsFloat

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

HARD_START = dt.time(8, 0)
HARD_END = dt.time(22, 0)
DAY_S = 86400


@dataclass(frozen=True)
class Limit:
    low: float          # the smallest value accepted (below it: refused)
    high: float         # the hard limit (above it: clamped)
    whole: bool = True  # a whole number


CAMPAIGN_LIMITS = {
    "max_concurrent": Limit(1, 200),
    "max_cps": Limit(0.01, 50, whole=False),
    "max_attempts": Limit(1, 30),
}
POLICY_LIMITS = {
    "max_connected_per_borrower_day": Limit(1, 3),
    "max_unanswered_per_number_day": Limit(1, 6),
    "unreachable_after_fails": Limit(1, 20),
    "on_call_recheck_s": Limit(1, 3600),
    "refusal_log_interval_s": Limit(1, DAY_S),
}
RETRY_DELAY = Limit(0, 7 * DAY_S)       # delay_s of a retry rule
MAX_CHANNELS = Limit(1, 500)            # the controller's global channel limit (`ivr dialer run --max-channels`)

MESSAGES = {
    "not_a_number": "{name}: {value!r} is not a number",
    "not_whole": "{name}: {value!r} is not a whole number",
    "too_low": "{name}: {value} is below the minimum {low}",
    "not_yes_no": "{name}: expected true or false, got {value!r}",
    "bad_time": "{name}: expected HH:MM, got {value!r}",
    "empty_window": "the calling window {start}-{end} is empty (hard limits 08:00-22:00)",
    "not_an_object": "{name}: expected an object",
}


class LimitError(ValueError):
    """A value no limit can make sense of. `key` and `params` feed the web app's message catalogue."""

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(MESSAGES[key].format(**params))


@dataclass(frozen=True)
class Clamped:
    """A value above its hard limit, and the limit used (and stored) instead."""
    name: str
    given: object
    applied: object

    def __str__(self) -> str:
        return f"{self.name} {self.given} is above the hard limit: {self.applied} is used"


def number(name: str, value: object, limit: Limit) -> tuple[float, Clamped | None]:
    """`value` (a number or its text) checked against `limit`: (the value to use, a note if clamped).
    The value is an int when the limit is `whole`."""
    if isinstance(value, bool) or value is None:
        raise LimitError("not_a_number", name=name, value=value)
    try:
        if isinstance(value, str):
            x = float(value.strip())
        elif isinstance(value, SupportsFloat):
            x = float(value)
        else:
            raise TypeError(type(value).__name__)
    except (TypeError, ValueError, OverflowError):
        raise LimitError("not_a_number", name=name, value=value) from None
    if not math.isfinite(x):
        raise LimitError("not_a_number", name=name, value=value)
    if limit.whole and not x.is_integer():
        raise LimitError("not_whole", name=name, value=value)
    if x < limit.low:
        raise LimitError("too_low", name=name, value=_plain(x, limit), low=_plain(limit.low, limit))
    note = None
    if x > limit.high:
        note = Clamped(name, _plain(x, limit), _plain(limit.high, limit))
        x = limit.high
    return _plain(x, limit), note


def _plain(x: float, limit: Limit) -> float:
    return int(x) if limit.whole else float(x)


def clamp(name: str, value: object, limit: Limit) -> float:
    """The read side: a stored value brought within its limit (a stored value that makes no sense:
    the lowest, i.e. the least calling)."""
    try:
        return number(name, value, limit)[0]
    except LimitError:
        return _plain(limit.low, limit)


def hhmm(name: str, value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        h, m = str(value).strip().split(":")
        return dt.time(int(h), int(m))
    except (ValueError, TypeError):
        raise LimitError("bad_time", name=name, value=value) from None


def window(start: object, end: object) -> tuple[dt.time, dt.time, list[Clamped]]:
    """A calling window clamped to the hard limits 08:00-22:00; an empty one is refused."""
    s, e = hhmm("window_start", start), hhmm("window_end", end)
    notes: list[Clamped] = []
    if s < HARD_START:
        notes.append(Clamped("window_start", f"{s:%H:%M}", f"{HARD_START:%H:%M}"))
        s = HARD_START
    if e > HARD_END:
        notes.append(Clamped("window_end", f"{e:%H:%M}", f"{HARD_END:%H:%M}"))
        e = HARD_END
    if s >= e:
        raise LimitError("empty_window", start=f"{s:%H:%M}", end=f"{e:%H:%M}")
    return s, e, notes


def policy_overrides(data: object, defaults: type[DataclassInstance]) -> tuple[dict[str, Any], list[Clamped]]:
    """A campaign's calling rules (the `Policy` overrides) within the hard limits. `defaults` is the
    `Policy` class (its field defaults complete a half-given window)."""
    if not isinstance(data, (dict, type(None))):
        raise LimitError("not_an_object", name="policy")
    data = dict(data or {})
    notes: list[Clamped] = []
    for name, limit in POLICY_LIMITS.items():
        if name in data:
            data[name], note = number(name, data[name], limit)
            notes += [note] if note else []
    if "window_start" in data or "window_end" in data:
        fields = {f.name: f.default for f in dataclasses.fields(defaults)}
        s, e, window_notes = window(data.get("window_start", fields["window_start"]),
                                    data.get("window_end", fields["window_end"]))
        notes += window_notes
        for name, value in (("window_start", s), ("window_end", e)):
            if name in data:
                data[name] = f"{value:%H:%M}"
    if "skip_holidays" in data and not isinstance(data["skip_holidays"], bool):
        raise LimitError("not_yes_no", name="skip_holidays", value=data["skip_holidays"])
    return data, notes


def retry_overrides(data: object) -> tuple[dict[str, dict[str, Any]], list[Clamped]]:
    """Retry overrides with every delay a finite number of seconds within 0..7 days."""
    if not isinstance(data, (dict, type(None))):
        raise LimitError("not_an_object", name="retry policy")
    out: dict[str, dict[str, Any]] = {}
    notes: list[Clamped] = []
    for disposition, rule in (data or {}).items():
        if not isinstance(rule, dict):
            raise LimitError("not_an_object", name=f"retry_delay:{disposition}")
        rule = dict(rule)
        if "delay_s" in rule:
            rule["delay_s"], note = number(f"retry_delay:{disposition}", rule["delay_s"], RETRY_DELAY)
            notes += [note] if note else []
        out[disposition] = rule
    return out, notes


def campaign_settings(*, max_concurrent: object, max_cps: object, max_attempts: object,
                      retry_policy: object = None, policy: object = None) -> tuple[dict[str, Any], list[Clamped]]:
    """Every cap of a campaign within its limits: (the values to store, what was clamped)."""
    from .policy import Policy
    values: dict[str, Any] = {}
    notes: list[Clamped] = []
    for name, value in (("max_concurrent", max_concurrent), ("max_cps", max_cps), ("max_attempts", max_attempts)):
        values[name], note = number(name, value, CAMPAIGN_LIMITS[name])
        notes += [note] if note else []
    values["retry_policy"], retry_notes = retry_overrides(retry_policy)
    values["policy"], policy_notes = policy_overrides(policy, Policy)
    return values, notes + retry_notes + policy_notes


def pacing_rate(stored: object) -> float:
    """A stored campaign's calls per second, within the limits whatever the row says."""
    return clamp("max_cps", stored, CAMPAIGN_LIMITS["max_cps"])


def concurrency(stored: object) -> int:
    return int(clamp("max_concurrent", stored, CAMPAIGN_LIMITS["max_concurrent"]))
