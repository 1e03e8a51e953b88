"""Prompt texts and their audio, per locale.

Each prompt key has a text in prompts/<locale>/prompts.yaml. Prompts that depend only on the
install (the lender's name) get their audio at install time (`ivr prompts build`) into
prompts/<locale>/audio/<key>.wav; a recorded file of the same name may replace a generated one and
is never overwritten (generated files are listed in audio/.generated.json). Prompts carrying a
borrower's values (name, amount, dates) are synthesized at call time and cached by their text.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from .. import tts
from ..config import Settings
from .flow import placeholders, prompt_texts

log = logging.getLogger(__name__)
INSTALL_PLACEHOLDERS = {"lender"}
MANIFEST = ".generated.json"
NOT_SPOKEN = {"lender_name"}  # values, not prompts


def speak_date(value: str | dt.date | None, locale: str) -> str:
    if not value:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    if locale == "ko-KR":
        return f"{day.month}월 {day.day}일"
    return f"{day.month}月{day.day}日"


def speak_amount(value, locale: str) -> str:
    if value is None or value == "":
        return ""
    return str(int(value))


class Prompts:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.texts = prompt_texts(settings.prompts_dir)
        self._pcm: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()  # audio() is called from worker threads

    @property
    def locales(self) -> list[str]:
        return sorted(self.texts)

    def first(self, locale: str, *keys: str) -> str:
        """The first of ``keys`` that ``locale`` has (the flow check makes sure one exists)."""
        for key in keys:
            if key in self.texts.get(locale, {}):
                return key
        raise KeyError(f"none of the prompts {', '.join(keys)} exists in {locale}")

    def text(self, locale: str, key: str, values: dict | None = None) -> str:
        template = self.texts[locale][key]
        values = dict(values or {})
        values.setdefault("lender", self.settings.lender_name or self.texts[locale].get("lender_name", ""))
        for name in ("due_date", "promise_date"):
            if name in values:
                values[name] = speak_date(values[name], locale)
        for name in ("amount", "promise_amount"):
            if name in values:
                values[name] = speak_amount(values[name], locale)
        missing = placeholders(template) - set(values)
        for name in missing:
            values[name] = ""
        return template.format(**values)

    def static_file(self, locale: str, key: str) -> Path:
        return self.settings.prompts_dir / locale / "audio" / f"{key}.wav"

    def preload(self) -> int:
        """Read every prompt that has no borrower values into memory (they are small); returns how
        many. Done once at start, so no call waits on a file read queued behind other calls."""
        n = 0
        for locale, table in self.texts.items():
            for key, template in table.items():
                if key in NOT_SPOKEN or not placeholders(template) <= INSTALL_PLACEHOLDERS:
                    continue
                if self.static_file(locale, key).exists():
                    self.audio(locale, key)
                    n += 1
        return n

    def ready(self, locale: str, key: str, values: dict | None = None) -> tuple[str, bytes] | None:
        """(text, PCM) if this prompt is already in memory, else None; never blocks."""
        text = self.text(locale, key, values)
        with self._lock:
            pcm = self._pcm.get((locale, text))
        return (text, pcm) if pcm is not None else None

    def audio(self, locale: str, key: str, values: dict | None = None) -> tuple[str, bytes]:
        """(text as played, 8 kHz s16 PCM) for one prompt."""
        text = self.text(locale, key, values)
        cache_key = (locale, text)
        with self._lock:
            if cache_key in self._pcm:
                self._pcm.move_to_end(cache_key)
                return text, self._pcm[cache_key]
        template = self.texts[locale][key]
        static = self.static_file(locale, key)
        if placeholders(template) <= INSTALL_PLACEHOLDERS and static.exists():
            pcm = tts.read_pcm(static)
        else:
            pcm = tts.read_pcm(tts.cached(text, locale, Path(self.settings.cache_dir) / "tts"))
        with self._lock:
            self._pcm[cache_key] = pcm
            while len(self._pcm) > 512:
                self._pcm.popitem(last=False)
        return text, pcm


def build(settings: Settings, *, force: bool = False) -> list[Path]:
    """Generate the install-time prompt audio for every locale. Returns the files written."""
    written = []
    prompts = Prompts(settings)
    for locale, table in prompts.texts.items():
        audio_dir = settings.prompts_dir / locale / "audio"
        audio_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = audio_dir / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            manifest = {}
        before = dict(manifest)
        for key, template in table.items():
            if key in NOT_SPOKEN or not placeholders(template) <= INSTALL_PLACEHOLDERS:
                continue
            text = prompts.text(locale, key)
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            target = audio_dir / f"{key}.wav"
            if target.exists() and key not in manifest:
                log.info("keeping recorded prompt %s", target)  # a person's recording wins
                continue
            if target.exists() and manifest.get(key) == digest and not force:
                continue
            tts.synthesize(text, locale, target)
            manifest[key] = digest
            written.append(target)
        if manifest != before:
            write_manifest(manifest_path, manifest)
    return written


def write_manifest(path: Path, manifest: dict[str, str]) -> None:
    """Staged beside it and renamed, and only when something changed: two builds at once (two test
    runs in one checkout) never read a half-written manifest, which would make every generated
    prompt look like a person's recording and never be regenerated again."""
    staged = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    staged.write_text(json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True))
    os.replace(staged, path)
