"""Text to telephone audio with espeak-ng and sox.

Used for three things: the prompt audio generated at install time, sentences carrying a borrower's
own values synthesized at call time, and the simulated borrowers' spoken answers. Output is always
what Asterisk's AudioSocket and our phones speak: signed 16-bit little-endian, 8 kHz, mono WAV.
Results are cached by a hash of (voice, rate, text), so a sentence is synthesized once.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import threading
import subprocess
import tempfile
import wave
from pathlib import Path

# espeak-ng voice per locale we support
VOICES = {"zh-CN": "cmn", "ko-KR": "ko", "en-US": "en-us"}
# words per minute per voice: espeak-ng's Mandarin is slow at the default rate
RATES = {"zh-CN": 240, "ko-KR": 175, "en-US": 175}
SAMPLE_RATE = 8000


class TtsError(RuntimeError):
    pass


def voice_for(locale: str) -> str:
    try:
        return VOICES[locale]
    except KeyError:
        raise TtsError(f"no espeak-ng voice for locale {locale!r} (known: {', '.join(VOICES)})") from None


def check_tools() -> None:
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            raise TtsError(f"{tool} is not installed (Debian package: {'espeak-ng' if tool == 'espeak-ng' else 'sox'})")


def synthesize(text: str, locale: str, out_path: Path, *, rate: int | None = None) -> Path:
    """Speak `text` into `out_path` (8 kHz mono s16 WAV). Overwrites `out_path`."""
    check_tools()
    rate = rate or RATES.get(locale, 175)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ivr-tts-") as tmp:
        raw = Path(tmp) / "raw.wav"
        # text goes as an argument list, never through a shell
        subprocess.run(["espeak-ng", "-v", voice_for(locale), "-s", str(rate), "-w", str(raw), "--", text],
                       check=True, capture_output=True, timeout=60)
        # staged beside the target and renamed: readers never see a half-written file, and two
        # threads synthesizing the same sentence both end with a whole one
        staged = out_path.with_name(f".{out_path.name}.{os.getpid()}.{threading.get_ident()}.tmp.wav")
        subprocess.run(["sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                        str(staged), "gain", "-n", "-3"], check=True, capture_output=True, timeout=60)
        os.replace(staged, out_path)
    return out_path


def cached(text: str, locale: str, cache_dir: Path, *, rate: int | None = None) -> Path:
    """Synthesize once per (locale, rate, text); return the WAV path."""
    rate = rate or RATES.get(locale, 175)
    key = hashlib.sha256(f"{voice_for(locale)}|{rate}|{text}".encode()).hexdigest()[:24]
    path = Path(cache_dir) / locale / f"{key}.wav"
    if not path.exists():
        synthesize(text, locale, path, rate=rate)
    return path


def read_pcm(path: Path) -> bytes:
    """The raw 8 kHz s16 mono samples of a WAV we (or a person recording a prompt) produced."""
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise TtsError(f"{path}: expected 8 kHz mono 16-bit WAV, got {w.getframerate()} Hz, "
                           f"{w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit")
        return w.readframes(w.getnframes())


def write_pcm(path: Path, pcm: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm)
    return path
