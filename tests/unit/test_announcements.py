"""Carrier announcements: the fingerprint, the transcript keywords, and how a recognized
announcement reaches the attempt's outcome and disposition."""
from __future__ import annotations

import numpy as np
import pytest

from ivr import tts
from ivr.dialer import announcements as A
from ivr.dialer import dispositions
from ivr.dialer.attempt_state import AttemptView, reduce
from ivr.dialer.outcomes import classify

ZH = {reason: texts[0] for reason, texts in A.STANDARD_TEXTS["zh-CN"].items()}


def ulaw_roundtrip(x: np.ndarray) -> np.ndarray:
    """G.711 mu-law encode + decode (what the trunk's RTP does to the audio)."""
    x = np.clip(x, -32635, 32635) / 32768.0
    mu = 255.0
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return (np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu * 32768.0).astype(np.float32)


@pytest.fixture(scope="module")
def fp(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tts")
    return A.Fingerprinter.build(cache, locales=("zh-CN",)), cache


def line(samples: np.ndarray, gain: float, noise: float, seed: int = 0) -> np.ndarray:
    """What a carrier plays: ring tone, silence, the announcement twice, through G.711 with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(8000) / 8000
    ring = (np.sin(2 * np.pi * 450 * t) * 3000).astype(np.float32)
    y = np.concatenate([np.zeros(2000), ring, np.zeros(4000), samples * gain, np.zeros(3000), samples * gain])
    y = y + rng.normal(0, noise, len(y)) if noise else y
    return ulaw_roundtrip(y.astype(np.float32))


@pytest.mark.parametrize("reason", list(ZH))
@pytest.mark.parametrize("gain, noise", [(1.0, 0), (0.3, 60), (0.5, 120)])
def test_each_standard_announcement_is_recognized_on_a_noisy_line(fp, reason, gain, noise):
    """The shipped references are the simulator's own synthesis: they exist so that the simulated
    carrier is recognized, and only that is tested here. Real carriers' recordings are learned
    (tests/unit/test_announcement_library.py)."""
    fingerprinter, cache = fp
    samples = A.read_audio(tts.cached(ZH[reason], "zh-CN", cache / "announcements"))
    match = fingerprinter.match(line(samples, gain, noise), "zh-CN")
    assert match.reason == reason, match
    assert match.method == "fingerprint" and match.score <= A.MAX_SCORE and match.margin >= A.MIN_MARGIN


@pytest.mark.parametrize("text", ["您拨打的电话正在通话中", "您拨打的用户正忙，请稍后再拨", "您好，这里是客服中心，请稍候",
                                  "您拨打的号码已过期"])
def test_other_speech_is_not_an_announcement(fp, text):
    fingerprinter, cache = fp
    samples = A.read_audio(tts.cached(text, "zh-CN", cache / "other"))
    match = fingerprinter.match(line(samples, 0.7, 30), "zh-CN")
    assert match.reason is None, match


def test_ring_tone_and_silence_alone_are_nothing(fp):
    fingerprinter, _ = fp
    t = np.arange(8000 * 4) / 8000
    ring = ((np.sin(2 * np.pi * 450 * t) * 3000) * ((t % 1.0) < 0.5)).astype(np.float32)
    assert fingerprinter.match(ring, "zh-CN").reason is None
    assert fingerprinter.match(np.zeros(8000 * 3, dtype=np.float32), "zh-CN").method == "none"


def test_operator_references_are_loaded_by_file_name(tmp_path):
    """A carrier's own recording (not the product's voice) as a reference file; the probe is another,
    degraded capture of it (a-law, ring-back, lost packets), never the file itself."""
    import wave

    from tests.unit.carrier_audio import line as carrier_line, recording, ringback
    ref_dir = tmp_path / "refs" / "zh-CN"
    ref_dir.mkdir(parents=True)
    carrier = recording("对不起，您拨打的号码不存在", "carrier-b")
    for name in ("empty_number-carrier-x.wav", "misnamed.wav"):
        with wave.open(str(ref_dir / name), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
            w.writeframes(carrier.astype("<i2").tobytes())
    fingerprinter = A.Fingerprinter.build(tmp_path / "tts", tmp_path / "refs", locales=("zh-CN",))
    assert [r.reason for r in fingerprinter.references].count("empty_number") == 2
    probe = carrier_line(ringback(2.0), carrier, gain=0.6, law="alaw", noise=30, loss=0.03, seed=4)
    match = fingerprinter.match(probe, "zh-CN")
    assert match.reason == "empty_number"


@pytest.mark.parametrize("text, locale, reason", [
    ("您 拨打 的 号码 是 空号", "zh-CN", "empty_number"),
    ("您拨打的电话已关机", "zh-CN", "powered_off"),
    ("您拨打的电话已停机", "zh-CN", "suspended"),
    ("您拨打的电话暂时无法接通 请稍后再拨", "zh-CN", "unreachable"),
    ("对不起 您拨打的用户不在服务区", "zh-CN", "unreachable"),
    ("您拨打的电话正在通话中", "zh-CN", None),
    ("지금 거신 번호는 없는 번호 입니다", "ko-KR", "empty_number"),
    ("전원이 꺼져 있어", "ko-KR", "powered_off"),
    ("", "zh-CN", None),
])
def test_reason_from_transcript(text, locale, reason):
    assert A.reason_from_text(text, locale) == reason


def test_subsequence_dtw_finds_the_reference_inside_a_longer_capture():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(40, 12)).astype(np.float32)
    cap = np.concatenate([rng.normal(size=(100, 12)), np.repeat(ref, 2, axis=0)[::2] + 0.05,
                          rng.normal(size=(60, 12))]).astype(np.float32)
    assert A.subsequence_dtw(ref, cap) < 0.1
    assert A.subsequence_dtw(ref, rng.normal(size=(200, 12)).astype(np.float32)) > 0.8
    assert A.subsequence_dtw(ref, cap[:10]) == float("inf")


# ---- from the HuifangDial event to the attempt ---------------------------------------------------
AID = "0b6a3c1e-0000-4000-8000-000000000001"


def failed_view(announcement: str, tech: str, dial_status: str, cause: str, progress: str = "2012") -> AttemptView:
    v = AttemptView(AID)
    v = reduce(v, {"Event": "UserEvent", "UserEvent": "HuifangDial", "Attempt": AID, "DialStatus": dial_status,
                   "Cause": cause, "TechCause": tech, "ProgressMs": progress, "Announcement": announcement,
                   "AnnouncementVia": "fingerprint"})
    return reduce(v, {"Event": "Hangup", "Uniqueid": AID, "Cause": cause})


@pytest.mark.parametrize("announcement, tech, status, cause, outcome", [
    ("empty_number", "SIP 404 Not Found", "CHANUNAVAIL", "1", "invalid-number"),
    ("suspended", "SIP 404 Not Found", "CHANUNAVAIL", "1", "invalid-number"),
    ("powered_off", "SIP 480 Temporarily Unavailable", "NOANSWER", "19", "unreachable"),
    ("unreachable", "SIP 503 Service Unavailable", "CONGESTION", "34", "unreachable"),
    ("powered_off", "SIP 404 Not Found", "CHANUNAVAIL", "1", "unreachable"),  # the announcement wins
])
def test_announcement_decides_the_outcome(announcement, tech, status, cause, outcome):
    view = failed_view(announcement, tech, status, cause)
    assert view.finished and view.early_media and view.announcement == announcement
    got, q850 = classify(view)
    assert got == outcome and q850 == int(cause)


def test_without_announcement_nothing_changes():
    view = failed_view("", "SIP 404 Not Found", "CHANUNAVAIL", "1", progress="")
    assert view.announcement is None and not view.early_media
    assert classify(view) == ("invalid-number", 1)


@pytest.mark.parametrize("announcement, outcome, disposition", [
    ("empty_number", "invalid-number", "carrier-announcement"),
    ("suspended", "invalid-number", "carrier-announcement"),
    ("powered_off", "unreachable", "unreachable"),
    ("unreachable", "unreachable", "unreachable"),
    (None, "invalid-number", "invalid-number"),
])
def test_disposition_of_an_announcement(announcement, outcome, disposition):
    attempt = {"outcome": outcome, "cause": 1, "sip_code": 404, "announcement": announcement}
    assert dispositions.classify(attempt, None, early_media=announcement is not None) == disposition
    # a switched-off phone keeps its number: the rule must not mark the contact invalid
    rule = dispositions.DEFAULT_RULES[disposition]
    assert (rule.mark_contact == "invalid") == (announcement in A.INVALID_REASONS or announcement is None)
