"""The one media directory Asterisk and Huifang share: recordings/ and sounds/<locale>/.

Why it looks like this: Asterisk writes the calls' recordings and plays a few sounds itself (the
apology when the dialog server is down, the no-agent message), and Huifang reads, serves and
purges those recordings. Both name the same files, but not always by the same path: the managed
Asterisk runs in a chroot, and a lender's Asterisk may be on another machine whose spool Huifang
mounts. So every such path is derived here from two settings (see ivr/config.py):

    asterisk_media_dir   the directory as Asterisk sees it     -> dialplan, AGI commands
    media_dir            the same directory as Huifang sees it -> web app, retention, announcements

and a path Asterisk reports back (the `Recording:` of a UserEvent, an AGI argument) is turned into
Huifang's view by `to_host`, never by string surgery elsewhere.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path, PurePosixPath

from ..config import Settings

log = logging.getLogger(__name__)

RECORDINGS = "recordings"
SOUNDS = "sounds"


def in_asterisk(settings: Settings, *parts: str) -> str:
    """A path under the media directory as Asterisk sees it."""
    return str(PurePosixPath(settings.media_dir_in_asterisk, *parts))


def on_host(settings: Settings, *parts: str) -> Path:
    """The same path as Huifang sees it."""
    return Path(settings.media_dir_on_host, *parts)


def to_host(settings: Settings, asterisk_path: str) -> Path:
    """Huifang's view of a path Asterisk reported. Paths outside the media directory are taken as
    they are, except that the managed Asterisk's absolute paths are inside its chroot."""
    root = PurePosixPath(settings.media_dir_in_asterisk)
    path = PurePosixPath(asterisk_path)
    if path.is_absolute() and (path == root or root in path.parents):
        return on_host(settings, *path.relative_to(root).parts)
    if settings.asterisk_mode == "managed" and path.is_absolute():
        return Path(settings.rootfs) / str(path).lstrip("/")
    return Path(asterisk_path)


def sound(settings: Settings, locale: str, name: str) -> str:
    """A prompt Asterisk plays itself, as its Playback() argument (no extension)."""
    return in_asterisk(settings, SOUNDS, locale, name)


def install_sounds(settings: Settings, prompts_dir: Path | None = None) -> list[Path]:
    """Create recordings/ and copy the prompt audio into sounds/<locale>/ (only what changed).

    Asterisk plays these itself, from the media directory, so they must be there whether Asterisk
    runs in our chroot or on the lender's machine. Returns the files written."""
    prompts_dir = prompts_dir or settings.prompts_dir
    on_host(settings, RECORDINGS).mkdir(parents=True, exist_ok=True)
    written = []
    for locale_dir in sorted(p for p in prompts_dir.iterdir() if p.is_dir()):
        audio = locale_dir / "audio"
        if not audio.is_dir():
            continue
        dest = on_host(settings, SOUNDS, locale_dir.name)
        dest.mkdir(parents=True, exist_ok=True)
        for wav in sorted(audio.glob("*.wav")):
            target = dest / wav.name
            src = wav.stat()
            try:
                old = target.stat()
                if old.st_size == src.st_size and int(old.st_mtime) == int(src.st_mtime):
                    continue
            except FileNotFoundError:
                pass
            tmp = target.with_name(target.name + ".tmp")
            shutil.copy2(wav, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            written.append(target)
    if written:
        log.info("%d sound file(s) installed under %s", len(written), on_host(settings, SOUNDS))
    return written


def writable_problem(path: Path) -> str | None:
    """Why Huifang cannot create and delete files in `path`, or None if it can."""
    if not path.is_dir():
        return f"{path} does not exist (or is not a directory)"
    probe = path / f".huifang-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{path} is not writable by Huifang: {exc.strerror}"
    return None
