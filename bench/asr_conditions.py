"""The telephone conditions bench/asr_robustness.py speaks its corpus under, and the audio maths.

A condition is one combination of talker (espeak-ng voice variant, rate, pitch) and channel (gain,
white or babble noise at an SNR, a G.711 round trip, lost 20 ms frames). The matrix is not a full
factorial: 20 named conditions, each a realistic mix, built as ten *pairs* that share a primary
degradation (codec, female voice, male voice, rate, pitch, gain, white noise, babble, frame loss,
everything at once).

Tuning / held-out split, fixed before any threshold was tuned: within each pair, the condition
whose name has the smaller SHA-256 goes to the tuning half, the other to the held-out half. So
both halves contain every primary degradation, and nobody picks which conditions are "easy". The
resulting split is frozen in ``FROZEN_SPLIT``; ``split()`` refuses to return anything else, so a
renamed or added condition cannot silently move conditions between halves after tuning.

Order of the channel, as on a call: talker level (gain) -> background noise at the requested SNR
(measured against the speech between the silence pads) -> G.711 encoder/decoder -> the network
loses whole 20 ms packets, which a jitter buffer without concealment plays as silence.

Everything here is pure (numpy + the stdlib's audioop), deterministic for a given seed, and needs
neither espeak-ng nor Vosk, so tests/unit/test_asr_conditions.py can check it.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib G.711 (deprecated in 3.11, present until 3.13)

SAMPLE_RATE = 8000
FRAME = SAMPLE_RATE // 50          # 20 ms
CODECS = ("ulaw", "alaw")
NOISES = ("white", "babble")
NOMINAL_SPEECH_DBFS = -21.0       # mean power of espeak-ng Korean after `gain -n -3` (measured: -19.5 .. -22.6)


@dataclass(frozen=True)
class Condition:
    name: str
    pair: str                      # the primary degradation it shares with its twin
    voice: str = "ko"              # espeak-ng voice[+variant]
    rate: int = 175                # words per minute (espeak-ng -s)
    pitch: int = 50                # 0..99 (espeak-ng -p)
    codec: str = "ulaw"
    gain_db: float = 0.0
    noise: str | None = None       # white | babble
    snr_db: float | None = None
    loss: float = 0.0              # share of 20 ms frames lost

    def kinds(self) -> set[str]:
        """Degradation kinds present (for checking that each half has each kind)."""
        out = {self.codec}
        if "+" in self.voice:
            out.add("voice")
        if self.rate != 175:
            out.add("rate")
        if self.pitch != 50:
            out.add("pitch")
        if self.gain_db < 0:
            out.add("gain")
        if self.noise:
            out.add(self.noise)
        if self.loss > 0:
            out.add("loss")
        return out

    def as_dict(self) -> dict:
        return asdict(self)


C = Condition
CONDITIONS: list[Condition] = [
    C("ulaw-plain", "codec", codec="ulaw"),
    C("alaw-plain", "codec", codec="alaw"),
    C("f1-alaw", "voice-f", voice="ko+f1", codec="alaw"),
    C("f3-ulaw", "voice-f", voice="ko+f3", pitch=60),
    C("m1-ulaw", "voice-m", voice="ko+m1"),
    C("m3-alaw", "voice-m", voice="ko+m3", pitch=40, codec="alaw"),
    C("slow-120", "rate", voice="ko+f2", rate=120),
    C("fast-220", "rate", rate=220, codec="alaw"),
    C("pitch-20", "pitch", voice="ko+m2", pitch=20),
    C("pitch-80", "pitch", voice="ko+f4", pitch=80, codec="alaw"),
    C("quiet-20db", "gain", rate=160, gain_db=-20),
    C("quiet-10db", "gain", voice="ko+f2", rate=190, pitch=60, codec="alaw", gain_db=-10),
    C("white-20db", "white", voice="ko+m1", pitch=40, noise="white", snr_db=20),
    C("white-10db", "white", voice="ko+f1", rate=160, codec="alaw", noise="white", snr_db=10),
    C("babble-20db", "babble", voice="ko+f3", rate=190, codec="alaw", noise="babble", snr_db=20),
    C("babble-10db", "babble", voice="ko+m3", noise="babble", snr_db=10),
    C("loss-2pct", "loss", voice="ko+m4", loss=0.02),
    C("loss-5pct", "loss", voice="ko+f5", pitch=70, codec="alaw", loss=0.05),
    C("mobile-street", "mixed", voice="ko+m2", rate=200, pitch=30, gain_db=-6, noise="babble", snr_db=20, loss=0.02),
    C("weak-line", "mixed", voice="ko+f4", rate=140, pitch=70, codec="alaw", gain_db=-12, noise="white", snr_db=20,
      loss=0.05),
]
del C

# What split() computed when the rule was fixed (before any tuning). Do not edit to "rebalance".
FROZEN_SPLIT = {
    "tuning": ['ulaw-plain', 'f1-alaw', 'm1-ulaw', 'slow-120', 'pitch-80', 'quiet-20db', 'white-10db',
               'babble-20db', 'loss-2pct', 'mobile-street'],
    "heldout": ['alaw-plain', 'f3-ulaw', 'm3-alaw', 'fast-220', 'pitch-20', 'quiet-10db', 'white-20db',
                'babble-10db', 'loss-5pct', 'weak-line'],
}


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def compute_split(conditions: list[Condition]) -> dict[str, list[str]]:
    """The rule: per pair, the smaller SHA-256 of the name is tuning, the other held-out."""
    pairs: dict[str, list[Condition]] = {}
    for c in conditions:
        pairs.setdefault(c.pair, []).append(c)
    out: dict[str, list[str]] = {"tuning": [], "heldout": []}
    for pair, members in pairs.items():
        if len(members) != 2:
            raise ValueError(f"pair {pair!r} has {len(members)} conditions; the split rule needs exactly 2")
        first, second = sorted(members, key=lambda c: _digest(c.name))
        out["tuning"].append(first.name)
        out["heldout"].append(second.name)
    return out


def split() -> dict[str, list[str]]:
    computed = compute_split(CONDITIONS)
    if computed != FROZEN_SPLIT:
        raise RuntimeError("the condition split differs from FROZEN_SPLIT: conditions were changed after the "
                           "split was fixed; a new matrix needs a new, untuned split")
    return computed


def by_name(names: list[str]) -> list[Condition]:
    table = {c.name: c for c in CONDITIONS}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(table)}")
    return [table[n] for n in names]


# ---------------------------------------------------------------------------
# Audio (int16 numpy arrays at 8 kHz)
# ---------------------------------------------------------------------------
def seed_for(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode("utf-8")).digest()[:8], "little")


def to_array(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


def to_bytes(samples: np.ndarray) -> bytes:
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


def apply_gain(samples: np.ndarray, gain_db: float) -> np.ndarray:
    return samples.astype(np.float64) * (10.0 ** (gain_db / 20.0))


def power(samples: np.ndarray) -> float:
    x = samples.astype(np.float64)
    return float(np.mean(x * x)) if len(x) else 0.0


def add_noise(samples: np.ndarray, noise: np.ndarray, snr_db: float, speech: slice | None = None,
              reference_dbfs: float | None = None) -> np.ndarray:
    """Mix ``noise`` (at least as long as ``samples``) at ``snr_db`` below the speech.

    The speech level is the mean power over ``speech`` (default: all samples), or, when
    ``reference_dbfs`` is given, that level (for sounds that are no speech: the noise is as loud as
    it would be under a talker of that level).
    """
    x = samples.astype(np.float64)
    if len(noise) < len(x):
        raise ValueError("noise track is shorter than the signal")
    n = noise[: len(x)].astype(np.float64)
    if reference_dbfs is not None:
        p_speech = (32768.0 * 10 ** (reference_dbfs / 20)) ** 2
    else:
        p_speech = power(x[speech] if speech is not None else x)
    p_noise = power(n)
    if p_noise == 0 or p_speech == 0:
        return x
    scale = np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    return x + n * scale


def white_noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def loop_slice(track: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` samples of a looping noise track, starting at a seeded offset."""
    if len(track) == 0:
        raise ValueError("empty noise track")
    start = int(np.random.default_rng(seed).integers(0, len(track)))
    reps = (start + n) // len(track) + 1
    return np.tile(track, reps)[start:start + n]


