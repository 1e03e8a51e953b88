"""Carrier announcements: what the network said in early media before it failed the call.

In China a dialled number that is unallocated, switched off, suspended or out of reach is rarely
told apart by its SIP/Q.850 cause: the network answers 183 Session Progress, plays an announcement
(您拨打的号码是空号 / 您拨打的电话已关机 / 您拨打的电话已停机 / 您拨打的电话暂时无法接通) as early
media, then fails the call with a generic 404/480/503. The dial wrapper records that early media
(MixMonitor on the trunk channel, read direction only, raw 8 kHz signed linear) and this module
names it.

Two recognizers, the first confident answer wins:

* **fingerprint** (every locale, no model): the captured audio is compared with reference
  recordings of the standard announcements by subsequence DTW over mean-normalised MFCCs. An
  announcement is a fixed recording, so the match is near-exact for the right one and clearly
  worse for the others, whatever leading ring tone, gain or G.711 coding. The references are
  espeak-ng renderings of the standard texts (built once, cached beside the TTS cache) plus any
  operator-supplied recordings of their carriers' real announcements:
  `<announcements_dir>/<locale>/<reason>[-anything].wav` (8 kHz mono 16-bit).
* **speech** (when a Vosk model exists for the locale): the transcript is matched against
  keywords per reason (`reason_from_text`). There is no Mandarin model in any package registry,
  so for zh-CN this runs only where the operator installed one.

Pure functions (numpy only): the dialog server calls them from its `announcement` AGI route
(ivr/dialog/announce.py) right after the failed Dial, and the dialer can call them itself.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import wave
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .outcomes import ANNOUNCEMENT_OUTCOMES

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
# the precise reasons (attempts.announcement) and the outcome each one stands for
REASONS = ("empty_number", "powered_off", "suspended", "unreachable", "busy")
REASON_OUTCOMES = ANNOUNCEMENT_OUTCOMES   # empty_number/suspended: invalid-number; others: unreachable
# reasons after which the number itself is not worth dialling again (dispositions: carrier-announcement)
INVALID_REASONS = ("empty_number", "suspended")

# the standard announcement texts per locale, the references the fingerprint starts from
STANDARD_TEXTS: dict[str, dict[str, list[str]]] = {
    "zh-CN": {
        "empty_number": ["您拨打的号码是空号"],
        "powered_off": ["您拨打的电话已关机"],
        "suspended": ["您拨打的电话已停机"],
        "unreachable": ["您拨打的电话暂时无法接通"],
    },
    "ko-KR": {
        "empty_number": ["지금 거신 번호는 없는 번호입니다"],
        "powered_off": ["고객님의 전화기가 꺼져 있습니다"],
        "suspended": ["지금 거신 번호는 사용이 정지된 번호입니다"],
        "unreachable": ["고객님이 전화를 받을 수 없습니다"],
    },
}

# keywords in a transcript, checked in this order (停机 before 关机: both end in 机)
KEYWORDS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "zh-CN": [("empty_number", ("空号", "不存在", "号码有误")),
              ("suspended", ("停机", "已暂停服务", "暂停服务")),
              ("powered_off", ("关机",)),
              ("unreachable", ("无法接通", "不在服务区", "暂时无法", "无人接听"))],
    "ko-KR": [("empty_number", ("없는 번호", "없는번호", "결번")),
              ("suspended", ("정지",)),
              ("powered_off", ("꺼져", "전원")),
              ("unreachable", ("받을 수 없", "연결이 되지", "연결할 수 없"))],
}


def reason_from_text(text: str | None, locale: str) -> str | None:
    """The reason a transcript of an announcement names, or None."""
    if not text:
        return None
    squeezed = re.sub(r"\s+", "", text)
    for reason, words in KEYWORDS.get(locale, []):
        for w in words:
            if w in text or re.sub(r"\s+", "", w) in squeezed:
                return reason
    return None


# ---- audio in ------------------------------------------------------------------------------------
def read_audio(path: str | os.PathLike[str]) -> np.ndarray:
    """8 kHz mono s16 samples as float32 from a .sln/.raw (headerless) or .wav file."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        with wave.open(str(path), "rb") as w:
            if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise ValueError(f"{path}: expected 8 kHz mono 16-bit WAV")
            data = w.readframes(w.getnframes())
    else:
        data = path.read_bytes()
    data = data[: len(data) - len(data) % 2]
    return np.frombuffer(data, dtype="<i2").astype(np.float32)


