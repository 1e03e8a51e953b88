"""Every path Asterisk and Huifang share comes from one media directory (ivr/asterisk/media.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr import config
from ivr.asterisk import media, render
from ivr.config import REPO_ROOT


def managed(tmp_path):
    return config.load(env={}).replace(cache_dir=tmp_path / "cache", instance="unit", port_base=41000)


def external(tmp_path, **kw):
    return managed(tmp_path).replace(asterisk_mode="external", ami_secret="s", **kw)


def test_managed_media_is_the_instance_directory_inside_the_chroot(tmp_path):
    s = managed(tmp_path)
    assert s.media_dir_in_asterisk == "/srv/huifang/unit"
    assert s.media_dir_on_host == tmp_path / "cache/asterisk-rootfs/srv/huifang/unit"
    assert s.recordings_dir == s.media_dir_on_host / "recordings"
    # a recording the managed Asterisk names is found on the host
    assert media.to_host(s, "/srv/huifang/unit/recordings/a.wav") == s.recordings_dir / "a.wav"


def test_external_default_is_the_same_path_on_both_sides(tmp_path):
    s = external(tmp_path)
    assert s.media_dir_in_asterisk == "/var/spool/asterisk/huifang"
    assert s.media_dir_on_host == Path("/var/spool/asterisk/huifang")
    assert media.to_host(s, "/var/spool/asterisk/huifang/recordings/x.wav") == \
        Path("/var/spool/asterisk/huifang/recordings/x.wav")


def test_external_mounted_elsewhere_maps_only_paths_inside_the_media_directory(tmp_path):
    s = external(tmp_path, asterisk_media_dir="/var/spool/asterisk/huifang/", media_dir="/mnt/pbx")
    assert s.media_dir_in_asterisk == "/var/spool/asterisk/huifang"
    assert media.to_host(s, "/var/spool/asterisk/huifang/recordings/early-1.sln") == \
        Path("/mnt/pbx/recordings/early-1.sln")
    # a sibling whose name merely starts the same is not inside it; nothing is re-rooted in external mode
    assert media.to_host(s, "/var/spool/asterisk/huifang-old/x.wav") == Path("/var/spool/asterisk/huifang-old/x.wav")
    assert media.to_host(s, "/tmp/x.wav") == Path("/tmp/x.wav")
    assert media.in_asterisk(s, "sounds", "zh-CN") == "/var/spool/asterisk/huifang/sounds/zh-CN"
    assert media.sound(s, "ko-KR", "no_agent") == "/var/spool/asterisk/huifang/sounds/ko-KR/no_agent"
    assert s.recordings_dir == Path("/mnt/pbx/recordings")


def test_every_absolute_path_in_the_dialplan_is_under_the_media_directory(tmp_path):
    s = external(tmp_path, asterisk_media_dir="/data/hf")
    text = render.render_dialplan(s)
    paths = re.findall(r"(?<![\w/:}])/[\w./-]+", text)
    assert paths, "the dialplan names recordings and sounds"
    assert all(p.startswith("/data/hf/") for p in paths), paths
    assert "/data/hf/recordings/${IVR_ATTEMPT}.wav" in text and "/data/hf/recordings/early-" in text
    assert "/data/hf/sounds/" in text


def test_web_app_and_retention_read_recordings_from_the_media_directory(tmp_path):
    from ivr.web import create_app
    s = external(tmp_path, asterisk_media_dir="/data/hf", media_dir=str(tmp_path / "mnt"),
                 db_path=str(tmp_path / "h.db"))
    app = create_app(s, TESTING=True)
    assert app.config["RECORDINGS_DIR"] == str(tmp_path / "mnt" / "recordings")


def test_install_sounds_copies_prompt_audio_once(tmp_path):
    prompts = tmp_path / "prompts"
    (prompts / "zh-CN" / "audio").mkdir(parents=True)
    (prompts / "zh-CN" / "audio" / "no_agent.wav").write_bytes(b"RIFF....")
    (prompts / "ko-KR").mkdir()  # no audio yet: skipped
    s = external(tmp_path, asterisk_media_dir="/data/hf", media_dir=str(tmp_path / "mnt"))
    written = media.install_sounds(s, prompts)
    assert written == [tmp_path / "mnt/sounds/zh-CN/no_agent.wav"]
    assert (tmp_path / "mnt/recordings").is_dir()
    assert media.install_sounds(s, prompts) == []
    assert media.writable_problem(tmp_path / "mnt/recordings") is None
    assert "does not exist" in media.writable_problem(tmp_path / "nowhere")


@pytest.mark.parametrize("env, message", [
    ({"IVR_ASTERISK_MODE": "remote"}, "asterisk_mode must be one of managed, external"),
    ({"IVR_ASTERISK_MODE": "external", "IVR_ASTERISK_MEDIA_DIR": "spool/huifang"}, "must be an absolute path"),
    ({"IVR_ASTERISK_MODE": "external", "IVR_MEDIA_DIR": "mnt"}, "must be an absolute path"),
    ({"IVR_ASTERISK_MEDIA_DIR": "/var/spool/x"}, "is for an external Asterisk"),
])
def test_bad_media_settings_are_refused_with_a_clear_message(env, message):
    with pytest.raises(ValueError, match=message):
        config.load(env=env)


def test_ami_port_is_a_setting_for_an_external_asterisk():
    assert config.load(env={"IVR_PORT_BASE": "20000"}).ami_port_effective == 20038
    assert config.load(env={"IVR_PORT_BASE": "20000", "IVR_AMI_PORT": "5038"}).ami_port_effective == 5038


def test_no_module_hard_codes_the_managed_media_path():
    """Only config.py (the managed default) and rootfs.py (which creates /srv/huifang) may name it."""
    offenders = []
    for path in (REPO_ROOT / "ivr").rglob("*.py"):
        if path.name in ("config.py", "rootfs.py"):
            continue
        text = path.read_text()
        if "/srv/huifang" in text or "asterisk_dir_in_chroot}/" in text and "process.py" not in path.name:
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def test_every_ami_connection_uses_the_effective_port():
    """`ami_port` is the setting (0: derived); code that connects must read `ami_port_effective`."""
    offenders = []
    for path in list((REPO_ROOT / "ivr").rglob("*.py")) + list((REPO_ROOT / "bench").rglob("*.py")):
        if path.name == "config.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(settings|s)\.ami_port\b(?!_effective)", line):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{n}")
    assert offenders == []
