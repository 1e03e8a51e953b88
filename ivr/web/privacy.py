"""Masking of borrower personal data (phone numbers, ID digits, names, loan ids).

Lists, the live monitor, reports and exports always show masked numbers. The full record of a
borrower is shown unmasked only to a role that needs it: admin and supervisor, the agent whose
current escalation is that borrower, an auditor with `can_unmask`. QA reviewers see masked data.
Every unmasked view is written to the audit log by the page that shows it.
"""
from __future__ import annotations

from ivr import redact


def mask_phone(phone) -> str:
    p = str(phone or "")
    if len(p) >= 7:
        return p[:3] + "*" * (len(p) - 7) + p[-4:]
    return "*" * len(p)


def mask_name(name) -> str:
    n = str(name or "")
    return (n[0] + "*" * (len(n) - 1)) if len(n) > 1 else ("*" if n else "")


def mask_loan(loan_id) -> str:
    s = str(loan_id or "")
    return "*" * (len(s) - 4) + s[-4:] if len(s) > 4 else "*" * len(s)


def mask_digits(digits) -> str:
    return "*" * len(str(digits or ""))


def scrub(text) -> str:
    """Whatever looks like a phone or ID number in free text, masked as screens show numbers (the
    shapes are the ones the log redaction knows: ivr/redact.py)."""
    return redact.scrub(text, mask=mask_phone)


class View:
    """How one page shows one borrower's data: `unmasked` or masked, consistently everywhere."""

    def __init__(self, unmasked: bool, borrower: dict | None = None, phones=()):
        self.unmasked = unmasked
        self.replacements: list[tuple[str, str]] = []
        if borrower:
            if borrower.get("name") and len(str(borrower["name"])) > 1:
                self.replacements.append((str(borrower["name"]), mask_name(borrower["name"])))
            if borrower.get("loan_id"):
                self.replacements.append((str(borrower["loan_id"]), mask_loan(borrower["loan_id"])))
        for p in phones:
            if p:
                self.replacements.append((str(p), mask_phone(p)))
        self.replacements.sort(key=lambda r: -len(r[0]))

    def phone(self, p) -> str:
        return str(p or "") if self.unmasked else mask_phone(p)

    def name(self, n) -> str:
        return str(n or "") if self.unmasked else mask_name(n)

    def loan(self, loan_id) -> str:
        return str(loan_id or "") if self.unmasked else mask_loan(loan_id)

    def id4(self, d) -> str:
        return str(d or "") if self.unmasked else mask_digits(d)

    def digits(self, step, d) -> str:
        """Keys pressed: ID digits are masked, menu choices are not."""
        if self.unmasked or not d or step not in ("digits", "identity_digits", "id"):
            return self.text(d)
        return mask_digits(d)

    def text(self, s) -> str:
        if s is None:
            return ""
        s = str(s)
        if self.unmasked:
            return s
        for value, masked in self.replacements:
            s = s.replace(value, masked)
        return scrub(s)
