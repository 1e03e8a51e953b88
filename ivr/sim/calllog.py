"""The simulators' call log: JSON lines, one file per simulator run, shared by its worker processes.

Every line is written with a single `write(2)` on an O_APPEND descriptor, so lines from several
processes never interleave and each is on disk (in the page cache) as soon as it is written.

Two kinds of line:
  {"event": "incoming", "received_at", "number", "call_id", "attempt", "kind", "worker", "pid"}
      written the moment an INVITE reaches a phone;
  {"event": "call", ... the same fields ..., "status", "responses", "steps", "recording",
      "ended_at", "end_reason"}
      written when the call is over.
A call that is "incoming" without a matching "call" line was still up (or its phone crashed).
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class CallLogWriter:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self._fd = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict) -> None:
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_log(path: str | Path) -> list[dict]:
    """All lines of a call log (a torn last line, if any, is skipped)."""
    out = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def calls(path: str | Path) -> list[dict]:
    """The finished calls ("call" lines) of a call log."""
    return [r for r in read_log(path) if r.get("event") == "call"]


def calls_to(path: str | Path, number: str) -> list[dict]:
    """Every INVITE that reached the simulator for `number` ("incoming" lines): the witness for
    "this borrower was called exactly once"."""
    return [r for r in read_log(path) if r.get("event") == "incoming" and r.get("number") == number]
