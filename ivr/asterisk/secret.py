"""The AMI secret of a managed install: generated once, stored with mode 0600, never a default."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..config import Settings


def secret_path(settings: Settings) -> Path:
    return Path(settings.cache_dir) / "ami.secret"


def ami_secret(settings: Settings) -> str:
    """The configured secret (external Asterisk), else the per-install generated one."""
    if settings.ami_secret:
        return settings.ami_secret
    path = secret_path(settings)
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    os.chmod(path, 0o600)
    return value
