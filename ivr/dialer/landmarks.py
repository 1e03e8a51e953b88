"""Landmark fingerprints of carrier announcements learned from real calls.

A carrier plays the same recording every time, so recognising it is the problem of finding one
known recording inside a degraded capture — not of understanding speech. This module does it the
way audio-identification systems do: spectrogram peaks ("landmarks"), pairs of nearby peaks hashed
as (f1, f2, dt), and a match counted only for hashes that agree on one time offset between the
reference and the capture. That survives what a telephone line does to audio: G.711 coding (the
peaks stay where they were), any gain (peaks are local maxima), a late start or ring-back before
the announcement (only the offset changes) and lost packets (a few hashes go missing).

What it must never match:
* ring-back, busy and other call-progress tones: frames whose energy sits in one or two narrow
  bands make no peaks at all (`tonal_frames`), so a pure-tone capture has no fingerprint;
* a different announcement that shares a prefix (您拨打的电话已关机 / 已停机): a match needs the
  whole reference, block by block (`compare`), not a share of its hashes;
* music and ordinary speech: their peak pairs do not line up at one offset.

Numpy only; a fingerprint is two int arrays (hash, frame) and serialises to bytes for the DB.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
NFFT, HOP = 512, 128                 # 64 ms windows every 16 ms
FRAME_S = HOP / SAMPLE_RATE
PEAK_T, PEAK_F = 5, 8                # a peak is the maximum of +-5 frames x +-8 bins
DYNAMIC_DB = 45.0                    # peaks more than this below the loudest part are noise
ABSOLUTE_FLOOR_DB = 70.0             # ~ a 25-unit sine: idle a-law (+-8) and dither stay under it
FANOUT = 6                           # each anchor pairs with its 6 nearest later peaks
PAIR_DT = (1, 40)                    # frames ahead a paired peak may lie (16..640 ms)
PAIR_DF = 60                         # bins apart a paired peak may lie (~940 Hz)
TONAL_SHARE = 0.75                   # a frame with this share of its energy in 2 narrow bands is a tone
BLOCK_FRAMES = 25                    # the reference is checked in 0.4 s blocks
MIN_BLOCK_HASHES = 6                 # blocks with fewer hashes (pauses) are not checked
BLOCK_HIT = 0.06                     # a block is present when this share of its hashes is found (measured:
                                     # a different syllable finds 0.00-0.04, the right one >= 0.08 at 15 % loss)
MATCH_COVERAGE = 0.85                # share of the checked blocks that must be present
MIN_SPAN = 0.6                       # share of the reference the capture must cover
MIN_HITS = 20


@dataclass
class Fingerprint:
    hashes: np.ndarray               # int64, one per peak pair
    frames: np.ndarray               # int32, the anchor's frame
    n_frames: int                    # length of the audio it came from, in frames

    @property
    def seconds(self) -> float:
        return self.n_frames * FRAME_S

    def window(self, first: int, last: int) -> "Fingerprint":
        """The hashes anchored in frames [first, last), re-based to start at 0."""
        keep = (self.frames >= first) & (self.frames < last)
        return Fingerprint(self.hashes[keep], (self.frames[keep] - first).astype(np.int32), last - first)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, hashes=self.hashes, frames=self.frames, n_frames=np.array([self.n_frames]))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Fingerprint":
        with np.load(io.BytesIO(data)) as z:
            return cls(z["hashes"].astype(np.int64), z["frames"].astype(np.int32), int(z["n_frames"][0]))


@dataclass
class Comparison:
    coverage: float                  # share of the reference's checked blocks found at the offset
    span: float                      # share of the reference's blocks that fall inside the capture
    hits: int                        # hashes agreeing on the offset
    offset_s: float                  # where in the capture the reference starts

    @property
    def matched(self) -> bool:
        return self.hits >= MIN_HITS and self.span >= MIN_SPAN and self.coverage >= MATCH_COVERAGE


NO_MATCH = Comparison(0.0, 0.0, 0, 0.0)


def _spectrogram(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    x = np.append(x[:1], x[1:] - 0.95 * x[:-1])           # pre-emphasis: speech spectra flatter
    if len(x) < NFFT:
        return np.zeros((0, NFFT // 2 + 1))
    n = 1 + (len(x) - NFFT) // HOP
    idx = np.arange(NFFT)[None, :] + HOP * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(x[idx] * np.hanning(NFFT), axis=1)) ** 2


def tonal_frames(power: np.ndarray) -> np.ndarray:
    """Frames that are call-progress tones: nearly all energy in at most two narrow bands."""
    total = power.sum(axis=1) + 1e-9
    p = power.copy()
    share = np.zeros(len(p))
    rows = np.arange(len(p))
    for _ in range(2):
        k = p.argmax(axis=1)
        for d in range(-3, 4):
            col = np.clip(k + d, 0, p.shape[1] - 1)
            share += p[rows, col]
            p[rows, col] = 0.0
    tonal: np.ndarray = share / total >= TONAL_SHARE
    return tonal


def _max_filter(a: np.ndarray, half_t: int, half_f: int) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view
    padded = np.pad(a, ((half_t, half_t), (0, 0)), constant_values=-np.inf)
    out = sliding_window_view(padded, 2 * half_t + 1, axis=0).max(axis=-1)
    padded = np.pad(out, ((0, 0), (half_f, half_f)), constant_values=-np.inf)
    filtered: np.ndarray = sliding_window_view(padded, 2 * half_f + 1, axis=1).max(axis=-1)
    return filtered


def peaks(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(frame, bin) of the spectrogram's landmarks, and the number of frames."""
    power = _spectrogram(samples)
    if len(power) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), 0
    db = 10 * np.log10(power + 1e-3)
    db[:, :4] = -np.inf                                  # below 60 Hz: hum, not content
    # relative to the loudest part (tones included), and never below what idle G.711 line noise makes
    floor = max(np.percentile(db[:, 4:], 99.5) - DYNAMIC_DB, ABSOLUTE_FLOOR_DB)
    # a tone's frames, and the frames where its window catches the tone switching on or off
    # (the abrupt edge spreads it over many bins), make no peaks
    tonal = tonal_frames(power)
    edge = NFFT // HOP
    padded = np.pad(tonal, edge)
    near_tone = np.zeros(len(tonal), dtype=bool)
    for k in range(2 * edge + 1):
        near_tone |= padded[k:k + len(tonal)]
    db[near_tone] = -np.inf
    is_peak = (db == _max_filter(db, PEAK_T, PEAK_F)) & (db > floor) & np.isfinite(db)
    t, f = np.nonzero(is_peak)
    return t.astype(np.int32), f.astype(np.int32), len(db)


