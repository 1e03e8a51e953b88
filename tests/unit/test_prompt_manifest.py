"""`ivr prompts build` and two builds at once (two test runs in one checkout share prompts/<locale>/audio):
an unchanged manifest is not rewritten, and a changed one is replaced whole, never written in place."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ivr import tts
from ivr.config import REPO_ROOT, Settings
from ivr.dialog import prompts


@dataclass(frozen=True)
class PromptsIn(Settings):
    """Settings whose prompts directory is a copy under tmp_path (the real one is the checkout's)."""
    root: str = ""

    @property
    def prompts_dir(self) -> Path:
        return Path(self.root)


def fake_synthesize(text, locale, out_path, **_):
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_bytes(text.encode())
    return out_path


def copy_prompts(tmp_path) -> PromptsIn:
    for locale_dir in (REPO_ROOT / "prompts").iterdir():
        if (locale_dir / "prompts.yaml").is_file():
            (tmp_path / locale_dir.name).mkdir()
            shutil.copy(locale_dir / "prompts.yaml", tmp_path / locale_dir.name / "prompts.yaml")
    return PromptsIn(root=str(tmp_path))


def test_an_unchanged_manifest_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(tts, "synthesize", fake_synthesize)
    settings = copy_prompts(tmp_path)
    assert prompts.build(settings)  # the first build generates the install-time prompts
    manifest = tmp_path / "zh-CN" / "audio" / prompts.MANIFEST
    os.utime(manifest, ns=(1_000_000_000, 1_000_000_000))
    assert prompts.build(settings) == []
    assert manifest.stat().st_mtime_ns == 1_000_000_000


def test_a_changed_manifest_is_replaced_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(tts, "synthesize", fake_synthesize)
    settings = copy_prompts(tmp_path)
    prompts.build(settings)
    manifest = tmp_path / "zh-CN" / "audio" / prompts.MANIFEST
    inode = manifest.stat().st_ino
    yaml_path = tmp_path / "zh-CN" / "prompts.yaml"
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace("回访中心", "客户中心"), encoding="utf-8")
    written = prompts.build(settings)
    assert [p.name for p in written] == ["greeting.wav"]
    assert manifest.stat().st_ino != inode  # a new file renamed over the old one: readers see old or new
    assert [p.name for p in manifest.parent.iterdir() if p.name.endswith(".tmp")] == []
