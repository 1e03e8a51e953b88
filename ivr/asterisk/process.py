"""Start, watch and stop an Asterisk inside the rootfs chroot, like the Asterisk testsuite does:
start with our own asterisk.conf, wait until fully booted and AMI answers, stop gracefully, then kill.

`Instance` says where one Asterisk's configuration and state live, so the same launching code runs
the managed Asterisk (`start`/`stop`, configuration rendered from our templates) and any other
configuration written into the rootfs (the integration tests' lender PBX, `launch`/`halt`).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from . import rootfs, shim
from .render import render
from .secret import ami_secret

log = logging.getLogger(__name__)


class AsteriskError(RuntimeError):
    pass


@dataclass(frozen=True)
class Instance:
    """One Asterisk in the rootfs: its asterisk.conf (as the chroot sees it), where its pid file and
    console log go (host), its messages log (host) and how to log in to its AMI."""
    rootfs: Path
    conf_in_chroot: str
    state_dir: Path
    messages_log: Path
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    loopback_only: bool = True

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "asterisk.pid"

    @property
    def console_log(self) -> Path:
        return self.state_dir / "asterisk-console.log"


def managed_instance(settings: Settings) -> Instance:
    """The managed Asterisk of these settings."""
    return Instance(rootfs=Path(settings.rootfs), conf_in_chroot=_conf_in_chroot(settings),
                    state_dir=settings.instance_dir, messages_log=settings.asterisk_dir / "log/messages.log",
                    ami_host=settings.ami_host, ami_port=settings.ami_port_effective, ami_user=settings.ami_user,
                    ami_secret=ami_secret(settings), loopback_only=settings.bind.startswith("127."))


def _conf_in_chroot(settings: Settings) -> str:
    return f"{settings.asterisk_dir_in_chroot}/etc/asterisk.conf"


def pid_file(settings: Settings) -> Path:
    return settings.instance_dir / "asterisk.pid"


def console_log(settings: Settings) -> Path:
    return settings.instance_dir / "asterisk-console.log"


def _pid_of(inst: Instance) -> int | None:
    try:
        pid = int(inst.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid if _runs_instance(pid, inst) else None
    # a zombie child of ours still answers kill(0): reap it if it is one
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return None
    except ChildProcessError:
        pass
    return pid if _runs_instance(pid, inst) else None


def _runs_instance(pid: int, inst: Instance) -> bool:
    """Whether `pid` is this instance's Asterisk (or the chroot about to exec it): its command line
    names the instance's asterisk.conf. A pid file outlives an Asterisk that was SIGKILLed, and the
    kernel hands its pid to another process sooner or later (pid_max is 32768 here): without this
    check a test run an hour later took an unrelated process for node 1's Asterisk, skipped starting
    it, and tried to stop that process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return inst.conf_in_chroot.encode() in argv


def running_pid(settings: Settings) -> int | None:
    return _pid_of(managed_instance(settings))


