"""Recording retention: recordings older than the configured period are deleted from disk; every
removed file is logged in `recording_purges` (and the run in the audit log).

A call's early media (what the network played before it failed: carrier announcements, and whatever
a ring-back carried) is a recording too and goes with the same period. The announcement library
keeps only fingerprints (announcement_library.py), so a labelled recording stays recognized after
its captures are gone."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from ..dialer.early_media import early_media_in
from . import audit

SETTING = "recordings_retention_days"
MAX_DAYS = 36_500  # a century: longer is "keep forever", which a date cutoff cannot express


def retention_days(db: Store | HasStore, default: int) -> int:
    """The retention in force, within 1..MAX_DAYS whatever the row says (a value stored before the
    limit existed must not break the purge)."""
    row = store_of(db).get("web_settings", SETTING)
    try:
        days = int(row["value"]) if row else int(default)
    except (TypeError, ValueError):
        days = int(default)
    return min(max(days, 1), MAX_DAYS)


def set_retention_days(db: Store | HasStore, days: int, by: str) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"retention must be 1 to {MAX_DAYS} days")
    store_of(db).upsert("web_settings", {"key": SETTING, "value": str(days), "updated_by": by,
                                         "updated_at": now_iso()}, pk="key")


def purge(db: Store | HasStore, recordings_dir: str | Path, days: int, *, actor: str = "system", dry_run: bool = False,
          now: dt.datetime | None = None) -> list[dict]:
    """Delete recordings of calls older than `days`; only files inside recordings_dir. Returns what
    was (or, dry_run, would be) removed."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"retention must be 1 to {MAX_DAYS} days, not {days}")
    root = Path(recordings_dir).resolve()
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = (now - dt.timedelta(days=days)).isoformat(timespec="milliseconds")
    removed = []
    s = store_of(db)
    rows = s.query("""SELECT a.id, a.created_at, coalesce(r.path, a.recording_path) AS path, r.bytes
                      FROM attempts a LEFT JOIN recordings r ON r.attempt_id = a.id
                      WHERE a.created_at < :cutoff AND coalesce(r.path, a.recording_path) IS NOT NULL""",
                   {"cutoff": cutoff})
    candidates = [(r["id"], r["created_at"], r["path"]) for r in rows]
    for r in s.query("SELECT id, created_at FROM attempts WHERE created_at < :cutoff", {"cutoff": cutoff}):
        candidates.append((r["id"], r["created_at"], early_media_in(root, r["id"])))
    for attempt_id, created_at, raw_path in candidates:
        path = Path(raw_path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            continue
        size = path.stat().st_size
        item = {"attempt_id": attempt_id, "path": str(path), "bytes": size, "recorded_at": created_at}
        if not dry_run:
            path.unlink()
            s.insert("recording_purges", {**item, "purged_at": now_iso(), "purged_by": actor, "retention_days": days})
        removed.append(item)
    if not dry_run:
        audit.log(db, "purge_recordings", "recordings", None,
                  {"retention_days": days, "cutoff": cutoff, "removed": len(removed),
                   "bytes": sum(i["bytes"] for i in removed)}, actor=actor)
    return removed

