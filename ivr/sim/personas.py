"""Simulated borrowers: one persona per dialled number, read from a JSON file.

    {"13800000001": {"answer_after_ms": 800, "hangup_after_ms": 20000,
                     "steps": [{"wait_ms": 300}, {"say": "네", "locale": "ko-KR", "or_dtmf": "1"},
                               {"dtmf": "1"}, {"hangup": true}]},
     "+1 415 555 0100": {"locale": "ko-KR", "steps": [{"dtmf": "2"}],
                         "expect": {"disposition": "answered-wrong-person", "answers": {"identity": "deny"}}},
     "13800000002": {"reject": "busy"},
     "13800000006": {"announcement": {"text": "您拨打的号码是空号", "locale": "zh-CN", "then": "notfound"}}}

The key is the number as the simulated trunk is dialled: digits, optionally written with spaces,
dashes, dots or brackets, and a leading + (an international number, dialled as 00 + the digits,
the way the importer writes numbers of another country). `dial_string()` is that rule, used by
the phones to find the persona a call is for and by `ivr demo` to import the number; the key is
not checked against any country's numbering plan (the demo's trunk is simulated).

`locale` (optional) is the borrower's language on record; without it, the language of the
persona's first `say` step (`Persona.locale`; None for a keypad-only persona). `expect`
(optional, read by `ivr demo` only) is how the call must end: `disposition` (see
ivr/dialer/dispositions.py), optionally the dialog `result`, and `answers`: {flow node: intent}
of the last answer to each question asked, exactly those questions.

A `say` step may carry `or_dtmf`: the question's own key for the same answer, pressed when the IVR
asks again instead of moving on (a reprompt or keypad offer after a rejected answer, "did you say
...? 1 yes 2 no" after an unsure one). The phone cannot understand prompts, so it uses them only
where a re-ask is the only thing that can follow: after the persona's last answer, every further
prompt is answered with `or_dtmf` (at most OR_DTMF_REPEATS times); on an earlier step it is refused.
The question's key fits every re-ask: the answer itself at a reprompt or keypad offer; at "did you
say ...?" key 1 (yes, on time) confirms and any other key declines, after which the IVR asks the
question again and gets the key. (A key-1 persona asked to confirm a *wrong* hypothesis confirms
it: the demo then reports the call as not as intended.)

`"first_calls": {"reject": "busy", "count": 1}` rejects the first `count` calls to the number
(counted in the shared call log, so across phone processes and restarts of the dialer) and then
behaves as the rest of the persona says: "busy, then answers on the retry".

A persona either rejects (`reject`), plays a carrier announcement as early media and then fails
(`announcement`; with `"then": "answer"` the network instead answers 200, plays the announcement and
hangs up, as some carriers do), or answers after `answer_after_ms` and runs its `steps`. Every error names the
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
ANSWER_THEN = "answer"   # announcement.then: the network answers and plays it (no early media)
STEP_ACTIONS = ("wait_ms", "say", "dtmf", "hangup")
OR_DTMF_REPEATS = 3  # after the last answer, answer at most this many re-asks with the keys
_DTMF_RE = re.compile(r"^[0-9*#A-Da-d]+$")
_NUMBER_RE = re.compile(r"^\+?[0-9]{1,20}$")
_NUMBER_SEPARATORS = re.compile(r"[\s\-.()]")


def dial_string(number: str) -> str:
    """The digits the simulated trunk is dialled with for a persona key or a dialled SIP user:
    separators dropped, a leading + written as 00. Raises ValueError for anything else."""
    text = _NUMBER_SEPARATORS.sub("", str(number))
    if not _NUMBER_RE.match(text):
        raise ValueError(f"not a dialled number (digits, optional leading +): {number!r}")
    return "00" + text[1:] if text.startswith("+") else text


class PersonaError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    action: str           # one of STEP_ACTIONS
    value: object = None  # ms for wait_ms, text for say, digits for dtmf, True for hangup
    locale: str = ""      # say only
    or_dtmf: str = ""     # say only: the keys for a re-ask of the same question

    def describe(self) -> dict:
        d = {self.action: self.value}
        if self.locale:
            d["locale"] = self.locale
        if self.or_dtmf:
            d["or_dtmf"] = self.or_dtmf
        return d

    @property
    def answers(self) -> bool:
        return self.action in ("say", "dtmf")


@dataclass(frozen=True)
class Expect:
    """How `ivr demo` requires the call to end (the phone ignores it)."""
    disposition: str
    result: str | None = None
    answers: tuple[tuple[str, str], ...] | None = None  # (node, intent), None: not checked


@dataclass(frozen=True)
class Announcement:
    text: str
    locale: str
    then: str  # a REJECT_CODES name other than noanswer, or "answer" (200, then the announcement)

    @property
    def answers(self) -> bool:
        return self.then == ANSWER_THEN

    @property
    def status(self) -> int:
        return 200 if self.answers else REJECT_CODES[self.then]


@dataclass(frozen=True)
class FirstCalls:
    """The first `count` calls to the number are rejected with `reject`; later ones follow the persona."""
    reject: str
    count: int = 1


@dataclass(frozen=True)
class Persona:
    number: str  # the dial string (see dial_string); `written` is the key as the file wrote it
    answer_after_ms: int = DEFAULT_ANSWER_AFTER_MS
    steps: tuple[Step, ...] = ()
    reject: str | None = None
    announcement: Announcement | None = None
    hangup_after_ms: int | None = None
    first_calls: FirstCalls | None = None
    declared_locale: str | None = None
    expect: Expect | None = None
    written: str = ""

    @property
    def locale(self) -> str | None:
        """The borrower's locale: declared, else the language it speaks, else None (keypad only)."""
        if self.declared_locale:
            return self.declared_locale
        return next((s.locale for s in self.steps if s.action == "say"), None)

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


