"""The column headers the importer accepts, and the file-level check that every required column is there.

Why it looks like this: lenders export borrower lists from their loan systems with Chinese (or
Korean) headers, each system its own words for the same thing (贷款编号, 合同编号, 借据号...). A
header we did not know used to be ignored silently and then every row said "loan_id is required",
which told the supervisor nothing about the header. Here each field lists every name it accepts,
so the importer can refuse the file once, naming the header it did not recognise and the names it
would have taken.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# field -> every header accepted for it (case-insensitive; spaces count as underscores)
ACCEPTED: dict[str, tuple[str, ...]] = {
    "loan_id": ("loan_id", "贷款编号", "合同编号", "合同号", "借据号", "借据编号", "借款编号", "대출번호", "계약번호"),
    "name": ("name", "姓名", "客户姓名", "借款人", "借款人姓名", "이름", "성명", "고객명"),
    "id_last4": ("id_last4", "身份证后四位", "身份证后4位", "证件后四位", "주민번호뒤4자리"),
    "phone": ("phone", "手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "휴대폰", "전화번호"),
    "phone_type": ("phone_type", "电话类型"),
    "amount_due": ("amount_due", "应还金额", "金额", "逾期金额", "금액", "상환금액"),
    "due_date": ("due_date", "到期日", "还款日", "应还日期", "만기일", "상환일"),
    "locale": ("locale", "语言", "언어"),
    "timezone": ("timezone", "时区", "시간대"),
    "paid_amount": ("paid_amount", "还款金额", "实还金额", "입금액"),
    "paid_at": ("paid_at", "还款时间", "还款日期", "实还日期", "입금일"),
}
REQUIRED = {"borrowers": ("loan_id", "name", "phone"), "payments": ("loan_id", "paid_amount", "paid_at")}
# numbered columns (phone2, phone2_type, contact1_phone...) are recognised by their shape
_NUMBERED = re.compile(r"^(phone\d+(_type)?|contact\d+_(phone|name|relation))$")

_ALIASES = {alias.lower(): field for field, names in ACCEPTED.items() for alias in names}


def normalise(header: object) -> str:
    """A header as the field it names, or (unknown) lower case with spaces as underscores."""
    text = str(header or "").strip().replace("\ufeff", "")
    plain = re.sub(r"\s+", "_", text.lower())
    return _ALIASES.get(text.lower(), _ALIASES.get(plain, plain))


def recognised(field: str, kind: str) -> bool:
    if kind == "payments":
        return field in REQUIRED["payments"]
    return (field in ACCEPTED and field not in ("paid_amount", "paid_at")) or bool(_NUMBERED.match(field))


def missing_columns(raw_header: Sequence[object], kind: str) -> tuple[list[str], list[str]]:
    """(required fields with no column, headers of this file we did not recognise)."""
    fields = [normalise(h) for h in raw_header]
    missing = [f for f in REQUIRED[kind] if f not in fields]
    unknown = [str(h).strip() for h, f in zip(raw_header, fields) if f and not recognised(f, kind)]
    return missing, unknown


def accepted_text(fields: Iterable[str]) -> str:
    """`loan_id: loan_id / 贷款编号 / ...; name: ...` for the given fields."""
    return "; ".join(f"{f}: {' / '.join(ACCEPTED[f])}" for f in fields)
