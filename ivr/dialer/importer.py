"""Borrower and payment import from CSV (UTF-8 with or without BOM, GB18030 fallback) or XLSX.

Borrower file columns (header row, any order, case-insensitive; Chinese and Korean synonyms in
import_headers.ACCEPTED):

    loan_id, name, id_last4, phone, amount_due, due_date, locale, timezone      the borrower
    phone_type                                 type of `phone`: mobile (default), home, work
    phone2, phone2_type, phone3, phone3_type   more own numbers, any N >= 2 (type default mobile)
    contact1_phone, contact1_name, contact1_relation, ...  third-party contacts, any N >= 1

Required: loan_id, name, phone; a file without a required column is refused once, naming the
headers it did not recognise and the names accepted. `locale` is zh-CN or ko-KR (default zh-CN); numbers are
validated with `phonenumbers` in the locale's region (CN, or KR for ko-KR) and stored as the
digits we dial (national format: 13800000001, 01012345678; other countries 00 + country code).
That check is `parse_phone`, the default of every caller: only `ivr demo`, which dials a
simulated trunk, passes its own rule (`phone_rule=`); no setting, file column or CLI/web option
can change it.
`timezone` is an IANA name (default Asia/Shanghai, Asia/Seoul for ko-KR). Dates: YYYY-MM-DD,
YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD or a spreadsheet date. Amounts: whole yuan/won ("3,500",
"¥3500.00"; fractions are rounded half up; at most MAX_AMOUNT).

Every row is validated; good rows are imported, each bad row is reported with its line number
(the header is line 1) and reason. A loan id that appears on several lines rejects all of them:
we cannot know which is right. Re-importing writes only what changed: each borrower is counted
created, updated or unchanged. Contacts are never deleted (attempts refer to them): a number
missing from the new file is set to status `removed`; what calls taught us (invalid,
wrong_person, dnc) is kept.

Payment file columns: loan_id, paid_amount, paid_at (a date or an ISO timestamp); a payment
already present (same loan, paid_at and amount) is unchanged.

Writing goes through the Store (SQLite or PostgreSQL, whichever `open_database` gave the caller).
Every row is validated before anything is written, and validation refuses whatever one engine
would refuse (a NUL character in text, an amount past a 32-bit INTEGER), so a bad row is reported
and never fails the file. The file is one transaction of batched statements (IN-list reads,
multi-row inserts, an UPDATE only per changed row): a round trip per row is slow on PostgreSQL.
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypedDict, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from . import import_headers, upload_caps

LOCALES = {"zh-CN": ("CN", "Asia/Shanghai"), "ko-KR": ("KR", "Asia/Seoul")}
OWN_KINDS = ("mobile", "home", "work")
_EXTRA_PHONE = re.compile(r"^phone(\d+)(_type)?$")
_CONTACT = re.compile(r"^contact(\d+)_(phone|name|relation)$")
_ID4 = re.compile(r"^\d{3}[\dX]$")
# amounts are INTEGER columns: 32 bits on PostgreSQL (about 2.1 billion yuan or won), so a larger one
# is a row error rather than a database error that would fail the whole file
MAX_AMOUNT = 2**31 - 1
BorrowerField = Literal["name", "id_last4", "amount_due", "due_date", "locale", "timezone"]
BORROWER_FIELDS: tuple[BorrowerField, ...] = ("name", "id_last4", "amount_due", "due_date", "locale", "timezone")
ContactField = Literal["kind", "relation", "name", "position"]
CONTACT_FIELDS: tuple[ContactField, ...] = ("kind", "relation", "name", "position")   # compared on re-import
T = TypeVar("T")

# one data row as read: {normalised header: cell}; a cell is text (CSV) or what openpyxl reads
# (str, int, float, datetime, None)
Cells = Mapping[str, object]


class ContactRecord(TypedDict):
    """One number of a validated borrower row (a `contacts` row without its ids and status)."""
    phone: str
    kind: str                 # mobile, home, work, third_party
    relation: str | None      # third parties only
    name: str | None
    position: int             # 1.. own numbers, 100+n contact n


class BorrowerRecord(TypedDict):
    """A validated borrower row: the `borrowers` columns and the row's numbers."""
    loan_id: str
    name: str
    id_last4: str | None
    amount_due: int | None
    due_date: str | None
    locale: str
    timezone: str
    contacts: list[ContactRecord]