def g711_round_trip(samples: np.ndarray, codec: str) -> np.ndarray:
    """Encode to 8-bit G.711 and decode back (same length, quantised)."""
    pcm = to_bytes(samples)
    if codec == "ulaw":
        back = audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)
    elif codec == "alaw":
        back = audioop.alaw2lin(audioop.lin2alaw(pcm, 2), 2)
    else:
        raise ValueError(f"unknown codec {codec!r}; expected one of {CODECS}")
    return to_array(back)


def lose_frames(samples: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, list[int]]:
    """Zero round(share x frames) whole 20 ms frames, chosen by ``seed``; returns (audio, lost frame indexes)."""
    out = samples.copy()
    frames = len(out) // FRAME
    k = int(round(share * frames))
    if k <= 0:
        return out, []
    lost = sorted(int(i) for i in np.random.default_rng(seed).choice(frames, size=k, replace=False))
    for i in lost:
        out[i * FRAME:(i + 1) * FRAME] = 0
    return out, lost


def degrade(pcm: bytes, cond: Condition, *, seed: int, speech: slice | None = None,
            babble: np.ndarray | None = None) -> bytes:
    """The channel of ``cond`` applied to 8 kHz s16 PCM (talker settings are applied by the synthesizer).

    ``speech``: where the talker is (the SNR reference); None for a sound that is no speech, which
    gets the noise a talker at NOMINAL_SPEECH_DBFS (+ the condition's gain) would have.
    """
    x = apply_gain(to_array(pcm), cond.gain_db)
    if cond.noise:
        if cond.noise == "white":
            noise = white_noise(len(x), seed)
        elif cond.noise == "babble":
            if babble is None:
                raise ValueError("babble noise needs a babble track")
            noise = loop_slice(babble, len(x), seed)
        else:
            raise ValueError(f"unknown noise {cond.noise!r}; expected one of {NOISES}")
        reference = None if speech is not None else NOMINAL_SPEECH_DBFS + cond.gain_db
        x = add_noise(x, noise, cond.snr_db, speech, reference)
    x = g711_round_trip(np.clip(np.rint(x), -32768, 32767).astype(np.int16), cond.codec)
    if cond.loss:
        x, _ = lose_frames(x, cond.loss, seed ^ 0x5A5A)
    return to_bytes(x)
