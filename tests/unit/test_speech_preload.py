"""The dialog server builds every question's grammar before the first call, off the event loop."""
import asyncio

from ivr.config import Settings
from ivr.dialog import speech
from ivr.dialog.intents.common import STEPS


def test_preload_builds_every_steps_grammar_in_the_executor(monkeypatch):
    engine = speech.SpeechEngine(Settings())
    built = []
    monkeypatch.setattr(engine, "available", lambda locale: locale == "ko-KR")
    monkeypatch.setattr(engine, "model", lambda locale: object())

    def build(locale, step, model_dir, **kw):
        import threading
        built.append((locale, step, threading.current_thread().name))
        return object()

    monkeypatch.setattr(speech.grammars, "for_decoder", build)
    try:
        assert asyncio.run(engine.preload(["ko-KR", "zh-CN"])) == ["ko-KR"]
    finally:
        engine.close()
    assert [(loc, step) for loc, step, _ in built] == [("ko-KR", s) for s in STEPS]
    assert all(name.startswith("vosk") for _, _, name in built)  # not on the event loop's thread
    built.clear()
    engine.grammar("ko-KR", "identity")  # the first call's question finds it ready
    assert built == []
