"""Build (once) the Debian-sid root filesystem that carries our managed Asterisk 22.

Asterisk is not packaged in Debian 12, but is in sid; mmdebstrap builds a minimal sid rootfs with it
in under a minute, and we run Asterisk inside it with chroot. The rootfs lives in the cache
directory, outside the repository. A stamp records what was built (packages, suite, variant): a
second `install` with the same stamp does nothing, a changed package list rebuilds it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from ..config import Settings
from . import shim

log = logging.getLogger(__name__)

SUITE = "sid"
VARIANT = "apt"
PACKAGES = ("asterisk", "asterisk-modules")
STAMP_FILE = ".huifang-rootfs.json"
# the sid Release file on the mirror here is past its Valid-Until date
APT_OPTIONS = ('Acquire::Check-Valid-Until "false"',)


class InstallError(RuntimeError):
    pass


def wanted_stamp() -> dict:
    spec = {"suite": SUITE, "variant": VARIANT, "packages": sorted(PACKAGES), "apt": list(APT_OPTIONS)}
    spec["id"] = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return spec


def installed_stamp(rootfs: Path) -> dict | None:
    try:
        return json.loads((rootfs / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None


def is_installed(settings: Settings) -> bool:
    stamp = installed_stamp(settings.rootfs)
    return bool(stamp) and stamp.get("id") == wanted_stamp()["id"] and (settings.rootfs / "usr/sbin/asterisk").exists()


def asterisk_version(settings: Settings) -> str:
    out = subprocess.run(["chroot", str(settings.rootfs), "/usr/sbin/asterisk", "-V"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def install(settings: Settings, *, force: bool = False) -> Path:
    """Build the rootfs unless the one in place already has the wanted stamp. Returns its path."""
    rootfs = settings.rootfs
    if is_installed(settings) and not force:
        log.info("asterisk rootfs up to date at %s", rootfs)
        return rootfs
    if os.geteuid() != 0:
        raise InstallError("building the Asterisk rootfs needs root (mmdebstrap + chroot)")
    if not shutil.which("mmdebstrap"):
        raise InstallError("mmdebstrap is not installed: apt-get install mmdebstrap")
    stamp = wanted_stamp()
    staging = rootfs.with_name(rootfs.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["mmdebstrap", f"--variant={VARIANT}", "--include=" + ",".join(PACKAGES)]
    cmd += [f"--aptopt={opt}" for opt in APT_OPTIONS]
    cmd += [SUITE, str(staging)]
    log.info("building asterisk rootfs: %s", " ".join(cmd))
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InstallError(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    harden(staging)
    shim.ensure(staging)
    stamp["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    stamp["build_seconds"] = round(time.monotonic() - started, 1)
    (staging / STAMP_FILE).write_text(json.dumps(stamp, indent=2))
    if rootfs.exists():
        shutil.rmtree(rootfs)
    staging.rename(rootfs)
    log.info("asterisk rootfs ready at %s (%s)", rootfs, asterisk_version(settings))
    return rootfs


def adopt(settings: Settings) -> Path:
    """Take a rootfs that was built another way (e.g. a Docker stage FROM debian:sid with asterisk
    installed) as ours: harden it and stamp it, so `install` and `start` accept it."""
    rootfs = settings.rootfs
    if not (rootfs / "usr/sbin/asterisk").exists():
        raise InstallError(f"{rootfs} has no usr/sbin/asterisk to adopt")
    harden(rootfs)
    shim.ensure(rootfs)
    stamp = wanted_stamp()
    stamp["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    stamp["adopted"] = True
    (rootfs / STAMP_FILE).write_text(json.dumps(stamp, indent=2))
    return rootfs


def harden(rootfs: Path) -> None:
    """Keep Asterisk off the network: nothing inside the rootfs may resolve names off-box.

    res_pjsip opens resolver client sockets; with an empty resolv.conf and IP literals everywhere,
    nothing is ever sent beyond 127.0.0.1.
    """
    resolv = rootfs / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("# Huifang: intentionally empty; every address we use is an IP literal on loopback\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n")
    (rootfs / "srv/huifang").mkdir(parents=True, exist_ok=True)
