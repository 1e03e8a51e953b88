"""A whole test stack (Asterisk, dialog server, simulated phones) for one test module."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from ivr.config import Settings
from ivr.stack import Stack, ensure_installed


@contextlib.contextmanager
def running_stack(settings: Settings, personas: dict, *, run_dir: str = "run", **stack_options) -> Iterator[Stack]:
    """Install what the stack needs, write `personas` beside the settings' database, start a
    `Stack` (run files under `run_dir` there; "" for that directory itself) and stop it on exit.
    `settings` come from the `stack_settings` fixture, so two test runs never share a port or a
    directory."""
    out = settings.database.parent
    ensure_installed(settings)
    path = out / "personas.json"
    path.write_text(json.dumps(personas, ensure_ascii=False))
    stack = Stack(settings, out / run_dir if run_dir else out, path, **stack_options)
    try:
        stack.start()     # inside: a stack that started halfway is stopped too
        yield stack
    finally:
        stack.stop()
