"""PhonePool: run a simulator (dispatcher + phone processes) from Python, e.g. in a test.

    with PhonePool(settings, "personas.json", "calls.jsonl", "rec/", workers=3) as pool:
        ...  # Asterisk dials sip:<number>@127.0.0.1:<pool.port>
    calllog.calls_to("calls.jsonl", "13800000001")

It runs `python -m ivr.sim borrower|agent ...` as one child process (which starts its own phone
processes) and waits for its READY line.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ivr.config import REPO_ROOT, Settings
from ivr.sim.phone import STATUS_PREFIX

# the agent pool's RTP block starts this many 100-port blocks above sim_rtp_base
AGENT_RTP_SLOT = 8


class PhonePool:
    def __init__(self, settings: Settings, personas_path: str | Path | None, log_path: str | Path,
                 record_dir: str | Path, workers: int | None = None, kind: str = "borrower", *,
                 port: int | None = None, rtp_base: int | None = None, tts_cache: str | Path | None = None,
                 answer_after_ms: int = 500, say: str = "", locale: str = "zh-CN",
                 hangup_after_ms: int | None = None, start_timeout_s: float = 30.0, verbose: bool = False,
                 accounts_path: str | Path | None = None):
        if kind not in ("borrower", "agent"):
            raise ValueError(f"kind must be 'borrower' or 'agent', not {kind!r}")
        if kind == "borrower" and not personas_path:
            raise ValueError("a borrower pool needs a personas file")
        self.settings = settings
        self.kind = kind
        self.personas_path = Path(personas_path) if personas_path else None
        self.log_path = Path(log_path)
        self.record_dir = Path(record_dir)
        self.workers = workers or (3 if kind == "borrower" else 1)
        self.port = port or (settings.trunk_port_effective if kind == "borrower" else settings.agent_port)
        self.rtp_base = rtp_base or settings.sim_rtp_base + (0 if kind == "borrower" else 100 * AGENT_RTP_SLOT)
        self.tts_cache = Path(tts_cache) if tts_cache else Path(settings.cache_dir) / "tts"
        self.agent_args = dict(answer_after_ms=answer_after_ms, say=say, locale=locale, hangup_after_ms=hangup_after_ms)
        self.start_timeout_s = start_timeout_s
        self.verbose = verbose
        # agent phones that REGISTER (ivr/sim/phone.py registered_accounts); {name: final SIP code}
        self.accounts_path = Path(accounts_path) if accounts_path else None
        self.registrations: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        self.worker_ports: list[int] = []
        self.startup_s: float | None = None
        self._output: list[str] = []

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "ivr.sim", self.kind, "--log", str(self.log_path),
               "--record-dir", str(self.record_dir), "--workers", str(self.workers), "--port", str(self.port),
               "--rtp-base", str(self.rtp_base), "--tts-cache", str(self.tts_cache)]
        if self.kind == "borrower":
            cmd += ["--personas", str(self.personas_path)]
        else:
            a = self.agent_args
            cmd += ["--answer-after-ms", str(a["answer_after_ms"]), "--locale", a["locale"]]
            if a["say"]:
                cmd += ["--say", a["say"]]
            if a["hangup_after_ms"]:
                cmd += ["--hangup-after-ms", str(a["hangup_after_ms"])]
            if self.accounts_path:
                cmd += ["--accounts", str(self.accounts_path)]
        if self.verbose:
            cmd.append("--verbose")
        return cmd

    def start(self) -> "PhonePool":
        if self.proc is not None:
            raise RuntimeError("pool already started")
        t0 = time.monotonic()
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=env)
        ready = threading.Event()

        def read_stdout():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith(STATUS_PREFIX + "REG "):
                    _, name, code = line[len(STATUS_PREFIX):].split()[:3]
                    self.registrations[name] = int(code)
                if line.startswith(STATUS_PREFIX + "READY"):
                    fields = dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
                    self.worker_ports = [int(p) for p in fields.get("workers", "").split(",") if p]
                    ready.set()
            ready.set()

        def read_stderr():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace")
                self._output.append(line)
                del self._output[:-200]
                if self.verbose:
                    sys.stderr.write(line)

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        if not ready.wait(self.start_timeout_s) or not self.worker_ports:
            self.stop()
            raise RuntimeError(f"{self.kind} simulator did not start; its output:\n" + "".join(self._output[-30:]))
        self.startup_s = time.monotonic() - t0
        return self

    @property
    def pids(self) -> list[int]:
        """The dispatcher's pid and its phone processes' pids (for socket checks)."""
        if self.proc is None:
            return []
        out = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            out += [int(c) for c in children]
        except OSError:
            pass
        return out

    def stderr_tail(self) -> str:
        return "".join(self._output[-50:])

    def stop(self, timeout_s: float = 8.0) -> None:
        if self.proc is None:
            return
        pids = self.pids
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the dispatcher stops its phones itself
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                for pid in pids[1:]:  # phones it may have left behind (ours: started by our child)
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.proc = None

    def __enter__(self) -> "PhonePool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
