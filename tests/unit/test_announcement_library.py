"""Carrier announcements learned from calls: landmark fingerprints under telephone degradations,
clustering of unrecognized captures, labels, and what a label does to the attempt.

No test compares a file with itself: the library learns from one capture of a "carrier recording"
(an espeak-ng voice variant the product never uses, through mu-law with ring-back and a repeat) and
is probed with other captures of it, each degraded on its own (tests/unit/carrier_audio.py)."""
from __future__ import annotations

import datetime as dt
import types

import numpy as np
import pytest

from tests.unit.carrier_audio import line, music, recording, ringback, silence
from ivr.db import migrate
from ivr.db.connect import connect
from ivr.db.store import store_of
from ivr.dialer import announcement_library as lib
from ivr.dialer import dispositions, landmarks
from ivr.dialer.early_media import early_media_file
from ivr.web import retention

TEXTS = {
    "empty_number": "您拨打的号码是空号，请查证后再拨。",
    "powered_off": "您拨打的电话已关机。",
    "suspended": "您拨打的电话已停机。",
    "unreachable": "您拨打的电话暂时无法接通，请稍后再拨。",
    "busy": "您拨打的电话正在通话中，请稍后再拨。",
}


def first_capture(reason: str) -> np.ndarray:
    """How the library first hears it: ring-back, the announcement twice, mu-law, half gain."""
    rec = recording(TEXTS[reason])
    return line(ringback(2.0), silence(0.3), rec, silence(1.0), rec, gain=0.5, law="ulaw", seed=1)


@pytest.fixture(scope="module")
def library():
    refs = [(i, reason, landmarks.reference_of(first_capture(reason))) for i, reason in enumerate(TEXTS)]
    return lib.Library([lib.Learned(i, reason, fp) for i, reason, fp in refs])


CONDITIONS = {
    "a-law, double gain": lambda r: line(silence(0.13), r, gain=2.0, law="alaw", seed=2),
    "mu-law, -14 dB, line noise, repeated": lambda r: line(r, silence(0.5), r, gain=0.2, noise=30, seed=3),
    "late start (first 0.6 s missed)": lambda r: line(r[int(0.6 * 8000):], silence(1.0), law="alaw", seed=4),
    "Chinese ring-back first": lambda r: line(ringback(5.5), silence(0.2), r, gain=0.7, seed=5),
    "North American ring-back first": lambda r: line(ringback(6.0, (440, 480), 2, 4), r, law="alaw", seed=7),
    "5 % packets lost": lambda r: line(silence(0.05), r, law="alaw", loss=0.05, seed=6),
}


@pytest.mark.parametrize("condition", list(CONDITIONS))
@pytest.mark.parametrize("reason", list(TEXTS))
def test_learned_recording_is_recognized_through_the_line(library, reason, condition):
    probe = CONDITIONS[condition](recording(TEXTS[reason]))
    found = library.match(probe)
    assert found is not None and found.reason == reason, (found, condition)


def test_prefix_sharing_announcements_are_told_apart(library):
    """关机 and 停机 differ in one syllable of nine: the shared blocks alone never make a match."""
    probe = landmarks.fingerprint(line(recording(TEXTS["suspended"]), law="alaw", seed=9))
    by_reason = {x.label: landmarks.compare(x.fingerprint, probe) for x in library.learned}
    assert by_reason["suspended"].matched
    assert not by_reason["powered_off"].matched and by_reason["powered_off"].coverage < landmarks.MATCH_COVERAGE


@pytest.mark.parametrize("name, audio", [
    ("Chinese ring-back", lambda: ringback(12.0)),
    ("North American ring-back", lambda: ringback(12.0, (440, 480), 2, 4)),
    ("busy tone", lambda: ringback(6.0, (480, 620), 0.5, 0.5)),
    ("music (chords and melody)", lambda: music(10.0)),
    ("other music", lambda: music(10.0, seed=5)),
    ("speech: a greeting", lambda: recording("您好，这里是客服中心，请问有什么可以帮您？")),
    ("speech: shares the prefix", lambda: recording("您拨打的电话已经欠费，请及时充值。")),
    ("speech: a borrower", lambda: recording("喂，你好，哪位啊？我现在不方便，晚点再说吧。")),
])
@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_tones_music_and_speech_never_match(library, name, audio, law):
    assert library.match(line(silence(0.2), audio(), law=law)) is None


