"""Chinese amounts and spoken ID digits (numerals via cn2an)."""
from __future__ import annotations

import re

import cn2an

from .slots import Amount

# Words that contain numerals but are not numbers.
NOT_NUMBERS = ("千万", "万一", "十分", "一定", "一下", "一点", "一些", "一半", "一部分",
               "一直", "一样", "一会", "一起", "一次", "一天", "一万个", "百分之", "一般",
               "一个", "两个", "几个", "三天", "一分", "第一", "唯一", "统一", "万万")
AMOUNT = re.compile(
    r"(?P<num>(?:\d+(?:\.\d+)?[万千百kKwW]?|[零〇一二两三四五六七八九十百千万]+)+)"
    r"(?P<unit>块钱|块|元钱|元|圆|rmb)?(?P<more>多)?", re.I)
MULTIPLIERS = set("十百千万kKwW")
# Written shorthand for thousands / ten-thousands ("3k", "2w").
SHORTHAND = {"k": "千", "K": "千", "w": "万", "W": "万"}
# Without a unit a number is money only from this value on ("还 八十" is not a payment plan).
MIN_BARE_AMOUNT = 100
# "一千块钱都拿不出来": an amount the borrower cannot even raise is no offer.
EVEN_NOT = re.compile(r"钱?都(?:没|拿不|还不|交不|付不|凑不)")

# Spoken digits for the ID-number step.
DIGIT_CHARS = {"零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "壹": "1", "二": "2",
               "两": "2", "贰": "2", "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5",
               "伍": "5", "六": "6", "陆": "6", "七": "7", "柒": "7", "拐": "7", "八": "8",
               "捌": "8", "九": "9", "玖": "9", "勾": "9"}
X_WORDS = ("艾克斯", "爱克斯", "埃克斯", "艾克思", "爱克思", "埃克思", "艾克西", "叉", "x", "X", "ｘ", "Ｘ")
# Filler words that contain digit characters, and counts of digits ("后四位", "最后两位数").
DIGIT_NOISE = ("一下", "一点", "一个", "一共", "是不是", "一遍")
DIGIT_COUNT = re.compile(r"[一二两三四五六七八九十几\d]位数?")


def _to_int(num: str) -> int | None:
    for short, unit in SHORTHAND.items():
        num = num.replace(short, unit)
    try:
        v = cn2an.cn2an(num, "smart")
    except Exception:
        return None
    try:
        return int(round(float(v)))
    except (TypeError, ValueError):
        return None


def find_amounts(text: str) -> list[Amount]:
    """Money amounts in ``text`` (dates must already be masked out).

    A numeral counts as money when it carries a unit (元/块) or is big enough
    to be one (has 十/百/千/万, or is an Arabic number >= 10).  Single digits
    like 一 in 一下 are ignored.
    """
    masked = text
    for w in NOT_NUMBERS:
        masked = masked.replace(w, "，" * len(w))
    out = []
    for m in AMOUNT.finditer(masked):
        num, unit = m.group("num"), m.group("unit")
        has_mult = any(c in MULTIPLIERS for c in num)
        arabic = re.fullmatch(r"\d+(?:\.\d+)?", num) is not None
        if not (unit or has_mult or (arabic and float(num) >= 10)):
            continue
        v = _to_int(num)
        if v is None or v <= 0 or (not unit and v < MIN_BARE_AMOUNT):
            continue
        if EVEN_NOT.match(masked, m.end()):
            continue
        out.append(Amount(m.start(), m.end(), v))
    return out


def find_digits(text: str) -> str:
    """Digits and X said in ``text`` (space-free), in order."""
    s = DIGIT_COUNT.sub("", text)
    for w in DIGIT_NOISE:
        s = s.replace(w, "")
    out = []
    i = 0
    while i < len(s):
        for w in X_WORDS:
            if s.startswith(w, i):
                out.append("X")
                i += len(w)
                break
        else:
            c = s[i]
            if c.isascii() and c.isdigit():
                out.append(c)
            elif c in DIGIT_CHARS:
                out.append(DIGIT_CHARS[c])
            i += 1
    return "".join(out)
