"""The whole product on one box, started and stopped as one: Asterisk, dialog server, phones.
With `asterisk_mode = "external"` the Asterisk is somebody else's: it is neither started nor stopped.
Several nodes on one box (ivr/multinode.py) are several Stacks: only the first runs the borrower
phones, and the others' agent phones reuse the first one's agent accounts.

Used by `ivr demo` and by the integration tests' session fixture, so both run exactly the same
parts. Everything is started in dependency order and stopped in reverse, always.
"""
from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from .asterisk import process as asterisk
from .asterisk import rootfs
from .config import REPO_ROOT, Settings
from .dialog import prompts
from .sim.personas import load_personas
from .sim.pool import PhonePool

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    pass


def ensure_installed(settings: Settings) -> None:
    """Everything a run needs that is built once: the Asterisk rootfs and the prompt audio."""
    rootfs.install(settings)
    prompts.build(settings)


class DialogProcess:
    """`ivr dialog serve` as a child process, ready once it prints its ready line (the supervisor
    prints it once each of its workers is ready: ivr/dialog/workers.py)."""

    def __init__(self, settings: Settings, log_path: Path, env: dict | None = None):
        self.settings = settings
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> None:
        env = dict(os.environ)
        env.update(self.settings.to_env())
        env.update(self.env)
        env["PYTHONPATH"] = str(REPO_ROOT)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "dialog", "serve"], cwd=str(REPO_ROOT),
                                     env=env, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self._log.write(line)
                self._log.flush()
                if b"dialog server ready" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StackError(f"dialog server did not start; see {self.log_path}")

    def worker_pids(self) -> dict[int, int]:
        """The running workers' pids by worker index, from their command lines (`--worker N`)."""
        if self.proc is None or self.proc.poll() is not None:
            return {}
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return {}
        out = {}
        for pid in map(int, children):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:   # it just ended
                continue
            if b"--worker" in argv:
                out[int(argv[argv.index(b"--worker") + 1])] = pid
        return out

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        """For fault tests: the dialog server dies without warning (its workers with it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


SIMULATED_AGENTS = ("agent1", "agent2")


def provision_simulated_agents(settings: Settings, names, accounts_path: Path, registrar: str | None = None) -> Path:
    """The simulated agents' endpoints get fresh credentials (as an admin would make them), and the
    phones' accounts file holds the passwords (mode 0600, beside the run's other files): the phones
    REGISTER with them like real desk phones."""
    import json

    from .agents import credentials, endpoints
    from .agents.apply import apply
    from .db.connect import open_database
    from .db.store import store_of
    db = open_database(settings)
    try:
        accounts = [{"name": n, "username": credentials.sip_username(n),
                     "password": endpoints.ensure(db, n, by="simulator")} for n in names]
    finally:
        store_of(db).close()
    accounts_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(accounts_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"registrar": registrar or f"{settings.bind}:{settings.sip_port}", "accounts": accounts}, fh)
    log.info("simulated agents %s: %s", ", ".join(names), apply(settings))
    return accounts_path


def reuse_agent_accounts(source: Path, accounts_path: Path, registrar: str) -> Path:
    """Another node's agent accounts (same database, so the same endpoints and passwords), for agent
    phones that register to this node's Asterisk at `registrar` ("host:port")."""
    import json
    data = json.loads(Path(source).read_text())
    accounts_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(accounts_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({**data, "registrar": registrar}, fh)
    return accounts_path


class Stack:
    def __init__(self, settings: Settings, out_dir: Path, personas_path: Path, *, agents: bool = True,
                 agent_say: str = "", agent_locale: str = "zh-CN", agent_hangup_after_ms: int | None = 4000,
                 dialog_env: dict | None = None, agent_names=SIMULATED_AGENTS, agent_registrar: str | None = None,
                 on_agents_provisioned=None, borrowers: bool = True, agent_accounts_from: Path | None = None):
        """`agent_registrar` ("host:port"): where the agents' phones register (default: the managed
        Asterisk). `on_agents_provisioned(settings)`: with an external Asterisk, what its operator
        does after `ivr agent add` (paste `ivr agent conf`, reload) before the phones register.
        `borrowers`: run the borrower phones (False: another node's stack runs them). With
        `agent_accounts_from` (another node's accounts file) the agents are not provisioned again:
        this stack's agent phones register with those accounts to its own Asterisk."""
        self.settings = settings
        self.out = Path(out_dir)
        self.personas_path = Path(personas_path)
        self.personas = load_personas(self.personas_path)
        self.agents = agents
        self.run_borrowers = borrowers
        self.agent_accounts_from = Path(agent_accounts_from) if agent_accounts_from else None
        self.agent_names = tuple(agent_names)
        self.agent_accounts = self.out / "phones" / "agent-accounts.json"
        self.agent_registrar = agent_registrar
        self.on_agents_provisioned = on_agents_provisioned
        self.agent_options = dict(say=agent_say, locale=agent_locale, hangup_after_ms=agent_hangup_after_ms)
        self.dialog = DialogProcess(settings, self.out / "dialog.log", env=dialog_env)
        self.borrowers: PhonePool | None = None
        self.agent_pool: PhonePool | None = None
        self.calls_log = self.out / "phones" / "borrower-calls.jsonl"
        self.agent_log = self.out / "phones" / "agent-calls.jsonl"

    def start(self) -> "Stack":
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            if self.agents and self.agent_accounts_from is not None:
                reuse_agent_accounts(self.agent_accounts_from, self.agent_accounts,
                                     self.agent_registrar or f"{self.settings.bind}:{self.settings.sip_port}")
            elif self.agents:
                provision_simulated_agents(self.settings, self.agent_names, self.agent_accounts, self.agent_registrar)
                if self.on_agents_provisioned is not None:
                    self.on_agents_provisioned(self.settings)
            if self.settings.asterisk_mode == "managed":
                asterisk.start(self.settings)
            self.dialog.start()
            if self.run_borrowers:
                workers = max(1, min(8, math.ceil(len(self.personas) / 3)))
                self.borrowers = PhonePool(self.settings, self.personas_path, self.calls_log,
                                           self.out / "phones" / "heard", workers=workers, kind="borrower").start()
            if self.agents:
                self.agent_pool = PhonePool(self.settings, None, self.agent_log, self.out / "phones" / "agent-heard",
                                            kind="agent", accounts_path=self.agent_accounts,
                                            **self.agent_options).start()
                refused = {n: c for n, c in self.agent_pool.registrations.items() if c != 200}
                if refused or set(self.agent_pool.registrations) != set(self.agent_names):
                    raise StackError(f"agent phones did not register: {refused or self.agent_pool.registrations}")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for part in (self.agent_pool, self.borrowers):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # stopping must go on whatever one part does
                    log.exception("stopping phones failed")
        self.dialog.stop()
        if self.settings.asterisk_mode != "managed":
            return
        try:
            asterisk.stop(self.settings)
        except Exception:
            log.exception("stopping asterisk failed")

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