# (cell, locale's region, column name) -> the digits to dial; raises RowInvalid
PhoneRule = Callable[[object, str, str], str]


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not a bad row). `key` and `params`, when given, name the
    message in the web app's catalogues (`import.<key>`)."""

    def __init__(self, message: str, key: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


@dataclass
class RowError:
    """One refused row: `reason` in English (CLI, logs), `code` and `params` name the message in
    the web app's catalogues (`import.row.<code>`) and are the API's stable error code."""
    line: int
    reason: str
    loan_id: str | None = None
    column: str | None = None
    code: str = "invalid"
    params: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "loan_id": self.loan_id, "column": self.column, "reason": self.reason,
                "code": self.code, "params": self.params}


@dataclass
class ImportReport:
    kind: str
    source: str
    batch_id: int | None = None
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    encoding: str = ""

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "source": self.source, "batch_id": self.batch_id, "rows": self.rows,
                "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected, "encoding": self.encoding,
                "errors": [e.as_dict() for e in self.errors]}


class RowInvalid(ValueError):
    """A bad cell: `reason` in English; `code` and `params` as in RowError."""

    def __init__(self, column: str | None, reason: str, code: str = "invalid", **params: object) -> None:
        super().__init__(reason)
        self.column, self.reason, self.code, self.params = column, reason, code, params

    def row_error(self, line: int, loan_id: str | None) -> RowError:
        return RowError(line, self.reason, loan_id, self.column, self.code, self.params)


# ---- reading files ------------------------------------------------------------------------------
def read_rows(path: str | Path) -> tuple[list[tuple[int, Cells]], str]:
    """(line number, {normalised header: cell}) for every non-empty data row, and the encoding."""
    _, rows, encoding = read_table(path)
    return rows, encoding


def read_table(path: str | Path) -> tuple[list[str], list[tuple[int, Cells]], str]:
    """The header as written, (line number, {normalised header: cell}) for every non-empty data
    row, and the encoding. Bounded whatever the file declares (upload_caps)."""
    path = Path(path)
    size = path.stat().st_size
    if size > upload_caps.MAX_BYTES:
        raise ImportFileError(f"{path}: the file is {upload_caps.megabytes(size)}; at most "
                              f"{upload_caps.megabytes(upload_caps.MAX_BYTES)} per file",
                              key="too_big", size=upload_caps.megabytes(size),
                              limit=upload_caps.megabytes(upload_caps.MAX_BYTES))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return (*_read_xlsx(path), "xlsx")
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        raise ImportFileError(f"{path}: neither UTF-8 nor GB18030", key="bad_encoding")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = _capped(path, reader)
    except csv.Error as exc:
        raise ImportFileError(f"{path}: line {reader.line_num}: not readable as CSV: {exc}",
                              key="bad_csv", line=reader.line_num) from None
    return (*_rows_with_header(rows, path), ("utf-8" if encoding == "utf-8-sig" else encoding))


