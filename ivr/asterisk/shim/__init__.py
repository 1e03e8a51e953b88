"""Build the loopback guard (loopback_bind.c) into the rootfs; see the comment in the C file."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("loopback_bind.c")
IN_CHROOT = "/usr/local/lib/huifang/loopback_bind.so"


class ShimError(RuntimeError):
    pass


def ensure(rootfs: Path) -> str:
    """Compile the shim if missing or stale; return its path as seen inside the chroot."""
    target = rootfs / IN_CHROOT.lstrip("/")
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    stamp = target.with_suffix(".sha")
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return IN_CHROOT
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise ShimError("a C compiler (gcc) is needed to build the loopback guard: apt-get install gcc")
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(target), str(SOURCE), "-ldl"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ShimError(f"building {SOURCE.name} failed:\n{proc.stderr}")
    stamp.write_text(digest)
    return IN_CHROOT