def test_call_progress_tones_leave_no_fingerprint():
    for tone in (ringback(10.0), ringback(10.0, (440, 480), 2, 4), ringback(5.0, (480, 620), 0.5, 0.5)):
        assert len(landmarks.fingerprint(line(tone, law="alaw")).hashes) == 0


def test_another_carriers_recording_of_the_same_words_is_another_recording(library):
    """A fingerprint identifies a recording, not words: carrier B's 关机 gets its own cluster."""
    assert library.match(line(recording(TEXTS["powered_off"], "carrier-b"), law="alaw")) is None


def test_reference_is_one_play_without_the_ringback():
    rec = recording(TEXTS["powered_off"])
    ref = landmarks.reference_of(first_capture("powered_off"))
    one_play = len(rec) / 8000 + 1.0                      # the recording and the pause before the repeat
    assert abs(ref.seconds - one_play) < 0.3, ref.seconds
    again = landmarks.Fingerprint.from_bytes(ref.to_bytes())
    assert np.array_equal(again.hashes, ref.hashes) and again.n_frames == ref.n_frames


# ---- clustering and labels over a database (both engines) --------------------------------------------
@pytest.fixture
def stack(tmp_path, engine_url, any_db):
    """(settings, db) on each engine: `settings.database` is what `current()` is given — the SQLite
    path as the dialog server passes it today, or the PostgreSQL URL."""
    path = migrate.sqlite_path(engine_url)
    settings = types.SimpleNamespace(recordings_dir=tmp_path / "rec", database=path or engine_url)
    settings.recordings_dir.mkdir()
    return settings, any_db


@pytest.fixture
def sqlite_stack(tmp_path):
    settings = types.SimpleNamespace(recordings_dir=tmp_path / "rec", database=tmp_path / "huifang.db")
    settings.recordings_dir.mkdir()
    return settings, connect(settings.database)


def failed_call(settings, db, aid: str, audio: np.ndarray | None, *, created="2026-12-01T02:00:00.000+00:00",
                announcement=None, outcome="unreachable"):
    store_of(db).insert("attempts", {"id": aid, "number": "13600000000", "locale": "zh-CN", "state": "ended",
                                     "outcome": outcome, "created_at": created, "announcement": announcement})
    if audio is not None:
        early_media_file(settings, aid).write_bytes(np.clip(audio, -32768, 32767).astype("<i2").tobytes())