def fingerprint(samples: np.ndarray) -> Fingerprint:
    """The landmark hashes of 8 kHz audio (float or int samples, any gain)."""
    t, f, n = peaks(samples)
    order = np.lexsort((f, t))
    t, f = t[order], f[order]
    hashes, frames = [], []
    for i in range(len(t)):
        j = i + 1
        taken = 0
        while j < len(t) and taken < FANOUT and t[j] - t[i] <= PAIR_DT[1]:
            dt_ = t[j] - t[i]
            if dt_ >= PAIR_DT[0] and abs(int(f[j]) - int(f[i])) <= PAIR_DF:
                hashes.append((int(f[i]) << 16) | (int(f[j]) << 6) | int(dt_))
                frames.append(t[i])
                taken += 1
            j += 1
    return Fingerprint(np.array(hashes, dtype=np.int64), np.array(frames, dtype=np.int32), n)


def _pairs(ref: Fingerprint, cap: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
    """Every (reference index, capture frame) whose hashes are equal."""
    order = np.argsort(ref.hashes, kind="stable")
    sorted_h = ref.hashes[order]
    lo = np.searchsorted(sorted_h, cap.hashes, "left")
    hi = np.searchsorted(sorted_h, cap.hashes, "right")
    counts = hi - lo
    if counts.sum() == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cap_idx = np.repeat(np.arange(len(cap.hashes)), counts)
    starts = np.repeat(lo, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ref_idx = order[starts + within]
    return ref_idx, cap.frames[cap_idx].astype(np.int64)


def compare(ref: Fingerprint, cap: Fingerprint) -> Comparison:
    """How completely `ref` occurs somewhere in `cap` (one time offset, block by block)."""
    if len(ref.hashes) == 0 or len(cap.hashes) == 0:
        return NO_MATCH
    ref_idx, cap_frames = _pairs(ref, cap)
    if len(ref_idx) == 0:
        return NO_MATCH
    offsets = cap_frames - ref.frames[ref_idx]
    lo = offsets.min()
    hist = np.bincount(offsets - lo)
    smooth = hist + np.append(hist[1:], 0) + np.append(0, hist[:-1])   # +-1 frame of jitter
    best = int(smooth.argmax()) + int(lo)
    agree = np.abs(offsets - best) <= 1
    found = np.zeros(len(ref.hashes), dtype=bool)
    found[ref_idx[agree]] = True
    blocks = ref.frames // BLOCK_FRAMES
    n_blocks = int(blocks.max()) + 1
    total = np.bincount(blocks, minlength=n_blocks)
    hit = np.bincount(blocks, weights=found, minlength=n_blocks)
    starts = np.arange(n_blocks) * BLOCK_FRAMES + best            # block start in capture frames
    inside = (starts >= 0) & (starts + BLOCK_FRAMES <= cap.n_frames + BLOCK_FRAMES // 2)
    checked = inside & (total >= MIN_BLOCK_HASHES)
    content = total >= MIN_BLOCK_HASHES
    if not checked.any():
        return Comparison(0.0, 0.0, int(agree.sum()), best * FRAME_S)
    present = (hit[checked] / total[checked]) >= BLOCK_HIT
    return Comparison(coverage=float(present.mean()), span=float(checked.sum() / max(1, content.sum())),
                      hits=int(found.sum()), offset_s=best * FRAME_S)


def period_frames(fp: Fingerprint, min_s: float = 1.0) -> int | None:
    """The repetition period of an announcement played more than once in a capture, in frames."""
    if len(fp.hashes) < 2 * MIN_HITS:
        return None
    ref_idx, cap_frames = _pairs(fp, fp)
    lags = cap_frames - fp.frames[ref_idx]
    lags = lags[lags >= int(min_s / FRAME_S)]
    if len(lags) == 0:
        return None
    hist = np.bincount(lags)
    smooth = hist + np.append(hist[1:], 0) + np.append(0, hist[:-1])
    lag = int(smooth.argmax())
    overlap = int(((fp.frames >= fp.frames.min() + lag)).sum())   # hashes a second play could repeat
    return lag if overlap and smooth[lag] >= max(MIN_HITS, 0.2 * overlap) else None


def reference_of(samples: np.ndarray) -> Fingerprint:
    """A capture's reference fingerprint: one play of the announcement, from its first landmark
    (ring-back and silence before it, and any repetition after it, are cut away)."""
    return one_play(fingerprint(samples))


def one_play(fp: Fingerprint) -> Fingerprint:
    """`reference_of` for a capture already fingerprinted."""
    if len(fp.hashes) == 0:
        return fp
    first = int(fp.frames.min())
    period = period_frames(fp)
    last = first + period if period else int(fp.frames.max()) + PAIR_DT[1] + 1
    return fp.window(first, min(last, fp.n_frames))


def similar(a: Fingerprint, b: Fingerprint) -> Comparison:
    """Two captures of the same recording, either possibly cut short: the better direction."""
    one, two = compare(a, b), compare(b, a)
    if one.matched != two.matched:
        return one if one.matched else two
    return one if one.coverage * one.span >= two.coverage * two.span else two
