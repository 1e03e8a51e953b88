"""Voice activity (ivr.dialog.vad): the level gate over batches of frames, and webrtcvad's veto."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from ivr.dialog.vad import VadTuning, VoiceDetector, level, levels

FRAME = 320


def pcm(samples) -> bytes:
    return np.asarray(samples).astype("<i2").tobytes()


def vowel(seconds: float, f0: float = 120.0, amplitude: float = 5000.0) -> bytes:
    """A voiced-speech stand-in: 24 harmonics of f0 falling off as 1/k, slowly modulated."""
    t = np.arange(int(8000 * seconds)) / 8000
    x = sum((amplitude / k) * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 25))
    return pcm(np.clip(x * (1 + 0.3 * np.sin(2 * np.pi * 4 * t)), -32000, 32000))


def frames(data: bytes) -> list[bytes]:
    return [data[i:i + FRAME] for i in range(0, len(data) - FRAME + 1, FRAME)]


def test_levels_are_the_rms_of_each_frame():
    a = struct.pack("<160h", *([1000] * 160))
    b = struct.pack("<160h", *([3, -4] * 80))
    tail = struct.pack("<2h", 6, -8)
    for use_numpy in (False, True):
        got = levels(a + b + tail, use_numpy=use_numpy)
        assert got.tolist() == pytest.approx([1000.0, math.sqrt(12.5), math.sqrt(50.0)], abs=1.0)
    assert level(b) == pytest.approx(math.sqrt(12.5), abs=1.0)   # audioop truncates to an integer
    assert level(b"") == 0.0 and len(levels(b"\x01")) == 0


def test_silence_and_quiet_noise_are_not_voice_speech_is():
    det = VoiceDetector()
    quiet = pcm(np.random.default_rng(3).normal(0, 100, 8000))
    assert not any(det.voiced(frames(bytes(8000) + quiet)))
    verdicts = det.voiced(frames(vowel(0.6)))
    assert sum(verdicts) >= 0.9 * len(verdicts)


def test_a_loud_line_raises_the_bar_by_its_noise_level():
    det = VoiceDetector(VadTuning(mode=-1))
    hum = pcm(np.random.default_rng(4).normal(0, 300, 16000))     # under the floor: learned as noise
    det.voiced(frames(hum))
    assert det.noise > 200
    just_over_floor = vowel(0.2, amplitude=500)                    # ~500 RMS: above 350, below 3x noise
    assert 350 < level(just_over_floor) < 3 * det.noise
    assert not any(det.voiced(frames(just_over_floor)))


def test_webrtcvad_vetoes_a_loud_sound_that_is_not_speech():
    """A DC offset (a line fault) is loud for the level gate for as long as it lasts; webrtcvad
    hears only its onset as speech-like."""
    dc = frames(pcm(np.full(8000, 3000)))
    assert sum(VoiceDetector(VadTuning(mode=-1)).voiced(dc)) == len(dc)
    assert sum(VoiceDetector(VadTuning(mode=1)).voiced(dc)) <= 6


def test_batches_and_single_frames_agree():
    audio = frames(bytes(3200) + vowel(0.4) + bytes(3200) + vowel(0.2, amplitude=900))
    whole = VoiceDetector().voiced(audio)
    one_by_one = VoiceDetector()
    assert [one_by_one.voiced([f])[0] for f in audio] == whole
