"""A stand-in for `CallPlacer` without Asterisk: for the pacing benchmark and controller tests.

It writes attempt rows the way `CallPlacer` does (row before "Originate", then ended with an
outcome), decides each call's outcome with `outcome_for(number) -> dict` and ends it after
`duration_s`. Channels "alive" for reconcile are the attempts it has not ended.
"""
from __future__ import annotations

import asyncio

from ivr.db import attempts as attempts_db
from ivr.db.store import store_of
from ivr.dialer.clock import iso


class FakeAmi:
    def __init__(self, placer: "FakePlacer"):
        self.placer = placer
        self.connected = True

    async def send_action_list(self, action, timeout=10):
        return {"Response": "Success"}, [{"Uniqueid": aid, "Linkedid": aid} for aid in self.placer.alive]


class FakePlacer:
    def __init__(self, db, *, outcome_for=None, duration_s: float = 0.0, clock=None):
        self.db = db
        self.outcome_for = outcome_for or (lambda number: {"outcome": "busy", "cause": 17})
        self.duration_s = duration_s
        self.clock = clock
        self.ami = FakeAmi(self)
        self.alive: set[str] = set()
        self.placed: list[tuple[str, str]] = []   # (attempt id, number)
        self._done: dict[str, asyncio.Event] = {}

    async def start(self):
        pass

    async def close(self):
        pass

    async def place(self, number, *, locale, borrower_id=None, contact_id=None, campaign_id=None, flow="followup",
                    attempt_id=None, created_at=None, trunks=None, caller_id=None, recorded=False):
        self.dialled = getattr(self, "dialled", [])
        self.dialled.append({"attempt_id": attempt_id, "trunks": [t.endpoint for t in trunks or []],
                             "caller_id": caller_id})
        row = {"id": attempt_id, "number": number, "locale": locale, "borrower_id": borrower_id,
               "contact_id": contact_id, "campaign_id": campaign_id, "flow": flow, "state": "dialing"}
        if created_at:
            row["created_at"] = created_at
        if recorded:                      # written (queued) by the controller's claim: now "originated"
            await self.db.call(attempts_db.update, attempt_id, {"state": "dialing"})
        else:
            await self.db.call(attempts_db.create, row)
        self.placed.append((attempt_id, number))
        self.alive.add(attempt_id)
        self._done[attempt_id] = asyncio.Event()
        asyncio.get_running_loop().call_later(self.duration_s, lambda: asyncio.ensure_future(self._end(attempt_id)))
        return attempt_id

    async def _end(self, attempt_id):
        if attempt_id not in self.alive:
            return
        row = await self.db.call(attempts_db.get, attempt_id)
        result = dict(self.outcome_for(row["number"]))
        changes = {"state": "ended", "ended_at": iso(self.clock.now()) if self.clock else row["created_at"],
                   **{k: v for k, v in result.items() if k != "dialog"}}
        if changes.get("outcome") == "answered":
            changes.setdefault("answered_at", row["created_at"])
        await self.db.call(attempts_db.update, attempt_id, changes)
        if result.get("dialog"):
            await self.db.call(lambda d: store_of(d).insert("dialogs", {"attempt_id": attempt_id,
                                                                        "started_at": row["created_at"],
                                                                        "result": result["dialog"]}))
        self.alive.discard(attempt_id)
        self._done[attempt_id].set()

    def adopt(self, attempt_id, *, state):
        self.alive.add(attempt_id)
        self._done.setdefault(attempt_id, asyncio.Event())
        asyncio.get_running_loop().call_later(self.duration_s, lambda: asyncio.ensure_future(self._end(attempt_id)))

    def pending_ids(self):
        return sorted(a for a, e in self._done.items() if not e.is_set())

    def view(self, attempt_id):
        return None

    def release(self, attempt_id):
        event = self._done.get(attempt_id)
        if event is None or event.is_set():
            return None
        self.alive.discard(attempt_id)
        event.set()
        return None

    async def wait(self, attempt_id, timeout=None):
        event = self._done.get(attempt_id)
        if event is not None:
            await asyncio.wait_for(event.wait(), timeout)
        return await self.db.call(attempts_db.get, attempt_id)
