"""A demo run leaves no borrower phone number and no typed ID digits in any log file (issue 11, item 2).

Runs `ivr demo` as an operator would: a child process with the built-in personas (keypad and voice
borrowers who type their ID digits, busy / declined / unknown numbers, a hang-up mid-question,
transfers to an agent), with the dashboard served. While it is served, requests with a borrower's
number in the query string (plain, +country, grouped with spaces) go through the web app's access log.
Then every file the run wrote is read, line by line: the demo's console (controller, AMI client,
importer and web app log to it), the dialog server's log, the managed Asterisk's log directory and
its console log. The test fails with file, line number and line for any full phone number of a persona
(also written with separators, or with its leading 0 dropped as in +82 10 ...) and for any ID digits
a persona typed.

Not scanned, on purpose: the database (it keeps what the lender needs), borrowers.csv (the import
input), summary.json (the demo's result file), the simulated phones' records under phones/ (they are
the borrowers' own handsets, not Huifang) and audio.

SQLite only, for the suite's time (~4 min a run): the logs it scans are the processes' and
Asterisk's, the same on either engine; `ivr demo --postgres` would add its cluster's server.log.

Run it alone, under the stack lock:
    flock /tmp/huifang-stack.lock .venv/bin/python -m pytest -q tests/integration/test_no_pii_in_logs.py
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from ivr import config
from ivr.config import REPO_ROOT
from ivr.demo import DATA, demo_borrower
from ivr.sim.personas import load_personas

pytestmark = pytest.mark.integration

NOT_LOGS = {"huifang.db", "huifang.db-wal", "huifang.db-shm", "borrowers.csv", "summary.json"}
AUDIO = {".wav", ".sln", ".gsm", ".ulaw", ".alaw", ".raw"}
SEPARATORS = re.compile(r"%(?:25)*(?:20|2[bBdD])|[\s\-+().]")  # written or URL-encoded, even twice


def secrets_of_the_personas() -> tuple[set[str], set[str]]:
    """(every persona's number, the ID digits a persona types: its borrower's id_last4 keyed in)."""
    personas = load_personas(DATA / "personas.json")
    table = {k: v for k, v in json.loads((DATA / "borrowers.json").read_text()).items() if not k.startswith("_")}
    numbers, id_digits = set(), set()
    for number, persona in personas.items():
        numbers.add(number)
        id4 = str(demo_borrower(persona, table)["id_last4"])
        if any(step.action == "dtmf" and step.value == id4 for step in persona.steps):
            id_digits.add(id4)
    return numbers, id_digits


def log_files(out: Path, settings: config.Settings, console: Path) -> list[Path]:
    files = [console]
    for root in (out, settings.instance_dir, settings.asterisk_dir / "log"):
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path == console or path.suffix in AUDIO or path.name in NOT_LOGS:
                continue
            if out in path.parents and (out / "phones") in path.parents:
                continue
            files.append(path)
    return files


def findings(files: list[Path], numbers: set[str], id_digits: set[str]) -> list[str]:
    number_forms = numbers | {n.lstrip("0") for n in numbers}
    digit_tokens = [re.compile(rf"(?<!\d){re.escape(d)}(?!\d)") for d in id_digits]
    found = []
    for path in files:
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            joined = SEPARATORS.sub("", line)
            hits = [n for n in number_forms if n in line or n in joined]
            hits += [t.pattern for t in digit_tokens if t.search(line)]
            if hits:
                found.append(f"{path}:{i}: {hits}: {line[:300]}")
    return found


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"ivr demo exited ({proc.returncode}) before {text!r}:\n{path.read_text()[-3000:]}")
        time.sleep(1)
    pytest.fail(f"no {text!r} from ivr demo within {timeout:.0f} s:\n{path.read_text()[-3000:]}")


def get(url: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except urllib.error.HTTPError:
        pass  # a 4xx page is still a request in the access log


@pytest.mark.timeout(900)
def test_a_demo_run_leaves_no_phone_number_or_id_digits_in_any_log_file(stack_settings, tmp_path):
    settings = stack_settings("pii", instance=f"pii-{uuid.uuid4().hex[:8]}")  # a fresh Asterisk log directory
    out, console = tmp_path / "run", tmp_path / "console.log"
    env = dict(os.environ, IVR_INSTANCE=settings.instance, IVR_PORT_BASE=str(settings.port_base), PYTHONUNBUFFERED="1")
    numbers, id_digits = secrets_of_the_personas()
    assert len(numbers) >= 10 and id_digits, (numbers, id_digits)
    with open(console, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "demo", "--out", str(out)], cwd=str(REPO_ROOT),
                                env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(console, "dashboard (live monitor during the calls)", proc, 240)
        web = f"http://127.0.0.1:{settings.web_port_effective}"
        for number in sorted(numbers)[:3]:
            grouped = f"{number[:3]} {number[3:7]} {number[7:]}"
            for q in (number, "+86" + number, grouped):
                get(f"{web}/borrowers?{urllib.parse.urlencode({'q': q})}")
            get(f"{web}/borrowers/{number}")  # a number in the path (a 404 or a login redirect)
        wait_for(console, "Ctrl-C to stop.", proc, 600)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    try:
        summary = json.loads((out / "summary.json").read_text())
        assert summary["checked"] == len(numbers), summary  # every persona was called
        files = log_files(out, settings, console)
        names = {p.name for p in files}
        assert {"console.log", "dialog.log", "messages.log", "asterisk-console.log"} <= names, names
        text = {p.name: p.read_text(errors="replace") for p in files}
        # the scan reads lines that speak of these calls, masked: otherwise it would prove nothing
        assert re.search(r"originating to \*\*\*\d{4}", text["console.log"]), text["console.log"][-2000:]
        assert "/borrowers?q=***" in text["console.log"], text["console.log"][-2000:]
        assert re.search(r"via keypad text=- keys=\*\*\*\* -> digits", text["dialog.log"])
        assert "via voice text=<" in text["dialog.log"]
        problems = findings(files, numbers, id_digits)
        assert not problems, "borrower data in logs:\n" + "\n".join(problems[:40])
    finally:
        shutil.rmtree(settings.asterisk_dir, ignore_errors=True)
        shutil.rmtree(settings.instance_dir, ignore_errors=True)
