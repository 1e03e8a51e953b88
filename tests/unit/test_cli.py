"""The command line as an operator meets it: one JSON object from `ivr nlu`, file:line from `ivr flow check`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from ivr.config import REPO_ROOT


def ivr(*args, env=None):
    full = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], capture_output=True, text=True, env=full,
                          cwd=REPO_ROOT, timeout=60)


def test_nlu_prints_exactly_one_json_object():
    out = ivr("nlu", "--locale", "zh-CN", "--step", "plan", "--today", "2026-12-01", "我 下周五 还 三千")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"intent": "promise", "date": "2026-12-11", "time": None, "amount": 3000,
                                      "digits": None}
    assert out.stdout.count("\n") == 1


def test_flow_check_reports_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: x\nstart: a\nnodes:\n  a:\n    say: greeting\n    next: b\n")
    out = ivr("flow", "check", str(bad))
    assert out.returncode == 1
    assert f"{bad}:4: node 'a' goes to missing node 'b'" in out.stderr
    assert ivr("flow", "check").returncode == 0


def test_errors_are_one_clear_line():
    out = ivr("asterisk", "status", env={"IVR_CACHE_DIR": "/nonexistent/ivr", "IVR_INSTANCE": "nope"})
    assert out.returncode == 3 and '"running": false' in out.stdout
    out = ivr("asr", "--locale", "ko-KR", "--step", "identity", "/nonexistent.wav")
    assert out.returncode == 1 and out.stderr.startswith("ivr asr: error:") and "Traceback" not in out.stderr
