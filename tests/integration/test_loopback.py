"""Nothing of ours is reachable from beyond this machine: every socket of Asterisk, the dialog server
and the phones is bound to loopback, and every SDP offer and answer advertises 127.0.0.1.

SQLite only: it is about sockets and SDP; the database engine changes neither."""
from __future__ import annotations

import re
import subprocess

import pytest

from ivr.asterisk import process as asterisk

pytestmark = pytest.mark.integration


def our_pids(stack, settings) -> set[int]:
    pids = {asterisk.running_pid(settings), stack.dialog.proc.pid, *stack.dialog.worker_pids().values()}
    for pool in (stack.borrowers, stack.agent_pool):
        pids.update(pool.pids)
    return {p for p in pids if p}


def test_every_socket_is_on_loopback(persona_calls, stack, settings):
    out = subprocess.run(["ss", "-tulpnH"], capture_output=True, text=True, check=True).stdout
    pids = our_pids(stack, settings)
    ours = [line for line in out.splitlines() if any(f"pid={p}," in line for p in pids)]
    assert len(ours) >= 6, out  # AMI, SIP, AGI, AudioSocket, the phones' SIP ...
    worker_listeners = [line for line in ours if f"pid={min(stack.dialog.worker_pids().values())}," in line]
    assert len(worker_listeners) >= 3, out   # a dialog worker's FastAGI, AudioSocket and metrics
    for line in ours:
        local = line.split()[4]
        assert local.startswith("127.") or local.startswith("[::1]"), line


def test_sdp_advertises_loopback_only(persona_calls, settings):
    log = (settings.asterisk_dir / "log" / "messages.log").read_text(errors="replace")
    addresses = re.findall(r"^(?:c=IN IP4|o=\S+ \d+ \d+ IN IP4) (\S+)", log, re.M)
    assert len(addresses) >= 20  # offers and answers of every answered call, both directions
    assert set(addresses) == {"127.0.0.1"}
