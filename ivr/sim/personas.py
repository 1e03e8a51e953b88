"""Simulated borrowers: one persona per dialled number, read from a JSON file.

    {"13800000001": {"answer_after_ms": 800, "hangup_after_ms": 20000,
                     "steps": [{"wait_ms": 300}, {"say": "네", "locale": "ko-KR"}, {"dtmf": "1"},
                               {"hangup": true}]},
     "13800000002": {"reject": "busy"},
     "13800000006": {"announcement": {"text": "您拨打的号码是空号", "locale": "zh-CN", "then": "notfound"}}}

`"first_calls": {"reject": "busy", "count": 1}` rejects the first `count` calls to the number
(counted in the shared call log, so across phone processes and restarts of the dialer) and then
behaves as the rest of the persona says: "busy, then answers on the retry".

A persona either rejects (`reject`), plays a carrier announcement as early media and then fails
(`announcement`), or answers after `answer_after_ms` and runs its `steps`. Every error names the
file, the number and the field.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ivr import tts

# reject name -> SIP final status. "noanswer" rings (180) and never answers; it only ends by CANCEL.
REJECT_CODES = {"busy": 486, "decline": 603, "notfound": 404, "unavailable": 480, "noanswer": 480}
# the status that ends a "noanswer" call if the caller never cancels (SipPersona.NOANSWER_CAP_S)
DEFAULT_ANSWER_AFTER_MS = 500
STEP_ACTIONS = ("wait_ms", "say", "dtmf", "hangup")
_DTMF_RE = re.compile(r"^[0-9*#A-Da-d]+$")
_NUMBER_RE = re.compile(r"^\+?[0-9]{1,20}$")


class PersonaError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    action: str           # one of STEP_ACTIONS
    value: object = None  # ms for wait_ms, text for say, digits for dtmf, True for hangup
    locale: str = ""      # say only

    def describe(self) -> dict:
        d = {self.action: self.value}
        if self.locale:
            d["locale"] = self.locale
        return d


@dataclass(frozen=True)
class Announcement:
    text: str
    locale: str
    then: str  # a REJECT_CODES name other than noanswer

    @property
    def status(self) -> int:
        return REJECT_CODES[self.then]


@dataclass(frozen=True)
class FirstCalls:
    """The first `count` calls to the number are rejected with `reject`; later ones follow the persona."""
    reject: str
    count: int = 1


@dataclass(frozen=True)
class Persona:
    number: str
    answer_after_ms: int = DEFAULT_ANSWER_AFTER_MS
    steps: tuple[Step, ...] = ()
    reject: str | None = None
    announcement: Announcement | None = None
    hangup_after_ms: int | None = None
    first_calls: FirstCalls | None = None

    @property
    def reject_status(self) -> int | None:
        return REJECT_CODES[self.reject] if self.reject else None

    def phrases(self) -> list[tuple[str, str]]:
        """(text, locale) of everything this persona may speak: to synthesize ahead of calls."""
        out = [(s.value, s.locale) for s in self.steps if s.action == "say"]
        if self.announcement:
            out.append((self.announcement.text, self.announcement.locale))
        return out


def _fail(source: str, number: str | None, fld: str | None, problem: str):
    where = source
    if number is not None:
        where += f": number {number}"
    if fld is not None:
        where += f": {fld}"
    raise PersonaError(f"{where}: {problem}")


def _ms(source, number, fld, value, *, allow_zero=True) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(source, number, fld, f"must be an integer number of milliseconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        _fail(source, number, fld, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    if value > 600_000:
        _fail(source, number, fld, f"must be at most 600000 (10 minutes), got {value}")
    return value


def _locale(source, number, fld, value) -> str:
    if value not in tts.VOICES:
        _fail(source, number, fld, f"unknown locale {value!r} (known: {', '.join(tts.VOICES)})")
    return value


def _text(source, number, fld, value) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(source, number, fld, f"must be a non-empty string, got {value!r}")
    return value


def _step(source, number, i, raw) -> Step:
    fld = f"steps[{i}]"
    if not isinstance(raw, dict):
        _fail(source, number, fld, f"must be an object, got {type(raw).__name__}")
    actions = [k for k in raw if k in STEP_ACTIONS]
    if len(actions) != 1:
        _fail(source, number, fld, f"needs exactly one of {', '.join(STEP_ACTIONS)}; got {sorted(raw)}")
    action = actions[0]
    allowed = {action} | ({"locale"} if action == "say" else set())
    extra = sorted(set(raw) - allowed)
    if extra:
        _fail(source, number, f"{fld}.{extra[0]}", f"unknown field for a {action} step (allowed: {sorted(allowed)})")
    value = raw[action]
    if action == "wait_ms":
        return Step("wait_ms", _ms(source, number, f"{fld}.wait_ms", value))
    if action == "say":
        text = _text(source, number, f"{fld}.say", value)
        if "locale" not in raw:
            _fail(source, number, f"{fld}.locale", "a say step needs a locale")
        return Step("say", text, _locale(source, number, f"{fld}.locale", raw["locale"]))
    if action == "dtmf":
        if not isinstance(value, str) or not _DTMF_RE.match(value):
            _fail(source, number, f"{fld}.dtmf", f"must be a string of 0-9 * # A-D, got {value!r}")
        return Step("dtmf", value.upper())
    if value is not True:
        _fail(source, number, f"{fld}.hangup", f"must be true, got {value!r}")
    return Step("hangup", True)


_PERSONA_FIELDS = {"answer_after_ms", "steps", "reject", "announcement", "hangup_after_ms", "first_calls"}


def parse_persona(source: str, number: str, raw: object) -> Persona:
    if not _NUMBER_RE.match(number):
        _fail(source, number, None, "the key must be a dialled number (digits, optional leading +)")
    if not isinstance(raw, dict):
        _fail(source, number, None, f"the persona must be an object, got {type(raw).__name__}")
    extra = sorted(set(raw) - _PERSONA_FIELDS)
    if extra:
        _fail(source, number, extra[0], f"unknown field (allowed: {', '.join(sorted(_PERSONA_FIELDS))})")

    reject = raw.get("reject")
    if reject is not None and reject not in REJECT_CODES:
        _fail(source, number, "reject", f"unknown reject {reject!r} (known: {', '.join(REJECT_CODES)})")

    announcement = None
    if "announcement" in raw:
        a = raw["announcement"]
        if not isinstance(a, dict):
            _fail(source, number, "announcement", "must be an object with text, locale, then")
        extra = sorted(set(a) - {"text", "locale", "then"})
        if extra:
            _fail(source, number, f"announcement.{extra[0]}", "unknown field (allowed: text, locale, then)")
        for k in ("text", "locale"):
            if k not in a:
                _fail(source, number, f"announcement.{k}", "is required")
        then = a.get("then", "notfound")
        if then not in REJECT_CODES or then == "noanswer":
            _fail(source, number, "announcement.then",
                  f"must be one of {', '.join(k for k in REJECT_CODES if k != 'noanswer')}, got {then!r}")
        announcement = Announcement(_text(source, number, "announcement.text", a["text"]),
                                    _locale(source, number, "announcement.locale", a["locale"]), then)

    answers = any(k in raw for k in ("steps", "answer_after_ms", "hangup_after_ms"))
    if reject is not None and announcement is not None:
        _fail(source, number, "reject", "use either reject or announcement (announcement.then is its reject)")
    if (reject is not None or announcement is not None) and answers:
        _fail(source, number, "reject" if reject is not None else "announcement",
              "a persona that rejects cannot also have steps, answer_after_ms or hangup_after_ms")

    first_calls = None
    if "first_calls" in raw:
        fc = raw["first_calls"]
        if not isinstance(fc, dict):
            _fail(source, number, "first_calls", "must be an object with reject and count")
        extra = sorted(set(fc) - {"reject", "count"})
        if extra:
            _fail(source, number, f"first_calls.{extra[0]}", "unknown field (allowed: reject, count)")
        if fc.get("reject") not in REJECT_CODES:
            _fail(source, number, "first_calls.reject",
                  f"unknown reject {fc.get('reject')!r} (known: {', '.join(REJECT_CODES)})")
        count = fc.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            _fail(source, number, "first_calls.count", f"must be an integer >= 1, got {count!r}")
        first_calls = FirstCalls(fc["reject"], count)

    steps_raw = raw.get("steps", [])
    if not isinstance(steps_raw, list):
        _fail(source, number, "steps", f"must be a list, got {type(steps_raw).__name__}")
    steps = tuple(_step(source, number, i, s) for i, s in enumerate(steps_raw))
    hangup_after = raw.get("hangup_after_ms")
    return Persona(
        number=number,
        answer_after_ms=_ms(source, number, "answer_after_ms", raw.get("answer_after_ms", DEFAULT_ANSWER_AFTER_MS)),
        steps=steps,
        reject=reject,
        announcement=announcement,
        hangup_after_ms=None if hangup_after is None else _ms(source, number, "hangup_after_ms", hangup_after,
                                                               allow_zero=False),
        first_calls=first_calls,
    )


def parse_personas(data: object, source: str = "<personas>") -> dict[str, Persona]:
    if not isinstance(data, dict):
        _fail(source, None, None, f"the top level must be an object of number -> persona, got {type(data).__name__}")
    return {str(number): parse_persona(source, str(number), raw) for number, raw in data.items()}


def load_personas(path: str | Path) -> dict[str, Persona]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PersonaError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PersonaError(f"{path}: not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from None
    return parse_personas(data, str(path))
