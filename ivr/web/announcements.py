"""Carrier announcements: the early media nothing recognized, grouped by recording, for a supervisor
to listen to and label once (空号/关机/停机/无法接通/忙, or not an announcement).

Opening the page first files the captures that arrived since the last visit into clusters
(announcement_library.cluster_pending, bounded per visit). A label takes effect on the next call:
the dialog server reloads the library when labels change. Each label shows the disposition it gives
an attempt and that disposition's default retry rule (a campaign's retry policy may override it).
"""
from __future__ import annotations

import io
import wave

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, url_for

from ..dialer import announcement_library as library
from ..dialer.dispositions import DEFAULT_RULES
from ..dialer.early_media import early_media_in
from ..dialer.outcomes import ANNOUNCEMENT_DISPOSITIONS
from ..db.store import HasStore, Store, store_of
from . import audit, get_db, security
from .i18n import translate as t

bp = Blueprint("announcements", __name__)
CLUSTER_PER_VISIT = 100     # ~0.1 s each (20 s of early media); `ivr announcements cluster` for a backlog


def label_effects() -> list[dict]:
    """Each label with the disposition it gives and that disposition's default rule."""
    out = []
    for name in library.LABELS:
        disposition = ANNOUNCEMENT_DISPOSITIONS.get(name)
        rule = DEFAULT_RULES[disposition] if disposition else None
        out.append({"label": name, "disposition": disposition, "rule": rule})
    return out


def clusters(db: Store | HasStore) -> list[dict]:
    """The clusters as the page lists them: unlabelled first, then the biggest, then the newest."""
    return store_of(db).query("""
        SELECT id, label, seconds, locale, members, first_seen, last_seen, labelled_by, labelled_at, source
        FROM announcement_clusters
        ORDER BY CASE WHEN label IS NULL THEN 0 ELSE 1 END, members DESC, id DESC LIMIT 500""")


def capture_candidates(db: Store | HasStore, cluster: dict) -> list[str]:
    """The attempts whose early media may still hold a cluster's recording: the sample first."""
    return [a for a in [cluster["sample_attempt"]] + [r["attempt_id"] for r in store_of(db).query(
        "SELECT attempt_id FROM early_media WHERE cluster_id = :id ORDER BY seen_at DESC, attempt_id LIMIT 20",
        {"id": cluster["id"]})] if a]


@bp.get("/announcements")
@security.require("announcements")
def index():
    db = get_db()
    stats = library.cluster_pending(db, current_app.config["RECORDINGS_DIR"], limit=CLUSTER_PER_VISIT)
    return render_template("announcements.html", rows=clusters(db), effects=label_effects(), stats=stats,
                           recognized=store_of(db).scalar("SELECT count(*) FROM early_media WHERE recognized IS NOT NULL"))


@bp.post("/announcements/<int:cluster_id>/label")
@security.require("announcements")
def set_label(cluster_id: int):
    db = get_db()
    value = request.form.get("label", "").strip() or None
    try:
        library.label(db, cluster_id, value, g.user["username"])
    except LookupError:
        abort(404)
    except ValueError:
        flash(t("ann.bad_label"), "error")
        return redirect(url_for("announcements.index"))
    audit.log(db, "label_announcement", "announcement_cluster", str(cluster_id), {"label": value})
    flash(t("ann.saved"), "ok")
    return redirect(url_for("announcements.index"))


@bp.get("/announcements/<int:cluster_id>/audio")
@security.require("announcements")
def audio(cluster_id: int):
    """A capture of the cluster's recording as WAV: the one it was built from, else any member whose
    early media retention has not removed yet."""
    db = get_db()
    cluster = store_of(db).get("announcement_clusters", cluster_id)
    if cluster is None:
        abort(404)
    for attempt_id in capture_candidates(db, cluster):
        path = early_media_in(current_app.config["RECORDINGS_DIR"], attempt_id)
        if path.is_file():
            buf = io.BytesIO()
            with wave.open(buf, "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(path.read_bytes())
            buf.seek(0)
            audit.log(db, "listen_early_media", "attempt", attempt_id, {"cluster": cluster_id})
            return send_file(buf, mimetype="audio/wav", max_age=0)
    abort(404)
