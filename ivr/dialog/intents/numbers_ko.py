"""Korean numerals: Sino-Korean reader, native hour words, spoken digits.

No library covers Korean numerals, so this is a small hand-written reader:

    parse_sino("삼십만") == 300000     parse_sino("이만 오천") == 25000
    parse_sino("15") == 15            parse_sino("3만5천") == 35000
"""
from __future__ import annotations

import re

from .slots import Amount

SINO_DIGITS = {"공": 0, "영": 0, "빵": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5,
               "육": 6, "륙": 6, "칠": 7, "팔": 8, "구": 9}
SMALL_UNITS = {"십": 10, "백": 100, "천": 1000}
BIG_UNITS = {"만": 10_000, "억": 100_000_000}
SINO_CHARS = "".join(SINO_DIGITS) + "".join(SMALL_UNITS) + "".join(BIG_UNITS)

# Native Korean numbers used for hours (세 시 = 3 o'clock), longest first.
NATIVE_HOURS = {"열한": 11, "열두": 12, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9,
                "한": 1, "두": 2, "세": 3, "네": 4, "열": 10}
# Native counting words that may be used when reading digits aloud.
NATIVE_DIGITS = {"하나": "1", "둘": "2", "셋": "3", "넷": "4", "다섯": "5", "여섯": "6",
                 "일곱": "7", "여덟": "8", "아홉": "9"}
X_WORDS = ("엑스", "엑쓰", "액스", "x", "X")
# Endings to strip from a token before reading it as digits ("칠이에요" -> 칠). Those that begin
# with the copula 이 follow only a syllable with a final consonant (일이요 = "it's 1"); after a
# vowel 이 is the digit two (사이 = 4 2), so they are not stripped there.
DIGIT_ENDINGS = ("입니다", "이에요", "예요", "이고요", "이고", "이요", "요", "은", "는")


def _has_final_consonant(syllable: str) -> bool:
    code = ord(syllable) - 0xAC00
    return 0 <= code < 11172 and code % 28 != 0


def _strip_ending(tok: str) -> str:
    for end in DIGIT_ENDINGS:
        if tok.endswith(end) and len(tok) > len(end):
            stem = tok[: -len(end)]
            if end.startswith("이") and not _has_final_consonant(stem[-1]):
                continue
            return stem
    return tok

# A run of numeral characters, possibly split by spaces (Vosk splits words).
SINO_RUN = rf"(?:[0-9]+|[{SINO_CHARS}])(?:\s*(?:[0-9]+|[{SINO_CHARS}]))*"


def parse_sino(text: str) -> int | None:
    """Read a Sino-Korean / Arabic numeral string; None if it is not one."""
    s = re.sub(r"[\s,]", "", text)
    if not s:
        return None
    total = section = 0
    num: int | None = None
    i = 0
    while i < len(s):
        c = s[i]
        if c.isdigit():
            j = i
            while j < len(s) and s[j].isdigit():
                j += 1
            num = int(s[i:j]) if num is None else num * 10 ** (j - i) + int(s[i:j])
            i = j
            continue
        if c in SINO_DIGITS:
            num = SINO_DIGITS[c] if num is None else num * 10 + SINO_DIGITS[c]
        elif c in SMALL_UNITS:
            section += (1 if num is None else num) * SMALL_UNITS[c]
            num = None
        elif c in BIG_UNITS:
            section += 0 if num is None else num
            total += (section or 1) * BIG_UNITS[c]
            section, num = 0, None
        else:
            return None
        i += 1
    return total + section + (num or 0)


def read_digits(text: str) -> str:
    """Digits (and X) read aloud one by one: "일 이 삼 엑스" -> "123X"."""
    out: list[str] = []
    for tok in text.split():
        tok = _strip_ending(tok)
        i, chunk = 0, []
        ok = True
        while i < len(tok):
            for w in X_WORDS:
                if tok.startswith(w, i):
                    chunk.append("X")
                    i += len(w)
                    break
            else:
                for w, d in NATIVE_DIGITS.items():
                    if tok.startswith(w, i):
                        chunk.append(d)
                        i += len(w)
                        break
                else:
                    c = tok[i]
                    if c.isascii() and c.isdigit():
                        chunk.append(c)
                    elif c in SINO_DIGITS:
                        chunk.append(str(SINO_DIGITS[c]))
                    else:
                        ok = False
                        break
                    i += 1
            if not ok:
                break
        if ok:  # a word that is not wholly digits ("뒷자리는") is skipped
            out.extend(chunk)
    return "".join(out)


_NUM_TOKEN = re.compile(rf"([{SINO_CHARS}0-9]*)(원)?(?:이요|요|은|을|이|만|씩|정도|쯤|까지|이에요|입니다|이나|은요)?")


def find_amounts(text: str) -> list[Amount]:
    """Money amounts; dates must be masked out first.

    Works on words: consecutive numeral words are joined ("오십 만 원"), a
    word ending in 원 closes the amount.  Without 원 only a number with
    천/만/억 counts, so a stray 이 / 사 / 십 is not money.
    """
    out: list[Amount] = []
    run: list[tuple[int, int, str]] = []  # (start, end, numeral) per word

    def flush(unit: bool, end: int | None = None) -> None:
        if run:
            num = "".join(c for _, _, c in run)
            if unit or any(c in "천만억" for c in num):
                v = parse_sino(num)
                if v:
                    out.append(Amount(run[0][0], end or run[-1][1], v))
        run.clear()

    for m in re.finditer(r"\S+", text):
        tok = m.group()
        nm = _NUM_TOKEN.fullmatch(tok)
        if nm and (nm.group(1) or (nm.group(2) and run)):
            if nm.group(1):
                run.append((m.start(), m.end(), nm.group(1)))
            if nm.group(2):
                flush(True, m.end())
        else:
            flush(False)
    flush(False)
    return out
