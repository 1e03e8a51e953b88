"""The lender's own library of carrier announcements, learned from their calls.

The shipped references (announcements.py) are espeak-ng renderings: they serve the simulator, not a
real carrier, whose recordings nobody can ship. So every failed call's early media is kept, the
captures that nothing recognized are grouped by landmark fingerprint (landmarks.py) into clusters —
one cluster per carrier recording — and a supervisor labels a cluster once in the web app
(空号/关机/停机/无法接通/忙, or "not an announcement"). The labelled clusters' fingerprints live in
the database (not in the repo, and not in the early-media files, which retention deletes), and the
dial wrapper's announcement route and the after-answer screen look them up first.

Writers: `cluster_pending` (the web app's announcements page and `ivr announcements cluster`) owns
both tables; `label` and `import_recording` set labels / add imported references. Every function
takes the handle its caller has (`open_database`'s: SQLite or PostgreSQL) and works on its Store;
`current` also opens the database itself from a settings object, a URL or an SQLite path.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Union

import numpy as np

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from . import landmarks
from .early_media import BYTES_PER_SECOND, early_media_in
from .outcomes import ANNOUNCEMENT_DISPOSITIONS

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

Handle = Union[Store, HasStore]
Label = TypeVar("Label", bound="str | None")   # a learned cluster's label, or None while a cluster is unlabelled

NOT_ANNOUNCEMENT = "not_announcement"
LABELS = (*ANNOUNCEMENT_DISPOSITIONS, NOT_ANNOUNCEMENT)
LABEL_NAMES_ZH = {"empty_number": "空号", "powered_off": "关机", "suspended": "停机", "unreachable": "无法接通",
                  "busy": "忙", NOT_ANNOUNCEMENT: "不是提示音"}
MIN_CONTENT_HASHES = 2 * landmarks.MIN_HITS   # less than this (ring-back only, silence): nothing to cluster


def check_label(label: str) -> str:
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; use one of: {', '.join(LABELS)}")
    return label


def read_capture(path: Path) -> np.ndarray:
    data = Path(path).read_bytes()
    return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.float32)


@dataclass
class Learned:
    cluster_id: int
    label: str
    fingerprint: landmarks.Fingerprint


@dataclass
class LibraryMatch:
    cluster_id: int
    label: str
    comparison: landmarks.Comparison

    @property
    def reason(self) -> str | None:
        """The announcement reason, None for a cluster labelled "not an announcement"."""
        return None if self.label == NOT_ANNOUNCEMENT else self.label


def best_match(references: Sequence[tuple[int, Label, landmarks.Fingerprint]], capture: landmarks.Fingerprint,
               capture_reference: landmarks.Fingerprint | None = None,
               ) -> tuple[int, Label, landmarks.Comparison] | None:
    """The reference that occurs most completely in the capture (or, for a capture that is itself a
    fragment, whose single play contains the capture's). None when none matches."""
    best: tuple[int, Label, landmarks.Comparison] | None = None
    for cluster_id, label, fp in references:
        c = landmarks.compare(fp, capture)
        if not c.matched and capture_reference is not None:
            c = landmarks.compare(capture_reference, fp)
        if c.matched and (best is None or (c.coverage, c.hits) > (best[2].coverage, best[2].hits)):
            best = (cluster_id, label, c)
    return best


class Library:
    """The labelled clusters, loaded once per change of labels."""

    def __init__(self, learned: list[Learned]) -> None:
        self.learned = learned

    @classmethod
    def load(cls, db: Handle) -> "Library":
        rows = store_of(db).query("SELECT id, label, fingerprint FROM announcement_clusters "
                                  "WHERE label IS NOT NULL ORDER BY id")
        return cls([Learned(r["id"], r["label"], _fingerprint(r)) for r in rows])

    def match(self, samples: np.ndarray) -> LibraryMatch | None:
        if not self.learned:
            return None
        capture = landmarks.fingerprint(samples)
        found = best_match([(x.cluster_id, x.label, x.fingerprint) for x in self.learned], capture)
        return LibraryMatch(*found) if found else None


def _fingerprint(row: dict[str, Any]) -> landmarks.Fingerprint:
    return landmarks.Fingerprint.from_bytes(bytes(row["fingerprint"]))   # bytes on SQLite, bytea on PostgreSQL


_cache: dict[str, tuple[tuple[object, ...], Library]] = {}
_cache_lock = threading.Lock()


def current(where: "Settings | str | Path | Handle") -> Library:
    """This process's copy of the library in the database `where` names (settings, a URL or an SQLite
    path: opened and closed here) or is (an open handle), reloaded when a label changes."""
    if isinstance(where, Store) or hasattr(where, "store"):
        return _current(store_of(where))
    from ..db.connect import open_database
    db = open_database(where, migrate=False)
    try:
        return _current(store_of(db))
    finally:
        store_of(db).close()


def _current(s: Store) -> Library:
    key = str(s.connection.engine.url)   # one entry per database, however it was named (password hidden)
    version = tuple(s.query("SELECT count(*) AS n, coalesce(max(labelled_at), '') AS at, coalesce(max(id), 0) AS id "
                            "FROM announcement_clusters WHERE label IS NOT NULL")[0].values())
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
    library = Library.load(s)
    with _cache_lock:
        _cache[key] = (version, library)
    log.info("announcement library: %d labelled recordings", len(library.learned))
    return library


# ---- clustering ------------------------------------------------------------------------------------
def pending_captures(db: Handle, recordings_dir: str | Path, limit: int) -> list[dict[str, Any]]:
    """Ended, unanswered attempts whose early media exists and has not been looked at yet."""
    rows = store_of(db).query("""SELECT a.id, a.locale, a.created_at, a.announcement FROM attempts a
                       LEFT JOIN early_media e ON e.attempt_id = a.id
                       WHERE e.attempt_id IS NULL AND a.state = 'ended' AND coalesce(a.outcome, '') != 'answered'
                       ORDER BY a.created_at, a.id""")
    out = []
    for r in rows:
        path = early_media_in(recordings_dir, r["id"])
        if path.is_file() and path.stat().st_size > 0:
            out.append({**r, "path": path})
            if len(out) >= limit:
                break
    return out


def cluster_pending(db: Handle, recordings_dir: str | Path, *, limit: int = 500) -> dict[str, int]:
    """Look at every new capture: note the recognized ones, put each unrecognized one into the cluster
    of the recording it contains, or start a new cluster. Returns counts."""
    s = store_of(db)
    clusters = [(r["id"], r["label"], _fingerprint(r))
                for r in s.query("SELECT id, label, fingerprint FROM announcement_clusters ORDER BY id")]
    stats = {"captures": 0, "recognized": 0, "empty": 0, "joined": 0, "new_clusters": 0}
    for cap in pending_captures(db, recordings_dir, limit):
        stats["captures"] += 1
        samples = read_capture(cap["path"])
        row = {"attempt_id": cap["id"], "seconds": round(len(samples) / (BYTES_PER_SECOND / 2), 2),
               "recognized": cap["announcement"], "seen_at": now_iso(), "cluster_id": None, "coverage": None}
        fp = landmarks.fingerprint(samples)
        if cap["announcement"]:
            stats["recognized"] += 1
        elif len(fp.hashes) < MIN_CONTENT_HASHES:
            stats["empty"] += 1                      # ring-back, silence: nothing was said
        else:
            reference = landmarks.one_play(fp)
            found = best_match(clusters, fp, reference)
            with s.transaction():
                if found:
                    cluster_id, _, comparison = found
                    s.execute("UPDATE announcement_clusters SET members = members + 1, last_seen = :at WHERE id = :id",
                              {"at": cap["created_at"], "id": cluster_id})
                    row.update(cluster_id=cluster_id, coverage=round(comparison.coverage, 3))
                    stats["joined"] += 1
                else:
                    cluster_id = s.insert("announcement_clusters", {
                        "fingerprint": reference.to_bytes(), "seconds": round(reference.seconds, 2),
                        "locale": cap["locale"], "sample_attempt": cap["id"], "members": 1,
                        "first_seen": cap["created_at"], "last_seen": cap["created_at"]})
                    clusters.append((cluster_id, None, reference))
                    row.update(cluster_id=cluster_id, coverage=1.0)
                    stats["new_clusters"] += 1
                s.upsert("early_media", row)
            continue
        s.upsert("early_media", row)
    if stats["captures"]:
        log.info("early media clustered: %s", stats)
    return stats


def label(db: Handle, cluster_id: int, value: str | None, by: str) -> None:
    """Label a cluster (None: take the label away). From then on the recording is recognized."""
    if value is not None:
        check_label(value)
    changed = store_of(db).execute(
        "UPDATE announcement_clusters SET label = :label, labelled_by = :by, labelled_at = :at WHERE id = :id",
        {"label": value, "by": by if value else None, "at": now_iso() if value else None, "id": cluster_id})
    if changed == 0:
        raise LookupError(f"no announcement cluster {cluster_id}")


def import_recording(db: Handle, path: Path, value: str, by: str, locale: str | None = None) -> int:
    """Add a recording of a carrier's announcement (8 kHz mono 16-bit WAV, or raw .sln) as a labelled
    cluster. Returns its id."""
    from .announcements import read_audio
    check_label(value)
    if Path(path).suffix.lower() not in (".wav", ".sln", ".raw"):
        raise ValueError(f"{path}: give an 8 kHz mono 16-bit .wav or a raw 8 kHz signed-linear .sln "
                         f"(convert with: sox IN -r 8000 -c 1 -b 16 OUT.wav)")
    samples = read_audio(path)
    reference = landmarks.reference_of(samples)
    if len(reference.hashes) < MIN_CONTENT_HASHES:
        raise ValueError(f"{path}: too little sound to learn from ({len(samples) / 8000:.1f} s)")
    now = now_iso()
    cluster_id = store_of(db).insert("announcement_clusters", {
        "fingerprint": reference.to_bytes(), "seconds": round(reference.seconds, 2), "locale": locale,
        "sample_attempt": None, "members": 0, "first_seen": now, "last_seen": now, "label": value,
        "labelled_by": by, "labelled_at": now, "source": "import"})
    return int(cluster_id)
