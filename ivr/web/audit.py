"""The append-only audit log: every view of unmasked personal data and every change.

The table refuses UPDATE and DELETE by trigger (0004_web.sql); this module only inserts.
"""
from __future__ import annotations

import json

from flask import g, has_request_context, request

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of


def log(db: Store | HasStore, action: str, object_type: str | None = None, object_id=None, detail: dict | None = None, *,
        actor: str | None = None, role: str | None = None) -> None:
    user = g.get("user") if has_request_context() else None
    if actor is None:
        actor = user["username"] if user else (g.get("api_actor") if has_request_context() else None) or "system"
    if role is None and user:
        role = user["role"]
    store_of(db).insert("audit_log", {
        "at": now_iso(), "actor": actor, "role": role,
        "ip": request.remote_addr if has_request_context() else None,
        "action": action, "object_type": object_type, "object_id": None if object_id is None else str(object_id),
        "detail": json.dumps(detail or {}, ensure_ascii=False, default=str)})
