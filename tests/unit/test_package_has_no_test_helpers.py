"""Nothing in the installed package is a test helper: importing every module of `ivr` leaves the
password hasher at its production cost (the web tests' helper lowers it, and lives under tests/)."""
import subprocess
import sys

from ivr.config import REPO_ROOT

PROBE = """
import importlib, pkgutil, sys
import ivr
skipped = []
for mod in pkgutil.walk_packages(ivr.__path__, "ivr."):
    if mod.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(mod.name)
    except ImportError as exc:      # an optional dependency (pjsua2...) missing here
        skipped.append(f"{mod.name}: {exc}")
from argon2 import PasswordHasher
from ivr.web import security
default = PasswordHasher()
h = security._hasher
print(h.time_cost, h.memory_cost, default.time_cost, default.memory_cost, len(skipped))
"""


def test_importing_every_module_keeps_password_hashing_at_production_cost():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=str(REPO_ROOT), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    time_cost, memory_cost, default_time, default_memory, _ = map(int, out.stdout.split()[-5:])
    assert (time_cost, memory_cost) == (default_time, default_memory)


def test_the_test_helpers_live_under_tests():
    assert not (REPO_ROOT / "ivr/web/testing.py").exists()
    assert not (REPO_ROOT / "ivr/dialer/fakes.py").exists()
    assert (REPO_ROOT / "tests/support/web_app.py").exists()
