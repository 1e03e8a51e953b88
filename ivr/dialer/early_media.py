"""Where a call's early media lives on this host: the one place that knows the file's name.

The dial wrapper (dialplans/huifang.conf, `[huifang-predial]`) records what the network sends before
an answer to `<recordings dir>/early-<attempt id>.sln` (raw 8 kHz signed linear, read direction).
Every reader — the announcement library, retention, the web app — asks this module, so the day the
recordings directory comes from a different setting (an external Asterisk) only this changes.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

PREFIX, SUFFIX = "early-", ".sln"
BYTES_PER_SECOND = 16000


def early_media_file(settings: Settings, attempt_id: str) -> Path:
    """The early-media capture of one attempt as this process sees it (it may not exist)."""
    return early_media_in(settings.recordings_dir, attempt_id)


def early_media_in(recordings_dir: str | Path, attempt_id: str) -> Path:
    """The capture's name inside a recordings directory (retention is handed the directory)."""
    if not attempt_id or "/" in attempt_id or attempt_id.startswith("."):
        raise ValueError(f"not an attempt id: {attempt_id!r}")
    return Path(recordings_dir) / f"{PREFIX}{attempt_id}{SUFFIX}"
