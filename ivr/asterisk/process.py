"""Start, watch and stop the managed Asterisk (inside its chroot), like the Asterisk testsuite does:
start with our own asterisk.conf, wait until fully booted and AMI answers, stop gracefully, then kill.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..config import Settings
from . import rootfs, shim
from .render import render
from .secret import ami_secret

log = logging.getLogger(__name__)


class AsteriskError(RuntimeError):
    pass


def _conf_in_chroot(settings: Settings) -> str:
    return f"{settings.asterisk_dir_in_chroot}/etc/asterisk.conf"


def pid_file(settings: Settings) -> Path:
    return settings.instance_dir / "asterisk.pid"


def console_log(settings: Settings) -> Path:
    return settings.instance_dir / "asterisk-console.log"


def running_pid(settings: Settings) -> int | None:
    try:
        pid = int(pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # a zombie child of ours still answers kill(0): reap it if it is one
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return None
    except ChildProcessError:
        pass
    return pid


def cli(settings: Settings, command: str, *, timeout: float = 15) -> str:
    """Run one Asterisk CLI command over the control socket (`asterisk -rx`)."""
    proc = subprocess.run(["chroot", str(settings.rootfs), "/usr/sbin/asterisk", "-C", _conf_in_chroot(settings),
                           "-rx", command], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AsteriskError(f"asterisk -rx {command!r} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def ami_login_ok(settings: Settings, timeout: float = 2.0) -> bool:
    """A synchronous health check: can we log in to AMI with our secret?"""
    try:
        with socket.create_connection((settings.ami_host, settings.ami_port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            f = sock.makefile("rwb")
            banner = f.readline()
            if not banner.startswith(b"Asterisk Call Manager"):
                return False
            f.write(f"Action: Login\r\nUsername: {settings.ami_user}\r\nSecret: {ami_secret(settings)}\r\n"
                    "Events: off\r\n\r\n".encode())
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


def start(settings: Settings, *, timeout: float = 60.0, configure=render) -> int:
    """Render the configuration, start Asterisk and wait until it is fully booted and AMI answers.

    `configure(settings)` writes the instance's etc/ (default: our own configuration); a test that
    needs another PBX beside ours (a carrier, a lender's PBX) passes its own and is started, waited
    on and stopped exactly like ours."""
    if settings.asterisk_mode != "managed":
        raise AsteriskError("asterisk_mode is not 'managed': start your own Asterisk")
    pid = running_pid(settings)
    if pid:
        log.info("asterisk already running (pid %s)", pid)
        return pid
    if not rootfs.is_installed(settings):
        raise AsteriskError("Asterisk is not installed: run `ivr asterisk install`")
    configure(settings)
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    if settings.bind.startswith("127."):
        # nothing of Asterisk's may bind beyond loopback (see shim/loopback_bind.c)
        env["LD_PRELOAD"] = shim.ensure(settings.rootfs)
    logfile = open(console_log(settings), "ab")
    proc = subprocess.Popen(
        ["chroot", str(settings.rootfs), "/usr/sbin/asterisk", "-C", _conf_in_chroot(settings), "-f", "-n", "-q"],
        stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    pid_file(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    booted = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AsteriskError(f"asterisk exited with {proc.returncode} during start; see {console_log(settings)} "
                                f"and {settings.asterisk_dir / 'log/messages.log'}")
        if not booted:
            try:
                cli(settings, "core waitfullybooted", timeout=5)
                booted = True
            except (AsteriskError, subprocess.TimeoutExpired):
                time.sleep(0.1)
                continue
        if ami_login_ok(settings):
            log.info("asterisk started (pid %s), AMI on %s:%s", proc.pid, settings.ami_host, settings.ami_port)
            return proc.pid
        time.sleep(0.1)
    stop(settings)
    raise AsteriskError(f"asterisk did not become ready within {timeout:.0f} s")


def stop(settings: Settings, *, timeout: float = 10.0) -> bool:
    """Stop gracefully (`core stop now`), then SIGTERM, then SIGKILL. True if it was running."""
    pid = running_pid(settings)
    if not pid:
        return False
    try:
        cli(settings, "core stop now", timeout=5)
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
            if not running_pid(settings):
                pid_file(settings).unlink(missing_ok=True)
                return True
            time.sleep(0.1)
    raise AsteriskError(f"asterisk (pid {pid}) would not stop")


def status(settings: Settings) -> dict:
    pid = running_pid(settings)
    info = {"instance": settings.instance, "running": bool(pid), "pid": pid,
            "installed": rootfs.is_installed(settings), "ami": f"{settings.ami_host}:{settings.ami_port}",
            "sip": f"{settings.bind}:{settings.sip_port}"}
    if pid:
        info["ami_login"] = ami_login_ok(settings)
        try:
            info["uptime"] = cli(settings, "core show uptime seconds").strip()
        except (AsteriskError, subprocess.TimeoutExpired) as exc:
            info["uptime"] = f"unknown ({exc})"
    return info
