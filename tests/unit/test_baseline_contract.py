"""The capacity bench's baseline dialog must stay a drop-in for the streaming one: the flow runner
calls both through the same `say` / `ask` signatures."""
from __future__ import annotations

import inspect

from ivr.dialog.baseline import AgiAudio
from ivr.dialog.turns import CallAudio


def test_baseline_audio_accepts_what_the_runner_passes():
    for name in ("say", "ask"):
        ours = inspect.signature(getattr(CallAudio, name)).parameters
        theirs = inspect.signature(getattr(AgiAudio, name)).parameters
        assert list(ours) == list(theirs), name