def run_cli(inst: Instance, command: str, *, timeout: float = 15) -> str:
    """Run one Asterisk CLI command over the instance's control socket (`asterisk -rx`)."""
    proc = subprocess.run(["chroot", str(inst.rootfs), "/usr/sbin/asterisk", "-C", inst.conf_in_chroot,
                           "-rx", command], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AsteriskError(f"asterisk -rx {command!r} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def cli(settings: Settings, command: str, *, timeout: float = 15) -> str:
    """Run one CLI command on the managed Asterisk."""
    return run_cli(managed_instance(settings), command, timeout=timeout)


def _ami_login_ok(host: str, port: int, user: str, secret: str, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            f = sock.makefile("rwb")
            banner = f.readline()
            if not banner.startswith(b"Asterisk Call Manager"):
                return False
            f.write(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n".encode())
            f.flush()
            lines = []
            while True:
                line = f.readline()
                if not line or line in (b"\r\n", b"\n"):
                    break
                lines.append(line)
            ok = any(l.lower().startswith(b"response: success") for l in lines)
            f.write(b"Action: Logoff\r\n\r\n")
            f.flush()
            return ok
    except OSError:
        return False


def ami_login_ok(settings: Settings, timeout: float = 2.0) -> bool:
    """A synchronous health check: can we log in to AMI with our secret?"""
    return _ami_login_ok(settings.ami_host, settings.ami_port_effective, settings.ami_user, ami_secret(settings),
                         timeout)


def launch(inst: Instance, *, timeout: float = 60.0) -> int:
    """Start the Asterisk whose configuration is already in place; wait until fully booted and its
    AMI accepts our login. Returns its pid (the running one's if it already runs)."""
    pid = _pid_of(inst)
    if pid:
        log.info("asterisk already running (pid %s)", pid)
        return pid
    inst.state_dir.mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    if inst.loopback_only:
        # nothing of Asterisk's may bind beyond loopback (see shim/loopback_bind.c)
        env["LD_PRELOAD"] = shim.ensure(inst.rootfs)
    logfile = open(inst.console_log, "ab")
    proc = subprocess.Popen(
        ["chroot", str(inst.rootfs), "/usr/sbin/asterisk", "-C", inst.conf_in_chroot, "-f", "-n", "-q"],
        stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    inst.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    booted = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AsteriskError(f"asterisk exited with {proc.returncode} during start; see {inst.console_log} "
                                f"and {inst.messages_log}")
        if not booted:
            try:
                run_cli(inst, "core waitfullybooted", timeout=5)
                booted = True
            except (AsteriskError, subprocess.TimeoutExpired):
                time.sleep(0.1)
                continue
        if _ami_login_ok(inst.ami_host, inst.ami_port, inst.ami_user, inst.ami_secret):
            log.info("asterisk started (pid %s), AMI on %s:%s", proc.pid, inst.ami_host, inst.ami_port)
            return proc.pid
        time.sleep(0.1)
    halt(inst)
    raise AsteriskError(f"asterisk did not become ready within {timeout:.0f} s; see {inst.messages_log}")


def start(settings: Settings, *, timeout: float = 60.0, configure=render) -> int:
    """Render the configuration, start the managed Asterisk and wait until it is ready.

    `configure(settings)` writes the instance's etc/ (default: our own configuration); a test that
    needs another PBX beside ours (a carrier, a lender's PBX) passes its own and is started, waited
    on and stopped exactly like ours."""
    if settings.asterisk_mode != "managed":
        raise AsteriskError("asterisk_mode is not 'managed': start your own Asterisk")
    if not rootfs.is_installed(settings):
        raise AsteriskError("Asterisk is not installed: run `ivr asterisk install`")
    inst = managed_instance(settings)
    if not _pid_of(inst):
        configure(settings)
    return launch(inst, timeout=timeout)


def halt(inst: Instance, *, timeout: float = 10.0) -> bool:
    """Stop gracefully (`core stop now`), then SIGTERM, then SIGKILL. True if it was running."""
    pid = _pid_of(inst)
    if not pid:
        return False
    try:
        run_cli(inst, "core stop now", timeout=5)
    except (AsteriskError, subprocess.TimeoutExpired):
        pass
    for sig, wait in ((None, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if sig is not None:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_of(inst):
                inst.pid_file.unlink(missing_ok=True)
                return True
            time.sleep(0.1)
    raise AsteriskError(f"asterisk (pid {pid}) would not stop")


def stop(settings: Settings, *, timeout: float = 10.0) -> bool:
    """Stop the managed Asterisk. True if it was running."""
    return halt(managed_instance(settings), timeout=timeout)


def status(settings: Settings) -> dict:
    pid = running_pid(settings)
    info = {"instance": settings.instance, "running": bool(pid), "pid": pid,
            "installed": rootfs.is_installed(settings), "ami": f"{settings.ami_host}:{settings.ami_port_effective}",
            "sip": f"{settings.bind}:{settings.sip_port}"}
    if pid:
        info["ami_login"] = ami_login_ok(settings)
        try:
            info["uptime"] = cli(settings, "core show uptime seconds").strip()
        except (AsteriskError, subprocess.TimeoutExpired) as exc:
            info["uptime"] = f"unknown ({exc})"
    return info