def _capped(path: Path, rows: Iterable[Sequence[object]]) -> list[list[object]]:
    """The rows with trailing empty cells dropped; refused past the header + MAX_ROWS lines."""
    out: list[list[object]] = []
    for row in rows:
        if len(out) > upload_caps.MAX_ROWS:
            raise ImportFileError(f"{path}: more than {upload_caps.MAX_ROWS} lines after the header; split the file",
                                  key="too_many_rows", limit=upload_caps.MAX_ROWS)
        cells = list(row[:upload_caps.MAX_COLUMNS])
        end = len(cells)
        while end and _blank(cells[end - 1]):
            end -= 1
        out.append(cells[:end])
    return out


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, Cells]]]:
    import zipfile

    import openpyxl
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportFileError(f"{path}: not a readable XLSX file: {exc}", key="bad_xlsx") from None
    if unpacked > upload_caps.MAX_UNPACKED_BYTES:
        raise ImportFileError(f"{path}: the workbook unpacks to {upload_caps.megabytes(unpacked)}; at most "
                              f"{upload_caps.megabytes(upload_caps.MAX_UNPACKED_BYTES)}", key="too_big",
                              size=upload_caps.megabytes(unpacked),
                              limit=upload_caps.megabytes(upload_caps.MAX_UNPACKED_BYTES))
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ImportFileError(f"{path}: not a readable XLSX file: {exc}", key="bad_xlsx") from None
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # the sheet's own "A1:ZZ300000" is not believed: only cells present count
        rows = _capped(path, ws.iter_rows(values_only=True))  # each row as wide as its last cell
    except ImportFileError:
        raise
    except Exception as exc:  # a broken sheet part shows up only while reading
        raise ImportFileError(f"{path}: not a readable XLSX file: {exc}", key="bad_xlsx") from None
    finally:
        wb.close()
    return _rows_with_header(rows, path)


def _rows_with_header(rows: list[list[object]], path: Path) -> tuple[list[str], list[tuple[int, Cells]]]:
    if not rows:
        raise ImportFileError(f"{path}: the file is empty", key="empty")
    raw_header = [_s(h).replace("\ufeff", "") for h in rows[0]]
    header = [import_headers.normalise(h) for h in raw_header]
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        raise ImportFileError(f"{path}: line 1: duplicate column(s) {', '.join(dup)}", key="duplicate_columns",
                              columns=", ".join(dup))
    out: list[tuple[int, Cells]] = []
    for i, row in enumerate(rows[1:], start=2):
        cells = {h: row[j] if j < len(row) else None for j, h in enumerate(header) if h}
        if all(_blank(v) for v in cells.values()):
            continue
        out.append((i, cells))
    return raw_header, out


def require_columns(path: Path, raw_header: list[str], kind: str) -> None:
    """Refuse, once for the file, a file without a required column, naming the headers we did not
    recognise and the names accepted for what is missing."""
    missing, unknown = import_headers.missing_columns(raw_header, kind)
    if not missing:
        return
    accepted = import_headers.accepted_text(missing)
    unknown_text = ", ".join(unknown) if unknown else "-"
    raise ImportFileError(f"{path}: no column for {', '.join(missing)}; headers not recognised: {unknown_text}; "
                          f"accepted headers: {accepted}", key="missing_columns", missing=", ".join(missing),
                          unknown=unknown_text, accepted=accepted)