def test_unrecognized_captures_cluster_by_recording_and_a_label_teaches_the_library(stack):
    settings, db = stack
    off, susp = recording(TEXTS["powered_off"]), recording(TEXTS["suspended"])
    failed_call(settings, db, "off-1", line(ringback(3.0), off, silence(1.0), off, gain=0.4, seed=1))
    failed_call(settings, db, "off-2", line(off, law="alaw", gain=1.5, seed=2))
    failed_call(settings, db, "off-3", line(off[int(0.5 * 8000):], law="alaw", loss=0.03, seed=3))   # late start
    failed_call(settings, db, "susp-1", line(susp, silence(0.8), susp, seed=4))
    failed_call(settings, db, "susp-2", line(ringback(5.2), susp, law="alaw", gain=0.3, seed=5))
    failed_call(settings, db, "ring-only", line(ringback(9.0), seed=6))
    failed_call(settings, db, "coloured-ringback", line(music(8.0), seed=7))
    failed_call(settings, db, "known", line(susp, seed=8), announcement="suspended")
    failed_call(settings, db, "no-early-media", None)
    stats = lib.cluster_pending(db, settings.recordings_dir)
    assert stats == {"captures": 8, "recognized": 1, "empty": 1, "joined": 3, "new_clusters": 3}
    member = {r["attempt_id"]: r["cluster_id"] for r in store_of(db).query("SELECT * FROM early_media")}
    assert member["off-1"] == member["off-2"] == member["off-3"]
    assert member["susp-1"] == member["susp-2"] != member["off-1"]
    assert member["coloured-ringback"] not in (member["off-1"], member["susp-1"])
    assert member["ring-only"] is None and member["known"] is None
    assert lib.cluster_pending(db, settings.recordings_dir)["captures"] == 0          # each capture is looked at once

    probe = line(silence(0.4), off, law="alaw", gain=0.8, loss=0.02, seed=11)
    assert lib.current(settings.database).match(probe) is None         # nothing labelled yet
    lib.label(db, member["off-1"], "powered_off", "supervisor")
    lib.label(db, member["coloured-ringback"], lib.NOT_ANNOUNCEMENT, "supervisor")
    found = lib.current(settings.database).match(probe)
    assert found is not None and (found.cluster_id, found.reason) == (member["off-1"], "powered_off")
    assert lib.current(db).match(probe).cluster_id == member["off-1"]     # an open handle serves too
    again = lib.current(settings.database).match(line(music(8.0), law="alaw", seed=12))
    assert again is None or again.reason is None                       # never an announcement
    assert lib.current(settings.database).match(line(susp, seed=13)) is None   # unlabelled cluster
    with pytest.raises(ValueError, match="unknown label"):
        lib.label(db, member["susp-1"], "gone", "supervisor")
    with pytest.raises(LookupError):
        lib.label(db, 999, "busy", "supervisor")


def test_import_a_recording_as_a_labelled_reference(stack, tmp_path):
    settings, db = stack
    wav = tmp_path / "carrier-busy.sln"
    wav.write_bytes(recording(TEXTS["busy"]).astype("<i2").tobytes())
    cluster_id = lib.import_recording(db, wav, "busy", "cli")
    found = lib.current(settings.database).match(line(ringback(2.0), recording(TEXTS["busy"]), law="alaw", seed=3))
    assert found is not None and (found.cluster_id, found.reason) == (cluster_id, "busy")
    silent = tmp_path / "silence.sln"
    silent.write_bytes(bytes(16000))
    with pytest.raises(ValueError, match="too little sound"):
        lib.import_recording(db, silent, "busy", "cli")


def test_retention_purges_early_media_with_the_recordings(sqlite_stack):
    """SQLite only: retention.purge (ivr/web) is not on the Store yet."""
    settings, db = sqlite_stack
    failed_call(settings, db, "old", line(recording(TEXTS["busy"])), created="2026-01-01T00:00:00.000+00:00")
    failed_call(settings, db, "new", line(recording(TEXTS["busy"])), created="2026-12-01T00:00:00.000+00:00")
    now = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)
    removed = retention.purge(db, settings.recordings_dir, 180, now=now)
    assert [r["attempt_id"] for r in removed] == ["old"]
    assert not early_media_file(settings, "old").exists() and early_media_file(settings, "new").exists()
    logged = [r["path"] for r in db.query("SELECT path FROM recording_purges WHERE attempt_id = 'old'")]
    assert logged == [str(early_media_file(settings, "old").resolve())]


@pytest.mark.parametrize("label, disposition, mark_invalid", [
    ("empty_number", "carrier-announcement", True), ("suspended", "carrier-announcement", True),
    ("powered_off", "unreachable", False), ("unreachable", "unreachable", False), ("busy", "busy", False),
])
def test_a_label_decides_disposition_and_retry_rule(label, disposition, mark_invalid):
    failed = {"outcome": "unreachable", "cause": 19, "sip_code": 480, "announcement": label}
    assert dispositions.classify(failed, None, early_media=True) == disposition
    # answered (200) and then the announcement: the dialog server reports "announcement"
    answered = {"outcome": "answered", "cause": 16, "announcement": label}
    assert dispositions.classify(answered, "announcement") == disposition
    assert (dispositions.DEFAULT_RULES[disposition].mark_contact == "invalid") == mark_invalid
