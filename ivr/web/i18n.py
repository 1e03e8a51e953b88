"""The UI language: a small message catalogue per language (i18n/<locale>.json), chosen per
user (their saved locale) or per session (the language switch); zh-CN by default.

Templates call `t("key", name=value)`; a missing key falls back to zh-CN, then to the key itself
(the unit tests check every catalogue has every key).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import g, session

DIR = Path(__file__).with_name("i18n")
LANGUAGES = ("zh-CN", "en", "ko-KR")
DEFAULT = "zh-CN"
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English", "ko-KR": "한국어"}


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    return json.loads((DIR / f"{lang}.json").read_text(encoding="utf-8"))


def current_language() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    user = g.get("user")
    if user and user["locale"] in LANGUAGES:
        return user["locale"]
    return DEFAULT


def translate(key: str, lang: str | None = None, **values: object) -> str:
    lang = lang or current_language()
    text = catalogue(lang).get(key) or catalogue(DEFAULT).get(key) or key
    if values:
        try:
            text = text.format(**values)
        except (KeyError, IndexError, ValueError):
            pass
    return text


def label(prefix: str, value) -> str:
    """An enum value shown in the UI language (state, disposition, role...); raw value when unknown."""
    if value is None or value == "":
        return ""
    key = f"{prefix}.{value}"
    lang = current_language()
    return catalogue(lang).get(key) or catalogue(DEFAULT).get(key) or str(value)


def init_app(app) -> None:
    app.jinja_env.globals.update(t=translate, label=label, LANGUAGES=LANGUAGES, LANGUAGE_NAMES=LANGUAGE_NAMES,
                                 current_language=current_language)
