"""The settings of every property (hypothesis) test: `fuzz_settings(max_examples, **more)`.

In the README's test command the property tests are derandomized: each tries the same examples on
every machine and every run, so the suite turns red when the code changes, not when a random seed
happens to land on an old bug (CI once failed on a loan id '/0' that no commit had touched, and
would have passed on the next run). Exploring is a separate command, `make fuzz`
(IVR_FUZZ=explore): fresh random examples, IVR_FUZZ_FACTOR (default 10) times as many, failures
kept in .hypothesis/ to replay. What it finds becomes an `@example` next to the test, and a fix.
"""
from __future__ import annotations

import os

from hypothesis import settings

EXPLORING = os.environ.get("IVR_FUZZ", "") == "explore"
FACTOR = int(os.environ.get("IVR_FUZZ_FACTOR", "10")) if EXPLORING else 1


def fuzz_settings(max_examples: int, **more) -> settings:
    more.setdefault("deadline", None)
    if EXPLORING:
        return settings(max_examples=max_examples * FACTOR, derandomize=False, **more)
    return settings(max_examples=max_examples, derandomize=True, database=None, **more)


def load_profile() -> None:
    """The same rule for a property test written without fuzz_settings (called by tests/conftest.py)."""
    if EXPLORING:
        settings.register_profile("explore", max_examples=100 * FACTOR, derandomize=False)
        settings.load_profile("explore")
    else:
        settings.register_profile("suite", derandomize=True, database=None)
        settings.load_profile("suite")