def wait_complete(path: str | os.PathLike[str], *, settle_s: float = 0.15, cap_s: float = 2.0) -> bool:
    """MixMonitor closes its file on its own thread just after the trunk channel is gone: wait until
    the file stops growing. False if it never appeared."""
    path = Path(path)
    deadline = time.monotonic() + cap_s
    last = -1
    stable_since = None
    while time.monotonic() < deadline:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = -1
        if size == last and size >= 0:
            if stable_since is None:
                stable_since = time.monotonic()
            elif time.monotonic() - stable_since >= settle_s:
                return True
        else:
            stable_since = None
        last = size
        time.sleep(0.03)
    return last >= 0


# ---- features ------------------------------------------------------------------------------------
FRAME, HOP, NFFT, NMELS, NCEPS = 200, 80, 256, 26, 13   # 25 ms windows every 10 ms
LOG_FLOOR = 6.0


def _mel_filters() -> np.ndarray:
    def mel(f: float) -> float:
        return float(2595.0 * np.log10(1.0 + f / 700.0))

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)
    points = hz(np.linspace(mel(100.0), mel(3800.0), NMELS + 2))
    bins = np.floor((NFFT + 1) * points / SAMPLE_RATE).astype(int)
    fb = np.zeros((NMELS, NFFT // 2 + 1))
    for m in range(1, NMELS + 1):
        lo, mid, hi = bins[m - 1], bins[m], bins[m + 1]
        for k in range(lo, mid):
            fb[m - 1, k] = (k - lo) / max(1, mid - lo)
        for k in range(mid, hi):
            fb[m - 1, k] = (hi - k) / max(1, hi - mid)
    return fb


_FB = _mel_filters()
_DCT = np.cos(np.pi / NMELS * (np.arange(NMELS)[None, :] + 0.5) * np.arange(NCEPS)[:, None])
_WINDOW = np.hamming(FRAME)


def features(samples: np.ndarray) -> np.ndarray:
    """Voiced frames' MFCCs (c1..c12), mean- and variance-normalised: shape (frames, 12).

    Silence and ring tone before and after the speech are trimmed (energy relative to the loudest
    part), so the normalisation sees the announcement only."""
    if len(samples) < FRAME * 4:
        return np.zeros((0, NCEPS - 1), dtype=np.float32)
    x = np.append(samples[0], samples[1:] - 0.97 * samples[:-1])
    n = 1 + (len(x) - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    frames = x[idx] * _WINDOW
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    energy = 10 * np.log10(power.sum(axis=1) + 1e-9)
    logmel = np.log(power @ _FB.T + 1e-6)
    # a 26 dB floor under the loudest band: line noise and coding noise in the quiet bands would
    # otherwise dominate the normalised cepstra (measured: the floor keeps a noisy, quiet capture's
    # distance to its own reference at a third of the distance to the others)
    logmel = np.maximum(logmel, logmel.max() - LOG_FLOOR)
    ceps = logmel @ _DCT.T
    voiced = energy > max(energy.max() - 35.0, 20.0)
    if voiced.sum() < 10:
        return np.zeros((0, NCEPS - 1), dtype=np.float32)
    first, last = np.argmax(voiced), len(voiced) - np.argmax(voiced[::-1])
    c = ceps[first:last, 1:]
    v = voiced[first:last]
    mu = c[v].mean(axis=0)
    sd = c[v].std(axis=0) + 1e-6
    normalised: np.ndarray = ((c - mu) / sd).astype(np.float32)
    return normalised


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of every frame pair, scaled by the dimension: shape (len(a), len(b))."""
    sq = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
    scaled: np.ndarray = (np.sqrt(np.maximum(sq, 0.0)) / np.sqrt(a.shape[1])).astype(np.float32)
    return scaled


def distinctiveness(ref: np.ndarray, others: list[np.ndarray], floor: float = 0.15) -> np.ndarray:
    """Per frame of `ref`: how unlike the nearby frames of every other reason's reference it is.

    The standard texts share 您拨打的(电话): those frames say nothing about the reason, while
    关机 / 停机 differ in one syllable. A frame's weight is its distance to the closest frame in a
    window around the same relative position of each other reference (min over references), with
    a floor so the whole announcement still counts."""
    n = len(ref)
    if not others or n == 0:
        return np.ones(n, dtype=np.float32)
    d = np.full(n, np.inf, dtype=np.float32)
    for other in others:
        m = len(other)
        if m == 0:
            continue
        cost = distances(ref, other)
        half = int(0.2 * max(n, m)) + 10
        centre = (np.arange(n) * m / n).astype(int)
        lo, hi = np.clip(centre - half, 0, m), np.clip(centre + half + 1, 0, m)
        cols = np.arange(m)[None, :]
        masked = np.where((cols >= lo[:, None]) & (cols < hi[:, None]), cost, np.inf)
        d = np.minimum(d, masked.min(axis=1))
    d = np.where(np.isfinite(d), d, 1.0)
    w = d / (d.max() + 1e-6)
    weights: np.ndarray = np.maximum(w, floor).astype(np.float32)
    return weights


def subsequence_dtw(ref: np.ndarray, cap: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted mean frame distance of the best alignment of all of `ref` to any stretch of `cap`.

    Steps (1,1), (1,2), (2,1) (tempo between 1/2 and 2): each row depends only on the two rows
    before it, so every row is one vectorised numpy step. `weights` (per ref frame) say how much
    each frame of the reference counts."""
    n, m = len(ref), len(cap)
    if n < 5 or m < n // 2:
        return float("inf")
    w = np.ones(n, dtype=np.float32) if weights is None else weights.astype(np.float32)
    cost = distances(ref, cap) * w[:, None]
    inf = np.float32(np.inf)
    prev2 = np.full(m, inf, dtype=np.float32)
    len2 = np.ones(m, dtype=np.float32)
    prev = cost[0].copy()          # free start anywhere in the capture
    len1 = np.full(m, w[0], dtype=np.float32)
    for i in range(1, n):
        c = cost[i]
        cand_diag = np.full(m, inf, dtype=np.float32)
        cand_diag[1:] = prev[:-1] + c[1:]
        l_diag = np.ones(m, dtype=np.float32)
        l_diag[1:] = len1[:-1] + w[i]
        cand_fast = np.full(m, inf, dtype=np.float32)   # ref slower: skip a capture frame
        cand_fast[2:] = prev[:-2] + c[1:-1] + c[2:]
        l_fast = np.ones(m, dtype=np.float32)
        l_fast[2:] = len1[:-2] + 2 * w[i]
        cand_slow = np.full(m, inf, dtype=np.float32)   # ref faster: two ref frames on one
        cand_slow[1:] = prev2[:-1] + cost[i - 1][1:] + c[1:]
        l_slow = np.ones(m, dtype=np.float32)
        l_slow[1:] = len2[:-1] + w[i - 1] + w[i]
        stack = np.stack([cand_diag, cand_fast, cand_slow])
        lens = np.stack([l_diag, l_fast, l_slow])
        pick = np.argmin(stack / lens, axis=0)
        cur = stack[pick, np.arange(m)]
        cur_len = lens[pick, np.arange(m)]
        prev2, len2, prev, len1 = prev, len1, cur, cur_len
    scores = prev / len1
    return float(np.min(scores))


# ---- references ----------------------------------------------------------------------------------
@dataclass
class Reference:
    reason: str
    locale: str
    source: str
    feats: np.ndarray = field(repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Match:
    reason: str | None
    method: str                 # fingerprint, speech, none
    score: float | None = None  # fingerprint: mean distance of the best reference (lower is closer)
    margin: float | None = None # fingerprint: distance to the best reference of another reason
    text: str | None = None     # speech: the transcript
    seconds: float = 0.0        # how much early media there was
    scores: dict[str, float] = field(default_factory=dict)


# measured (/tmp experiments, guarded by tests/unit/test_announcements.py): the right reference
# through G.711 with ring tone, 0.3x gain and line noise scores <= 0.33 with >= 0.28 to the next
# reason; an announcement captured through Asterisk scores ~0.02; other speech sharing the prefix
# (您拨打的电话正在通话中, 您拨打的号码已过期) scores >= 0.44
MAX_SCORE = 0.38
MIN_MARGIN = 0.15


class Fingerprinter:
    """The loaded references of every locale; thread-safe to use once built."""

    @classmethod
    def build(cls, tts_cache: Path, extra_dir: Path | None = None,
              locales: Collection[str] | None = None) -> "Fingerprinter":
        from .. import tts
        refs: list[Reference] = []
        for locale, reasons in STANDARD_TEXTS.items():
            if locales is not None and locale not in locales:
                continue
            for reason, texts in reasons.items():
                for text in texts:
                    try:
                        wav = tts.cached(text, locale, Path(tts_cache) / "announcements")
                    except Exception as exc:  # no espeak-ng: operator references only
                        log.warning("cannot synthesize the %s reference %r: %s", locale, text, exc)
                        continue
                    refs.append(Reference(reason, locale, str(wav), features(read_audio(wav))))
        if extra_dir and Path(extra_dir).is_dir():
            for wav in sorted(Path(extra_dir).glob("*/*.wav")):
                reason = wav.stem.split("-", 1)[0]
                if reason not in REASONS:
                    log.warning("%s: file name must start with one of %s", wav, ", ".join(REASONS))
                    continue
                try:
                    refs.append(Reference(reason, wav.parent.name, str(wav), features(read_audio(wav))))
                except Exception as exc:
                    log.warning("%s: unusable reference: %s", wav, exc)
        return cls(refs)

    def __init__(self, references: list[Reference]):
        self.references = references
        for ref in references:
            others = [o.feats for o in references if o.locale == ref.locale and o.reason != ref.reason]
            ref.weights = distinctiveness(ref.feats, others, floor=0.05)

    def match(self, samples: np.ndarray, locale: str | None = None) -> Match:
        seconds = len(samples) / SAMPLE_RATE
        feats = features(samples)
        if len(feats) < 20:
            return Match(None, "none", seconds=seconds)
        per_reason: dict[str, float] = {}
        refs = [r for r in self.references if locale is None or r.locale == locale] or self.references
        for ref in refs:
            score = subsequence_dtw(ref.feats, feats, ref.weights)
            if score < per_reason.get(ref.reason, float("inf")):
                per_reason[ref.reason] = score
        if not per_reason:
            return Match(None, "none", seconds=seconds)
        ranked = sorted(per_reason.items(), key=lambda kv: kv[1])
        best, best_score = ranked[0]
        margin = (ranked[1][1] - best_score) if len(ranked) > 1 else float("inf")
        scores = {k: round(v, 3) for k, v in ranked}
        if best_score <= MAX_SCORE and margin >= MIN_MARGIN:
            return Match(best, "fingerprint", round(best_score, 3), round(margin, 3), seconds=seconds, scores=scores)
        return Match(None, "none", round(best_score, 3), round(margin, 3), seconds=seconds, scores=scores)


_shared: dict[tuple[str, str], Fingerprinter] = {}
_shared_lock = threading.Lock()


def fingerprinter(tts_cache: Path, extra_dir: Path | None = None) -> Fingerprinter:
    """One Fingerprinter per (cache, references dir) per process, built on first use."""
    key = (str(tts_cache), str(extra_dir or ""))
    with _shared_lock:
        if key not in _shared:
            started = time.monotonic()
            _shared[key] = Fingerprinter.build(Path(tts_cache), extra_dir)
            log.info("announcement references: %d in %.2f s", len(_shared[key].references),
                     time.monotonic() - started)
        return _shared[key]
