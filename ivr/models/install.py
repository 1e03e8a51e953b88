"""Install a Vosk model for a locale: from a folder (used where it is) or a zip (unpacked safely).

A zip is judged from its member names before anything is written (see ``layout``), then unpacked
member by member with every name checked (no absolute paths, no "..", no links, nothing outside
the model folder), the sizes it declares capped, and the bytes actually written counted, so a
hostile or broken archive cannot write outside the models directory or fill the disk. It is
unpacked into a temporary folder beside its destination and renamed into place only once the
model's vocabulary could be read, so a failed install leaves nothing half-written behind.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import config
from ..dialog import vocab
from .layout import Layout, ModelError, files_in, inspect, require_grammar_mode

log = logging.getLogger(__name__)

LOCALES = ("zh-CN", "ko-KR")
MAX_UNPACKED = 2 * 1024**3      # bytes; vosk-model-small-cn-0.22 unpacks to well under 100 MB
MAX_MEMBERS = 10_000
MAX_RATIO = 200                 # uncompressed / compressed per member: more is a zip bomb
MARKER = "am/final.mdl"


def setting_name(locale: str) -> str:
    """The settings field holding ``locale``'s model folder (``vosk_model_zh_cn``)."""
    if locale not in LOCALES:
        raise ModelError(f"unsupported locale {locale!r}; expected one of {', '.join(LOCALES)}")
    return "vosk_model_" + locale.lower().replace("-", "_")


@dataclass
class Installed:
    locale: str
    path: Path
    layout: Layout
    words: int
    settings_file: Path | None = None   # where the path was recorded


# ---- folders --------------------------------------------------------------------------------------
def _model_root_in_dir(path: Path) -> Path:
    """``path`` itself, or its only subfolder when that holds the model (an unzipped download)."""
    if (path / MARKER).is_file():
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subdirs) == 1 and (subdirs[0] / MARKER).is_file():
        return subdirs[0]
    return path


def check_dir(path: Path) -> tuple[Path, Layout, int]:
    """(model folder, its layout, vocabulary size) or ModelError."""
    root = _model_root_in_dir(path)
    layout = inspect(files_in(str(root)))
    require_grammar_mode(str(root), layout)
    return root, layout, _vocabulary_size(root)


def _vocabulary_size(root: Path) -> int:
    try:
        return len(vocab.model_words(str(root)))
    except (OSError, vocab.VocabularyError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{root}: cannot read the model's word list ({exc})") from None


# ---- zips -----------------------------------------------------------------------------------------
def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        raise ModelError(f"unsafe path in zip: {info.filename!r}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ModelError(f"link in zip: {info.filename!r} (a model needs none)")
    if info.flag_bits & 0x1:
        raise ModelError(f"encrypted member in zip: {info.filename!r}")
    return path


def _model_root_in_zip(paths: list[PurePosixPath]) -> PurePosixPath:
    """The folder inside the zip holding ``am/final.mdl`` (the archive's top folder, usually)."""
    roots = {p.parents[1] for p in paths if p.as_posix().endswith("/" + MARKER) or p.as_posix() == MARKER}
    if len(roots) > 1:
        raise ModelError(f"several models in one zip: {', '.join(sorted(r.as_posix() for r in roots))}")
    if roots:
        return roots.pop()
    tops = {p.parts[0] for p in paths if len(p.parts) > 1}
    return PurePosixPath(tops.pop()) if len(tops) == 1 else PurePosixPath(".")


def _relative(path: PurePosixPath, root: PurePosixPath) -> str | None:
    if root == PurePosixPath("."):
        return path.as_posix()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def plan_zip(zf: zipfile.ZipFile, *, max_bytes: int = MAX_UNPACKED) -> tuple[PurePosixPath, dict[str, zipfile.ZipInfo]]:
    """(model folder inside the zip, {relative path: member}) after every safety check."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelError(f"zip has {len(infos)} members (more than {MAX_MEMBERS}): not a model")
    paths = [(_member_path(i), i) for i in infos]
    root = _model_root_in_zip([p for p, i in paths if not i.is_dir()])
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for path, info in paths:
        rel = _relative(path, root)
        if info.is_dir() or rel is None or rel in ("", "."):
            continue
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise ModelError(f"{info.filename!r} expands {info.file_size // info.compress_size}x: refusing a zip bomb")
        total += info.file_size
        if total > max_bytes:
            raise ModelError(f"zip unpacks to more than {max_bytes // 2**20} MB: refusing (see --max-size-mb)")
        members[rel] = info
    return root, members


def _unpack(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], dest: Path, max_bytes: int) -> None:
    written = 0
    for rel, info in members.items():
        target = dest.joinpath(*rel.split("/"))
        if dest.resolve() not in target.resolve().parents:
            raise ModelError(f"unsafe path in zip: {info.filename!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        left = info.file_size
        with zf.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                left -= len(chunk)
                written += len(chunk)
                if left < 0 or written > max_bytes:
                    raise ModelError(f"{info.filename!r} holds more data than the zip declares: refusing")
                out.write(chunk)


def install_zip(zip_path: Path, models_dir: Path, locale: str, *, force: bool = False,
                max_bytes: int = MAX_UNPACKED) -> tuple[Path, Layout, int]:
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{zip_path}: not a readable zip ({exc})") from None
    with zf:
        root, members = plan_zip(zf, max_bytes=max_bytes)
        layout = inspect(members)
        require_grammar_mode(str(zip_path), layout)
        name = root.name if root != PurePosixPath(".") else zip_path.stem
        dest = models_dir / locale / name
        if dest.exists() and not force:
            raise ModelError(f"{dest} already exists; use --force to replace it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
        try:
            _unpack(zf, members, tmp, max_bytes)
            words = _vocabulary_size(tmp)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest, layout, words


# ---- the whole step -------------------------------------------------------------------------------
def add(settings: config.Settings, locale: str, source: str, *, settings_path: Path | None,
        force: bool = False, max_bytes: int = MAX_UNPACKED) -> Installed:
    """Check (and for a zip, unpack) a model, then record it for ``locale`` in ``settings_path``."""
    name = setting_name(locale)
    src = Path(source).expanduser()
    if src.is_dir():
        path, layout, words = check_dir(src)
        path = path.resolve()
    elif src.is_file():
        path, layout, words = install_zip(src, Path(settings.models_dir), locale, force=force, max_bytes=max_bytes)
    else:
        raise ModelError(f"{source}: no such folder or zip")
    done = Installed(locale, path, layout, words)
    if settings_path is not None:
        config.write_setting(settings_path, name, str(path))
        done.settings_file = settings_path
    log.debug("installed %s model %s (%d words)", locale, path, words)
    return done