def _text(cells: Cells, column: str) -> str:
    """A free-text cell (loan id, names, relation) as stored. A NUL character is refused here: PostgreSQL
    text cannot hold one, and a row the database refuses would otherwise fail the whole import."""
    text = _s(cells.get(column))
    if "\x00" in text:
        raise RowInvalid(column, f"{column} holds a NUL character (a broken file?)")
    return text


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _s(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


# ---- validating cells ---------------------------------------------------------------------------
def parse_phone(raw: object, region: str, column: str) -> str:
    text = _s(raw)
    if not text:
        raise RowInvalid(column, "empty phone number", "empty_phone")
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise RowInvalid(column, f"not a phone number: {text!r}", "bad_phone", value=text[:40]) from None
    if not phonenumbers.is_valid_number(num):
        raise RowInvalid(column, f"invalid phone number for region {region}: {text!r}", "invalid_phone",
                         value=text[:40], region=region)
    if phonenumbers.region_code_for_number(num) == region:
        return re.sub(r"\D", "", phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL))
    return "00" + phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def parse_date(raw: object, column: str) -> str:
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    text = _s(raw)
    m = re.match(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$", text)
    if not m:
        raise RowInvalid(column, f"not a date (YYYY-MM-DD): {text!r}", "bad_date", value=text[:40])
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        raise RowInvalid(column, f"no such day: {text!r}", "no_such_day", value=text[:40]) from None


def parse_timestamp(raw: object, column: str) -> str:
    if isinstance(raw, dt.datetime):
        return raw.isoformat(timespec="seconds")
    text = _s(raw)
    try:
        return parse_date(text, column)
    except RowInvalid:
        pass
    try:
        return dt.datetime.fromisoformat(text.replace("/", "-")).isoformat(timespec="seconds")
    except ValueError:
        raise RowInvalid(column, f"not a date or timestamp: {text!r}", "bad_timestamp", value=text[:40]) from None


def parse_amount(raw: object, column: str) -> int:
    text = _s(raw).replace(",", "").replace("，", "")
    text = re.sub(r"^[¥￥₩$]|元$|원$", "", text).strip()
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise RowInvalid(column, f"not an amount: {_s(raw)!r}", "bad_amount", value=_s(raw)[:40]) from None
    if not value.is_finite() or value < 0:
        raise RowInvalid(column, f"amount must be >= 0: {_s(raw)!r}", "negative_amount", value=_s(raw)[:40])
    if value > MAX_AMOUNT:
        raise RowInvalid(column, f"amount too large: {_s(raw)!r}", "amount_too_large", value=_s(raw)[:40])
    return int(value.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


_TZ_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


def parse_borrower_row(cells: Cells, phone_rule: PhoneRule | None = None) -> BorrowerRecord:
    """One borrower row -> {"loan_id", borrower fields..., "contacts": [...]}; raises RowInvalid."""
    phone_rule = phone_rule or parse_phone
    loan_id = _text(cells, "loan_id")
    if not loan_id:
        raise RowInvalid("loan_id", "loan_id is required", "required", field="loan_id")
    name = _text(cells, "name")
    if not name:
        raise RowInvalid("name", "name is required", "required", field="name")
    locale = _s(cells.get("locale")) or "zh-CN"
    canonical = {k.lower(): k for k in LOCALES}
    if locale.lower().replace("_", "-") not in canonical:
        raise RowInvalid("locale", f"unknown locale {locale!r} (known: {', '.join(LOCALES)})", "unknown_locale",
                         value=locale[:40], known=", ".join(LOCALES))
    locale = canonical[locale.lower().replace("_", "-")]
    region, default_tz = LOCALES[locale]
    tz = _s(cells.get("timezone")) or default_tz
    # an IANA name is short and plain; anything else would reach the file system as a path
    if len(tz) > 64 or not _TZ_NAME.fullmatch(tz):
        raise RowInvalid("timezone", f"unknown time zone {tz[:64]!r}", "unknown_timezone", value=tz[:40])
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RowInvalid("timezone", f"unknown time zone {tz!r}", "unknown_timezone", value=tz[:40]) from None
    id4 = _s(cells.get("id_last4")).upper() or None
    if id4 is not None:
        if id4.isdigit() and len(id4) < 4:
            id4 = id4.zfill(4)  # spreadsheets drop leading zeros
        if not _ID4.match(id4):
            raise RowInvalid("id_last4", f"id_last4 must be 4 digits (or 3 digits and X): {id4!r}", "bad_id_last4",
                             value=id4[:40])
    amount = None if _blank(cells.get("amount_due")) else parse_amount(cells.get("amount_due"), "amount_due")
    due = None if _blank(cells.get("due_date")) else parse_date(cells.get("due_date"), "due_date")

    contacts: list[ContactRecord] = []

    def own(column: str, type_column: str, position: int) -> None:
        kind = (_s(cells.get(type_column)) or "mobile").lower()
        if kind not in OWN_KINDS:
            raise RowInvalid(type_column, f"phone type must be one of {', '.join(OWN_KINDS)}, got {kind!r}",
                             "bad_phone_type", value=kind[:40], known=", ".join(OWN_KINDS))
        contacts.append({"phone": phone_rule(cells.get(column), region, column), "kind": kind,
                         "relation": None, "name": None, "position": position})

    own("phone", "phone_type", 1)
    extra = sorted({int(m.group(1)) for c in cells if (m := _EXTRA_PHONE.match(c))})
    for n in extra:
        if not _blank(cells.get(f"phone{n}")):
            own(f"phone{n}", f"phone{n}_type", n)
    third = sorted({int(m.group(1)) for c in cells if (m := _CONTACT.match(c))})
    for n in third:
        phone = cells.get(f"contact{n}_phone")
        if _blank(phone):
            if not _blank(cells.get(f"contact{n}_name")) or not _blank(cells.get(f"contact{n}_relation")):
                raise RowInvalid(f"contact{n}_phone", f"contact {n} has a name or relation but no phone",
                                 "contact_without_phone", n=n)
            continue
        relation = _text(cells, f"contact{n}_relation")
        if not relation:
            raise RowInvalid(f"contact{n}_relation", f"contact {n} needs a relation (e.g. spouse, colleague)",
                             "contact_without_relation", n=n)
        contacts.append({"phone": phone_rule(phone, region, f"contact{n}_phone"), "kind": "third_party",
                         "relation": relation, "name": _text(cells, f"contact{n}_name") or None,
                         "position": 100 + n})
    seen: dict[str, ContactRecord] = {}
    for c in contacts:
        if c["phone"] in seen:
            raise RowInvalid(None, f"number {c['phone']} appears twice in the row", "number_twice", number=c["phone"])
        seen[c["phone"]] = c
    return {"loan_id": loan_id, "name": name, "id_last4": id4, "amount_due": amount, "due_date": due,
            "locale": locale, "timezone": tz, "contacts": contacts}


# ---- writing ------------------------------------------------------------------------------------
# loan ids / borrower ids per IN list: far below SQLite's bound-parameter limit, few round trips
_CHUNK = 500
# PostgreSQL: imports take turns (a transaction-scoped advisory lock), as every writer does on SQLite
# (BEGIN IMMEDIATE); two files naming one new loan would otherwise both insert it, and one fail whole
PG_IMPORT_LOCK = 0x496D7074   # "Impt"


def _one_import_at_a_time(s: Store) -> None:
    if s.dialect == "postgresql":
        s.execute("SELECT pg_advisory_xact_lock(:key)", {"key": PG_IMPORT_LOCK})


def _chunks(values: list[T], size: int = _CHUNK) -> Iterator[list[T]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _borrowers_by_loan(s: Store, loans: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for part in _chunks(loans):
        for row in s.query("SELECT * FROM borrowers WHERE loan_id IN :loans", {"loans": part}):
            found[row["loan_id"]] = row
    return found


def _contacts_by_borrower(s: Store, borrower_ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    found: dict[int, dict[str, dict[str, Any]]] = {}
    for part in _chunks(borrower_ids):
        for row in s.query("SELECT * FROM contacts WHERE borrower_id IN :ids ORDER BY id", {"ids": part}):
            found.setdefault(row["borrower_id"], {})[row["phone"]] = row
    return found


def _write_borrowers(s: Store, recs: list[tuple[int, BorrowerRecord]], batch_id: int, now: str) -> list[str]:
    """Create or update the validated borrowers (and their contacts) of one file; each one's change
    ("created", "updated", "unchanged") in the order of `recs`. A few batched reads, the new rows in
    a few multi-row inserts, one UPDATE per row that changed: a 50,000-row file is a few hundred
    statements, not a quarter million round trips (which PostgreSQL would make slow)."""
    existing = _borrowers_by_loan(s, [rec["loan_id"] for _, rec in recs])
    s.insert_all("borrowers", [{"loan_id": rec["loan_id"], **{k: rec[k] for k in BORROWER_FIELDS},
                                "created_at": now, "updated_at": now}
                               for _, rec in recs if rec["loan_id"] not in existing])
    created = {rec["loan_id"] for _, rec in recs if rec["loan_id"] not in existing}
    ids = {loan: row["id"] for loan, row in _borrowers_by_loan(s, sorted(created)).items()}
    ids.update({loan: row["id"] for loan, row in existing.items()})
    current = _contacts_by_borrower(s, sorted(row["id"] for row in existing.values()))
    new_contacts: list[dict[str, object]] = []
    links: list[dict[str, object]] = []
    changes: list[str] = []
    for line, rec in recs:
        borrower_id = ids[rec["loan_id"]]
        changed = False
        row = existing.get(rec["loan_id"])
        if row is not None:
            diff: dict[str, object] = {k: rec[k] for k in BORROWER_FIELDS if row[k] != rec[k]}
            if diff:
                s.update("borrowers", borrower_id, {**diff, "updated_at": now})
                changed = True
        old_contacts = dict(current.get(borrower_id, {}))
        for c in rec["contacts"]:
            old = old_contacts.pop(c["phone"], None)
            if old is None:
                new_contacts.append({"borrower_id": borrower_id, **c, "status": "ok", "created_at": now})
                changed = True
                continue
            diff = {k: c[k] for k in CONTACT_FIELDS if old[k] != c[k]}
            if old["status"] == "removed":
                diff.update(status="ok", status_reason=None, status_at=now)
            if diff:
                s.update("contacts", old["id"], diff)
                changed = True
        for old in old_contacts.values():
            if old["status"] == "ok":
                s.update("contacts", old["id"], {"status": "removed", "status_reason": "not in the latest import",
                                                 "status_at": now})
                changed = True
        change = "created" if row is None else "updated" if changed else "unchanged"
        changes.append(change)
        links.append({"batch_id": batch_id, "borrower_id": borrower_id, "line": line, "change": change})
    s.insert_all("contacts", new_contacts)
    s.insert_all("batch_borrowers", links)
    return changes


def _new_batch(s: Store, kind: str, path: Path, now: str) -> int:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return int(s.insert("import_batches", {"kind": kind, "source": str(path), "sha256": digest, "created_at": now}))


def _finish_batch(s: Store, report: ImportReport) -> None:
    s.update("import_batches", report.batch_id, {
        "rows_total": report.rows, "created": report.created, "updated": report.updated,
        "unchanged": report.unchanged, "rejected": report.rejected,
        "errors": json.dumps([e.as_dict() for e in report.errors], ensure_ascii=False)})


def _duplicates(rows: list[tuple[int, Cells]], report: ImportReport) -> set[int]:
    lines_by_loan: dict[str, list[int]] = {}
    for line, cells in rows:
        loan = _s(cells.get("loan_id"))
        if loan:
            lines_by_loan.setdefault(loan, []).append(line)
    bad: set[int] = set()
    for loan, lines in lines_by_loan.items():
        if len(lines) > 1:
            for line in lines:
                others = ", ".join(str(x) for x in lines if x != line)
                report.errors.append(RowError(line, f"loan_id {loan} also on line(s) {others}", loan, "loan_id",
                                               "duplicate_loan", {"loan": loan, "lines": others}))
                bad.add(line)
    return bad


def import_file(db: Store | HasStore, path: str | Path, *, phone_rule: PhoneRule | None = None) -> ImportReport:
    """Import a borrower file (CSV or XLSX) into db; see the module docstring. `phone_rule` is for
    `ivr demo` only (its simulated trunk): every real import validates numbers with `parse_phone`.
    Every row is validated before anything is written, and nothing a row holds can make the database
    refuse it (see `_text`, `MAX_AMOUNT`), so a bad row costs only itself; the batch is one transaction."""
    s = store_of(db)
    path = Path(path)
    header, rows, encoding = read_table(path)
    require_columns(path, header, "borrowers")
    report = ImportReport(kind="borrowers", source=str(path), rows=len(rows), encoding=encoding)
    now = now_iso()
    bad = _duplicates(rows, report)
    recs: list[tuple[int, BorrowerRecord]] = []
    for line, cells in rows:
        if line in bad:
            continue
        try:
            recs.append((line, parse_borrower_row(cells, phone_rule)))
        except RowInvalid as exc:
            report.errors.append(exc.row_error(line, _s(cells.get("loan_id")) or None))
    report.errors.sort(key=lambda e: e.line)
    with s.transaction():
        _one_import_at_a_time(s)
        report.batch_id = _new_batch(s, "borrowers", path, now)
        for change in _write_borrowers(s, recs, report.batch_id, now):
            setattr(report, change, getattr(report, change) + 1)
        _finish_batch(s, report)
    return report


def import_payments(db: Store | HasStore, path: str | Path) -> ImportReport:
    """Import a payment file (loan_id, paid_amount, paid_at)."""
    s = store_of(db)
    path = Path(path)
    header, rows, encoding = read_table(path)
    require_columns(path, header, "payments")
    report = ImportReport(kind="payments", source=str(path), rows=len(rows), encoding=encoding)
    now = now_iso()
    with s.transaction():
        _one_import_at_a_time(s)
        report.batch_id = _new_batch(s, "payments", path, now)
        loans = sorted({loan for _, cells in rows if (loan := _s(cells.get("loan_id"))) and "\x00" not in loan})
        borrower_ids = {loan: row["id"] for loan, row in _borrowers_by_loan(s, loans).items()}
        known: set[tuple[int, str, int]] = set()
        for part in _chunks(sorted(set(borrower_ids.values()))):
            known.update((r["borrower_id"], r["paid_at"], r["paid_amount"]) for r in s.query(
                "SELECT borrower_id, paid_at, paid_amount FROM payments WHERE borrower_id IN :ids", {"ids": part}))
        new: list[dict[str, object]] = []
        for line, cells in rows:
            loan = _s(cells.get("loan_id"))
            try:
                loan = _text(cells, "loan_id")
                if not loan:
                    raise RowInvalid("loan_id", "loan_id is required", "required", field="loan_id")
                if loan not in borrower_ids:
                    raise RowInvalid("loan_id", f"unknown loan_id {loan!r} (import the borrower first)", "unknown_loan",
                                     loan=loan[:40])
                amount = parse_amount(cells.get("paid_amount"), "paid_amount")
                if amount <= 0:
                    raise RowInvalid("paid_amount", "paid_amount must be > 0", "amount_not_positive")
                paid_at = parse_timestamp(cells.get("paid_at"), "paid_at")
            except RowInvalid as exc:
                report.errors.append(exc.row_error(line, loan or None))
                continue
            key = (borrower_ids[loan], paid_at, amount)
            if key in known:
                report.unchanged += 1
                continue
            known.add(key)
            new.append({"borrower_id": key[0], "paid_amount": amount, "paid_at": paid_at,
                        "batch_id": report.batch_id, "created_at": now})
            report.created += 1
        s.insert_all("payments", new)
        _finish_batch(s, report)
    return report


def format_report(report: ImportReport) -> str:
    lines = [f"{report.source}: {report.rows} row(s) [{report.encoding}] -> created {report.created}, "
             f"updated {report.updated}, unchanged {report.unchanged}, rejected {report.rejected} "
             f"(batch {report.batch_id})"]
    for e in report.errors:
        lines.append(f"  line {e.line}: {e.loan_id or '-'}: {e.column + ': ' if e.column else ''}{e.reason}")
    return "\n".join(lines)
