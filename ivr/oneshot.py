"""`ivr call`: place one follow-up call to one number and report what happened."""
from __future__ import annotations

import datetime as dt

from .config import Settings
from .db import attempts as attempts_db
from .db.writer import AsyncDb
from .dialer.calls import CallPlacer


async def call_once(settings: Settings, *, number: str, locale: str | None, name: str, id_last4: str,
                    amount: int, due_date: str | None, timeout: float = 180) -> dict:
    locale = locale or settings.default_locale
    db = AsyncDb(settings.database)
    due = due_date or (dt.date.today() + dt.timedelta(days=5)).isoformat()
    borrower_id, contact_id = await db.call(lambda d: attempts_db.ensure_borrower(
        d, loan_id=f"adhoc-{number}", name=name, id_last4=id_last4, amount_due=amount, due_date=due,
        locale=locale, phone=number))
    placer = CallPlacer(settings, db)
    await placer.start()
    try:
        attempt_id = await placer.place(number, locale=locale, borrower_id=borrower_id, contact_id=contact_id)
        row = await placer.wait(attempt_id, timeout=timeout)
        row["answers"] = await db.call(attempts_db.answers, attempt_id)
        return row
    finally:
        await placer.close()
        db.close()
