"""Test audio for carrier announcements: "carrier recordings" that are not the product's own prompts,
and what a telephone line does to them.

A carrier's recording is simulated by espeak-ng with a voice variant, pitch and rate the product never
uses (the product speaks `cmn` at 240 wpm), rendered once per (text, carrier). Every capture is then
degraded independently (G.711 a-law / mu-law, gain, ring-back before, a late start, lost packets,
line noise), so a test never compares a file with itself.
"""
from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop   # real G.711 (in the stdlib up to Python 3.12)

SR = 8000
CACHE = Path(tempfile.gettempdir()) / "huifang-test-carrier-audio"
# (espeak-ng voice, words per minute, pitch): two "carriers" with their own recordings
CARRIERS = {"carrier-a": ("cmn+f3", 170, 65), "carrier-b": ("cmn+m7", 200, 35)}


def recording(text: str, carrier: str = "carrier-a") -> np.ndarray:
    voice, wpm, pitch = CARRIERS[carrier]
    key = hashlib.sha1(f"{voice}|{wpm}|{pitch}|{text}".encode()).hexdigest()[:16]
    raw = CACHE / f"{key}.raw"
    if not raw.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "a.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(wav), "--", text],
                           check=True, capture_output=True)
            subprocess.run(["sox", str(wav), "-r", str(SR), "-c", "1", "-b", "16", "-e", "signed-integer",
                            "-t", "raw", str(raw) + ".tmp", "gain", "-n", "-3"], check=True, capture_output=True)
            Path(str(raw) + ".tmp").rename(raw)
    return np.frombuffer(raw.read_bytes(), dtype="<i2").astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def ringback(seconds: float, freqs=(450.0,), on_s: float = 1.0, off_s: float = 4.0, level: float = 3000) -> np.ndarray:
    """Chinese ring-back (450 Hz, 1 s on / 4 s off); (440, 480) with 2 s / 4 s is the North American one."""
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
    return (tone * level * ((t % (on_s + off_s)) < on_s)).astype(np.float32)


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Chords and a melody with harmonics: what a colour ring-back (彩铃) might play."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR), dtype=np.float32)
    note = int(0.25 * SR)
    roots = [220.0, 261.6, 293.7, 329.6, 349.2, 392.0]
    for start in range(0, len(out) - note, note):
        root = roots[rng.integers(len(roots))]
        t = np.arange(note) / SR
        env = np.minimum(1.0, np.exp(-3 * t) * 1.5)
        chord = sum(np.sin(2 * np.pi * root * r * h * t) / h for r in (1.0, 1.26, 1.5) for h in (1, 2, 3))
        melody = np.sin(2 * np.pi * root * 4 * (1 + rng.integers(0, 3) / 8) * t)
        out[start:start + note] = (chord + 0.6 * melody) * env * 1500
    return out


def g711(x: np.ndarray, law: str) -> np.ndarray:
    """Encode and decode as the trunk's RTP does (real G.711 segment quantization)."""
    pcm = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    if law == "alaw":
        back = audioop.alaw2lin(audioop.lin2alaw(pcm, 2), 2)
    else:
        back = audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)
    return np.frombuffer(back, dtype="<i2").astype(np.float32)


def lose_packets(x: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    """Silence a share of the 20 ms packets (no concealment: what Asterisk records)."""
    rng = np.random.default_rng(seed)
    y = x.copy()
    n = len(y) // 160
    for i in rng.choice(n, int(n * share), replace=False):
        y[i * 160:(i + 1) * 160] = 0
    return y


def line(*parts: np.ndarray, gain: float = 1.0, law: str = "ulaw", noise: float = 0.0, loss: float = 0.0,
         seed: int = 0) -> np.ndarray:
    """Concatenate, scale, add line noise, lose packets and code as G.711."""
    x = np.concatenate(parts).astype(np.float32) * gain
    if noise:
        x = x + np.random.default_rng(seed).normal(0, noise, len(x)).astype(np.float32)
    if loss:
        x = lose_packets(x, loss, seed)
    return g711(x, law)
