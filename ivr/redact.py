"""What a log line may say about a borrower: masked values, and a scrubber for free text.

Logs are kept for years, shipped to other systems and read by people who may not see borrower data
(IT, the PBX admin, a vendor's support). So a log line names the attempt (its UUID is the key to
everything in the database) and the decision taken, never the words: at most the last four digits
of a phone number, no typed keys, no transcript, no name. The database keeps the full data for
those allowed to see it (the web app decides who: ivr/web/privacy.py, which masks differently for
screens).

Two layers, because one forgotten argument is enough to leak:
* at the source, log calls pass `phone(n)`, `keys(d)`, `words(t)` instead of the value;
* `scrub(text)` runs on every formatted record (ivr.logsetup.RedactFilter) and masks whatever still
  looks like a phone number: 7+ digits in a row, an international form (+86 138 0000 0002, also
  percent-encoded as in a logged URL), or a domestic grouped form (138-0000-0002, 010-1234-5678).
  UUIDs (attempt ids), Asterisk uniqueids (1733212345.12) and channel suffixes (PJSIP/trunk-00000007,
  C-00000010) are ids, not numbers: they are kept.
  Digits glued to letters (hex ids, channel suffixes) are kept too. Typed keys and names have no
  shape a scrubber could know: only the source layer masks them.
"""
from __future__ import annotations

import re
from typing import Callable

_SEP = r"[ \-+]"                                       # separators inside a written number
_START = r"(?:(?<![0-9A-Za-z.])|(?<=%[0-9A-Fa-f]{2}))"  # not glued to a word, a decimal point, or digits
_MULTIPLY_ENCODED = re.compile(r"%(?:25)+(?=[0-9A-Fa-f]{2})")  # %252B: a '+' percent-encoded twice
_ENCODED_SEP = re.compile(r"%(2[bB]|20|2[dD])")
_DECODED_SEP = {"2b": "+", "20": " ", "2d": "-"}
_END = r"(?![0-9A-Za-z])"
_PATTERN = re.compile("|".join((
    r"(?P<uuid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})",
    r"(?P<uniqueid>(?<![0-9])\d{10}\.\d{1,6}(?![0-9]))",
    r"(?P<sequence>(?<=[A-Za-z]-)[0-9a-f]{8}(?![0-9A-Za-z]))",  # channel suffix: huifang-dial-00000007;1
    rf"\+\d(?:{_SEP}?\d){{6,16}}{_END}",                       # +86 138 0000 0002
    rf"{_START}\d{{2,4}}{_SEP}\d{{3,4}}{_SEP}\d{{4}}{_END}",   # 138-0000-0002, 02 123 4567
    rf"{_START}\d{{3,4}}{_SEP}\d{{7,8}}{_END}",                # 010-12345678
    rf"{_START}\d{{7,}}{_END}",                                # 13800000002
)))


def phone(number) -> str:
    """A phone number as a log line may show it: its last four digits ('***0002'); '-' for none."""
    digits = re.sub(r"\D", "", str(number or ""))
    if not digits:
        return "-"
    return "***" + digits[-4:] if len(digits) > 4 else "***"


def keys(digits) -> str:
    """Keys a borrower pressed (ID digits, a date, a menu choice): how many, never which."""
    return "*" * len(str(digits)) if digits else "-"


def words(text) -> str:
    """What a borrower (or an announcement) said: its length only; the intent is logged beside it."""
    return f"<{len(str(text))} chars>" if text else "-"


def scrub(text, mask: Callable[[str], str] = phone) -> str:
    """`text` with everything that looks like a phone number replaced by `mask(number)`: by default
    its last four digits, as a log line shows it (the web app's screens pass their own mask)."""
    if text is None:
        return ""
    text = str(text)
    plain = text
    if "%" in text:  # a logged URL: '+', ' ' and '-' may be percent-encoded, even more than once
        plain = _MULTIPLY_ENCODED.sub("%", plain)
        plain = _ENCODED_SEP.sub(lambda m: _DECODED_SEP[m.group(1).lower()], plain)

    def masked_match(m: re.Match) -> str:
        if m.group("uuid") or m.group("uniqueid") or m.group("sequence"):
            return m.group(0)
        return mask(m.group(0))
    masked = _PATTERN.sub(masked_match, plain)
    return text if masked == plain else masked
