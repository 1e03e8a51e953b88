"""`ivr call`: place one follow-up call to one number and report what happened.

A call placed by hand obeys the same rules as a campaign's (calling hours in the borrower's time
zone, the daily caps per borrower and per number, do-not-call, never two calls at once): the
policy's own `decide`, with the hard-limit defaults, on the real clock. A refusal says why and
until when, and nothing is dialled.
"""
from __future__ import annotations

import datetime as dt

from .config import Settings
from .db import attempts as attempts_db
from .db.store import HasStore, Store, store_of
from .db.writer import AsyncDb
from .dialer import scheduler
from .dialer.calls import CallPlacer
from .dialer.clock import iso
from .dialer.importer import LOCALES
from .dialer.policy import Dial, Policy, Refuse, decide


class CallRefused(RuntimeError):
    def __init__(self, refusal: Refuse):
        until = f" until {iso(refusal.until)}" if refusal.until else ""
        super().__init__(f"not calling: {refusal.reason}{until}" + (f" ({refusal.detail})" if refusal.detail else ""))
        self.refusal = refusal


def may_call(db: Store | HasStore, borrower_id: int, locale: str, now: dt.datetime) -> Dial | Refuse:
    """The policy's answer for this borrower now, as if they were due in a campaign of defaults."""
    borrower = store_of(db).one("SELECT timezone, locale FROM borrowers WHERE id = :id", {"id": borrower_id})
    if borrower is None:
        raise LookupError(f"no borrower {borrower_id}")
    target = {"campaign_id": 0, "borrower_id": borrower_id, "timezone": borrower["timezone"],
              "locale": borrower["locale"] or locale,
              "attempts": 0, "next_at": iso(now), "fails_in_row": 0}
    campaign = {"locale_default": locale, "flow": "followup"}
    [candidate] = scheduler.gather(db, [target], {0: campaign}, now)
    return decide(candidate, now, Policy())


async def call_once(settings: Settings, *, number: str, locale: str | None, name: str, id_last4: str,
                    amount: int, due_date: str | None, timeout: float = 180) -> dict:
    locale = locale or settings.default_locale
    db = AsyncDb(settings)
    due = due_date or (dt.date.today() + dt.timedelta(days=5)).isoformat()
    zone = LOCALES.get(locale, ("", "Asia/Shanghai"))[1]
    borrower_id, contact_id = await db.call(lambda d: attempts_db.ensure_borrower(
        d, loan_id=f"adhoc-{number}", name=name, id_last4=id_last4, amount_due=amount, due_date=due,
        locale=locale, phone=number, timezone=zone))
    verdict = await db.call(lambda d: may_call(d, borrower_id, locale, dt.datetime.now(dt.timezone.utc)))
    if isinstance(verdict, Refuse):
        db.close()
        raise CallRefused(verdict)
    placer = CallPlacer(settings, db)
    await placer.start()
    try:
        attempt_id = await placer.place(number, locale=locale, borrower_id=borrower_id, contact_id=contact_id)
        row = await placer.wait(attempt_id, timeout=timeout)
        if row is None:  # place() wrote it; gone only if someone deleted it meanwhile
            raise RuntimeError(f"attempt {attempt_id} vanished from the database")
        row["answers"] = await db.call(attempts_db.answers, attempt_id)
        return row
    finally:
        await placer.close()
        db.close()