def _dtmf(source, number, fld, value) -> str:
    if not isinstance(value, str) or not _DTMF_RE.match(value):
        _fail(source, number, fld, f"must be a string of 0-9 * # A-D, got {value!r}")
    return value.upper()


def _expect(source, number, raw) -> Expect:
    from ivr.dialer.dispositions import DISPOSITIONS
    if not isinstance(raw, dict):
        _fail(source, number, "expect", "must be an object with disposition (and optionally result, answers)")
    extra = sorted(set(raw) - {"disposition", "result", "answers"})
    if extra:
        _fail(source, number, f"expect.{extra[0]}", "unknown field (allowed: answers, disposition, result)")
    if raw.get("disposition") not in DISPOSITIONS:
        _fail(source, number, "expect.disposition",
              f"must be one of {', '.join(DISPOSITIONS)}, got {raw.get('disposition')!r}")
    result = raw.get("result")
    if result is not None:
        _text(source, number, "expect.result", result)
    answers = raw.get("answers")
    if answers is not None:
        if not isinstance(answers, dict):
            _fail(source, number, "expect.answers", "must be an object of flow node -> intent")
        for node, intent in answers.items():
            _text(source, number, f"expect.answers.{node}", intent)
        answers = tuple(answers.items())
    return Expect(raw["disposition"], result, answers)


def _step(source, number, i, raw) -> Step:
    fld = f"steps[{i}]"
    if not isinstance(raw, dict):
        _fail(source, number, fld, f"must be an object, got {type(raw).__name__}")
    actions = [k for k in raw if k in STEP_ACTIONS]
    if len(actions) != 1:
        _fail(source, number, fld, f"needs exactly one of {', '.join(STEP_ACTIONS)}; got {sorted(raw)}")
    action = actions[0]
    allowed = {action} | ({"locale", "or_dtmf"} if action == "say" else set())
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
        or_dtmf = _dtmf(source, number, f"{fld}.or_dtmf", raw["or_dtmf"]) if "or_dtmf" in raw else ""
        return Step("say", text, _locale(source, number, f"{fld}.locale", raw["locale"]), or_dtmf)
    if action == "dtmf":
        return Step("dtmf", _dtmf(source, number, f"{fld}.dtmf", value))
    if value is not True:
        _fail(source, number, f"{fld}.hangup", f"must be true, got {value!r}")
    return Step("hangup", True)


_PERSONA_FIELDS = {"answer_after_ms", "steps", "reject", "announcement", "hangup_after_ms", "first_calls",
                   "locale", "expect"}


def parse_persona(source: str, number: str, raw: object) -> Persona:
    try:
        dialled = dial_string(number)
    except ValueError:
        _fail(source, number, None, "the key must be a dialled number (digits, optional leading +, "
                                    "spaces, dashes, dots or brackets between them)")
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
        if (then not in REJECT_CODES or then == "noanswer") and then != ANSWER_THEN:
            _fail(source, number, "announcement.then", f"must be one of "
                  f"{', '.join([*(k for k in REJECT_CODES if k != 'noanswer'), ANSWER_THEN])}, got {then!r}")
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
    last_answer = max((i for i, st in enumerate(steps) if st.answers), default=-1)
    for i, st in enumerate(steps):
        if st.or_dtmf and i != last_answer:
            _fail(source, number, f"steps[{i}].or_dtmf", "only the last answer may have or_dtmf: the phone cannot "
                  "tell a re-ask from the next question, so it uses the keys only after its last answer")
    hangup_after = raw.get("hangup_after_ms")
    declared = _locale(source, number, "locale", raw["locale"]) if "locale" in raw else None
    expect = _expect(source, number, raw["expect"]) if "expect" in raw else None
    return Persona(
        number=dialled,
        answer_after_ms=_ms(source, number, "answer_after_ms", raw.get("answer_after_ms", DEFAULT_ANSWER_AFTER_MS)),
        steps=steps,
        reject=reject,
        announcement=announcement,
        hangup_after_ms=None if hangup_after is None else _ms(source, number, "hangup_after_ms", hangup_after,
                                                               allow_zero=False),
        first_calls=first_calls,
        declared_locale=declared,
        expect=expect,
        written=number,
    )


def parse_personas(data: object, source: str = "<personas>") -> dict[str, Persona]:
    if not isinstance(data, dict):
        _fail(source, None, None, f"the top level must be an object of number -> persona, got {type(data).__name__}")
    out: dict[str, Persona] = {}
    for key, raw in data.items():
        persona = parse_persona(source, str(key), raw)
        if persona.number in out:
            _fail(source, str(key), None, f"the same dialled number {persona.number} as "
                                          f"{out[persona.number].written!r}")
        out[persona.number] = persona
    return out


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
