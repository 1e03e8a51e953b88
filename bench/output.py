"""Where benches write: a fresh directory under the repository's `runs/` (ignored by git), never
beside the tracked sources and never in a temp directory nobody finds again."""
from __future__ import annotations

import time
from pathlib import Path

RUNS = Path(__file__).resolve().parent.parent / "runs"


def run_dir(prefix: str) -> Path:
    """runs/<prefix>-<UTC time>, created."""
    path = RUNS / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    path.mkdir(parents=True, exist_ok=True)
    return path
