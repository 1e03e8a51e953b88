"""Audio for bench/asr_robustness.py: espeak-ng talkers, non-speech sounds, babble, and the channel.

Every file is cached under ``$HUIFANG_ASR_CACHE/robustness`` (default /tmp/huifang-asr-bench):
``talk/`` holds the clean 8 kHz synthesis keyed by (voice, rate, pitch, text), ``audio/<condition>/``
the degraded telephone audio keyed by (condition, what was said, try). A cached file is written
to a temporary name and renamed, so two worker processes never see half a file.

Talkers are espeak-ng (``-v ko+VARIANT -s RATE -p PITCH``) -> sox to 8 kHz mono s16 with
``gain -n -3`` (as ivr/tts.py makes the simulated borrowers), padded with 300 ms silence each side,
the audio around an answer on a call. Each take of the same answer (a retry, a repetition when
asked to confirm) is spoken at another rate (``TAKE_RATE``), so no take replays identical audio. Non-speech: ``silence`` (1.2 s of nothing but the channel),
``cough`` (two band-passed noise bursts with a fast attack and decay, made with sox) and ``noise``
(1.2 s of brown noise, a rustle or breath on the handset). Babble is five espeak-ng voices reading
sentences that are not in the corpus, mixed at equal level, ~12 s, looped.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from bench.asr_conditions import SAMPLE_RATE, Condition, degrade, seed_for, to_array

CACHE = Path(os.environ.get("HUIFANG_ASR_CACHE", Path(tempfile.gettempdir()) / "huifang-asr-bench")) / "robustness"
PAD_MS = 300
TAKE_RATE = {1: 1.0, 2: 1.08, 3: 0.93, 4: 1.15}      # rate factor per take of the same answer

SOUND_RECIPES = {
    "silence": None,
    "cough": ["synth", "0.28", "pinknoise", "band", "700", "500", "fade", "l", "0.004", "0.28", "0.24",
              "pad", "0", "0.15", "repeat", "1", "gain", "-n", "-4"],
    "noise": ["synth", "1.2", "brownnoise", "fade", "q", "0.1", "1.2", "0.2", "gain", "-n", "-20"],
}
BABBLE_LINES = [
    "오늘 회의는 세 시에 시작합니다 자료를 미리 준비해 주세요",
    "주말에 가족들과 바닷가에 다녀왔는데 날씨가 정말 좋았어요",
    "이번 역은 시청역입니다 내리실 문은 오른쪽입니다",
    "점심 메뉴는 김치찌개로 하고 커피는 제가 살게요",
    "아이들이 학교에서 돌아오면 숙제를 먼저 시키세요",
    "새로 생긴 빵집이 맛있다고 해서 줄을 서서 샀어요",
]
BABBLE_VOICES = ["ko+m2", "ko+f2", "ko+m5", "ko+f5", "ko+m7"]


def _write_wav(path: Path, pcm: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm)
    os.replace(tmp, path)


def _read_wav(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())


def _key(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:24]


def talk(text: str, voice: str, rate: int, pitch: int) -> bytes:
    """espeak-ng speech as 8 kHz s16 mono PCM (no padding), cached."""
    path = CACHE / "talk" / f"{_key(voice, rate, pitch, text)}.wav"
    if not path.exists():
        speak = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", "--", text],
                               check=True, capture_output=True, timeout=60)
        conv = subprocess.run(["sox", "-t", "wav", "-", "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                               "-e", "signed-integer", "-", "gain", "-n", "-3"],
                              input=speak.stdout, check=True, capture_output=True, timeout=60)
        _write_wav(path, conv.stdout)
    return _read_wav(path)


def sound(kind: str) -> bytes:
    if kind not in SOUND_RECIPES:
        raise ValueError(f"unknown sound {kind!r}; expected one of {', '.join(SOUND_RECIPES)}")
    recipe = SOUND_RECIPES[kind]
    if recipe is None:
        return b"\0\0" * int(SAMPLE_RATE * 1.2)
    path = CACHE / "sound" / f"{kind}-{_key(*recipe)}.wav"
    if not path.exists():
        out = subprocess.run(["sox", "-R", "-n", "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                              "-e", "signed-integer", "-", *recipe], check=True, capture_output=True, timeout=60)
        _write_wav(path, out.stdout)
    return _read_wav(path)


def babble() -> np.ndarray:
    path = CACHE / "sound" / f"babble-{_key(*BABBLE_VOICES, *BABBLE_LINES)}.wav"
    if not path.exists():
        tracks = []
        for i, voice in enumerate(BABBLE_VOICES):
            lines = BABBLE_LINES[i:] + BABBLE_LINES[:i]          # each talker starts elsewhere
            x = np.concatenate([to_array(talk(t, voice, 165 + 10 * i, 35 + 8 * i)) for t in lines]).astype(np.float64)
            tracks.append(x / (np.sqrt(np.mean(x * x)) or 1.0))
        n = min(len(t) for t in tracks)
        mix = sum(t[:n] for t in tracks)
        mix = mix / np.max(np.abs(mix)) * 16000
        _write_wav(path, mix.astype("<i2").tobytes())
    return to_array(_read_wav(path)).astype(np.float64)


def telephone(cond: Condition, text: str | None, sound_kind: str | None, attempt: int) -> bytes:
    """What the recognizer hears: the talker (or sound) under ``cond``, take ``attempt`` (1..4)."""
    what = text if text is not None else f"<{sound_kind}>"
    path = CACHE / "audio" / cond.name / f"{_key(cond.as_dict(), what, attempt, PAD_MS)}.wav"
    if path.exists():
        return _read_wav(path)
    if text is not None:
        rate = round(cond.rate * TAKE_RATE[attempt])
        core = talk(text, cond.voice, rate, cond.pitch)
    else:
        core = sound(sound_kind)
    pad = b"\0\0" * (SAMPLE_RATE * PAD_MS // 1000)
    pcm = pad + core + pad
    start = len(pad) // 2
    speech = slice(start, start + len(core) // 2) if text is not None else None
    out = degrade(pcm, cond, seed=seed_for(cond.name, what, str(attempt)), speech=speech,
                  babble=babble() if cond.noise == "babble" else None)
    _write_wav(path, out)
    return out
