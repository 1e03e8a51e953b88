"""Record the AMI events of real calls as JSON fixtures for the reducer's unit tests.

    PYTHONPATH=. .venv/bin/python scripts/record_ami.py OUT_DIR NUMBER[:LOCALE] ...

Starts a private stack (port base 26000) with tests/integration/personas.json, places one call per
number, and writes OUT_DIR/<number>.json: the attempt id and every event that belonged to it.
"""
from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from ivr import config
from ivr.db.writer import AsyncDb
from ivr.dialer.calls import CallPlacer
from ivr.stack import Stack, ensure_installed

HERE = Path(__file__).resolve().parent.parent


async def record(settings, targets):
    db = AsyncDb(settings.database)
    placer = CallPlacer(settings, db)
    seen = []
    original = placer._on_event

    async def tap(event):
        seen.append(dict(event))
        await original(event)

    placer.ami._on_event = tap
    await placer.start()
    out = {}
    for number, locale in targets:
        start = len(seen)
        aid = await placer.place(number, locale=locale)
        await placer.wait(aid, timeout=120)
        await asyncio.sleep(1.0)
        mine = [e for e in seen[start:] if aid in json.dumps(e)]
        out[number] = {"attempt_id": aid, "events": mine}
    await placer.close()
    db.close()
    return out


def main():
    out_dir = Path(sys.argv[1])
    targets = [(t.split(":")[0], (t.split(":") + ["zh-CN"])[1]) for t in sys.argv[2:]]
    tmp = Path(tempfile.mkdtemp())
    settings = config.load().replace(instance="record", port_base=26000, db_path=str(tmp / "db.sqlite"),
                                     ring_timeout_s=8)
    ensure_installed(settings)
    with Stack(settings, tmp, HERE / "tests/integration/personas.json"):
        result = asyncio.run(record(settings, targets))
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, data in result.items():
        (out_dir / f"{number}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
        print(number, len(data["events"]), "events")


if __name__ == "__main__":
    main()
