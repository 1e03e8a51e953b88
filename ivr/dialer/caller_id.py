"""The caller ID a borrower sees: the campaign's own, or a local one from the campaign's pool.

Why a pool by province: lenders advertise local numbers (a Guangdong borrower sees a 020/0755
number), which borrowers answer more often than a 400 number. The borrower's province comes from
their number's prefix (libphonenumber's geocoding data, shipped with `phonenumbers`: mobile
prefixes and area codes -> "Changzhou, Jiangsu"); borrowers carry no province column. The same
borrower always gets the same number from a pool (chosen by borrower id), so a callback reaches the
number they saw.

Pool text, as typed in the campaign form or given to `ivr campaign create --caller-id-pool`
(lines, or entries separated by ';'), or the same as JSON:
    广东: 02011112222, 075533334444
    Beijing: 01066667777
Province names are accepted in Chinese (广东 / 广东省) or English (Guangdong) and stored in English.
Limits: a caller ID is 3-20 digits (a leading + allowed); at most 40 provinces and 20 numbers each
(more are clamped, with a note); an unknown province is refused.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import phonenumbers
from phonenumbers import geocoder

from .limits import Clamped

CALLER_ID = re.compile(r"\+?[0-9]{3,20}")
MAX_PROVINCES = 40
MAX_PER_PROVINCE = 20
PROVINCES = {  # English name as libphonenumber writes it -> Chinese short name
    "Beijing": "北京", "Tianjin": "天津", "Shanghai": "上海", "Chongqing": "重庆", "Hebei": "河北",
    "Shanxi": "山西", "Inner Mongolia": "内蒙古", "Liaoning": "辽宁", "Jilin": "吉林", "Heilongjiang": "黑龙江",
    "Jiangsu": "江苏", "Zhejiang": "浙江", "Anhui": "安徽", "Fujian": "福建", "Jiangxi": "江西",
    "Shandong": "山东", "Henan": "河南", "Hubei": "湖北", "Hunan": "湖南", "Guangdong": "广东",
    "Guangxi": "广西", "Hainan": "海南", "Sichuan": "四川", "Guizhou": "贵州", "Yunnan": "云南",
    "Tibet": "西藏", "Shaanxi": "陕西", "Gansu": "甘肃", "Qinghai": "青海", "Ningxia": "宁夏",
    "Xinjiang": "新疆",
}
BY_CHINESE = {zh: en for en, zh in PROVINCES.items()}
SUFFIXES = ("省", "市", "自治区", "壮族自治区", "回族自治区", "维吾尔自治区")


class CallerIdError(ValueError):
    pass


def check(value: str, what: str = "caller ID") -> str:
    text = re.sub(r"[\s\-]", "", str(value or ""))
    if not CALLER_ID.fullmatch(text):
        raise CallerIdError(f"{what}: {value!r} is not a phone number (3-20 digits)")
    return text


def province_name(name: str) -> str:
    """`广东省`, `广东` or `guangdong` -> `Guangdong`; CallerIdError for anything else."""
    text = str(name).strip()
    for en in PROVINCES:
        if text.lower() == en.lower():
            return en
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix) and text[:-len(suffix)] in BY_CHINESE:
            text = text[:-len(suffix)]
            break
    if text in BY_CHINESE:
        return BY_CHINESE[text]
    raise CallerIdError(f"unknown province {name!r}")


def parse_pool(data: object) -> tuple[dict[str, list[str]], list[Clamped]]:
    """A pool from form text ("province: n1, n2" per line), JSON text or a dict: (the pool to store, notes)."""
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise CallerIdError(f"caller ID pool: not valid JSON ({exc})") from None
        else:
            lines: dict[str, list[str]] = {}
            for n, line in enumerate(re.split(r"[\n;；]", text), start=1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                key, sep, numbers = line.replace("：", ":").partition(":")
                if not sep:
                    raise CallerIdError(f"caller ID pool line {n}: expected 'province: number, number'")
                lines.setdefault(key.strip(), []).extend(x for x in re.split(r"[,，\s]+", numbers) if x)
            data = lines
    if not isinstance(data, dict):
        raise CallerIdError("caller ID pool: expected province -> list of numbers")
    pool: dict[str, list[str]] = {}
    notes: list[Clamped] = []
    for key, numbers in data.items():
        province = province_name(key)
        if isinstance(numbers, str):
            numbers = [numbers]
        if not isinstance(numbers, list) or not numbers:
            raise CallerIdError(f"caller ID pool {key}: expected a list of numbers")
        checked = pool.setdefault(province, [])
        for number in numbers:
            number = check(number, f"caller ID pool {key}")
            if number not in checked:
                checked.append(number)
        if len(checked) > MAX_PER_PROVINCE:
            notes.append(Clamped(f"caller_id_pool:{province}", len(checked), MAX_PER_PROVINCE))
            del checked[MAX_PER_PROVINCE:]
    if len(pool) > MAX_PROVINCES:
        notes.append(Clamped("caller_id_pool", len(pool), MAX_PROVINCES))
        pool = dict(list(pool.items())[:MAX_PROVINCES])
    return pool, notes


def pool_text(pool: dict[str, list[str]]) -> str:
    """The pool as the form shows it (Chinese province names)."""
    return "\n".join(f"{PROVINCES.get(p, p)}: {', '.join(nums)}" for p, nums in pool.items())


def province_of(number: str, region: str = "CN") -> str | None:
    """The province a Chinese number belongs to, from its prefix (None when unknown)."""
    try:
        parsed = phonenumbers.parse(str(number), region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(parsed) != "CN":
        return None
    where = geocoder.description_for_number(parsed, "en")
    last = where.split(",")[-1].strip() if where else ""
    return last if last in PROVINCES else None


def choose(number: str, *, borrower_id: int | None, caller_id: str, pool: dict[str, list[str]],
           default: str) -> str:
    """The caller ID for one call: a pool number of the borrower's province, else the campaign's, else the default."""
    province = province_of(number) if pool else None
    numbers = pool.get(province) if province else None
    if numbers:
        return numbers[(borrower_id or 0) % len(numbers)]
    return caller_id or default


def from_campaign(row: Mapping[str, Any] | None, number: str, borrower_id: int | None, default: str) -> str:
    """`choose` for a stored campaign row (a row written by hand that does not parse: the campaign's own)."""
    row = row or {}
    try:
        pool, _ = parse_pool(json.loads(row.get("caller_id_pool") or "{}"))
    except (CallerIdError, ValueError):
        pool = {}
    own = row.get("caller_id") or ""
    try:
        own = check(own) if own else ""
    except CallerIdError:
        own = ""
    return choose(number, borrower_id=borrower_id, caller_id=own, pool=pool, default=default)
