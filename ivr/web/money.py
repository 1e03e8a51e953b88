"""Money as the pages show it: amounts are whole yuan or won, the currency follows the borrower's
locale (zh-CN → CNY, ko-KR → KRW; the importer has no currency column, the locale picks the
country), and totals are kept per currency — yuan and won are never added together.

Why it looks like this: the dashboard and reports used to sum every promise into one number, so a
lender with Chinese and Korean borrowers saw 3,500 yuan + 500,000 won as "503,500".
"""
from __future__ import annotations

CURRENCIES = ("CNY", "KRW")
BY_LOCALE = {"zh-CN": "CNY", "ko-KR": "KRW"}
SYMBOL = {"CNY": "¥", "KRW": "₩"}


def sql_currency(locale_column: str) -> str:
    """The SQL expression of a borrower's currency (same mapping as BY_LOCALE)."""
    cases = " ".join(f"WHEN '{loc}' THEN '{cur}'" for loc, cur in BY_LOCALE.items())
    return f"(CASE {locale_column} {cases} ELSE 'CNY' END)"


def format_amount(amount, currency: str) -> str:
    return f"{SYMBOL.get(currency, currency + ' ')}{int(amount or 0):,}"


def format_totals(totals: dict) -> str:
    """{"CNY": 3500, "KRW": 500000} → "¥3,500 · ₩500,000"; currencies with nothing are left out
    (all nothing: ¥0)."""
    shown = [format_amount(totals[c], c) for c in CURRENCIES if totals.get(c)]
    shown += [format_amount(v, c) for c, v in totals.items() if c not in CURRENCIES and v]
    return " · ".join(shown) or format_amount(0, "CNY")


def init_app(app) -> None:
    app.jinja_env.filters["money_totals"] = format_totals
    app.jinja_env.filters["money"] = format_amount
