"""The rendered Asterisk configuration keeps every socket on loopback and never uses a default secret."""
from __future__ import annotations

import re
import stat

from ivr import config
from ivr.asterisk import render
from ivr.asterisk.secret import ami_secret


def settings_for(tmp_path):
    return config.load(env={}).replace(cache_dir=tmp_path / "cache", instance="unit", port_base=41000)


def test_rendered_config_binds_only_loopback(tmp_path):
    s = settings_for(tmp_path)
    etc = render.render(s)
    texts = {p.name: p.read_text() for p in etc.glob("*.conf")}
    assert "bindaddr = 127.0.0.1" in texts["manager.conf"]
    assert "port = 41038" in texts["manager.conf"]
    assert "bind = 127.0.0.1:41060" in texts["pjsip.conf"]
    for name, text in texts.items():
        assert "0.0.0.0:" not in text, name
        assert "@@" not in text, f"unrendered placeholder in {name}"
        for line in text.splitlines():
            if line.split("=")[0].strip() in ("deny", "permit"):
                continue  # ACL masks, not addresses we use
            for addr in re.findall(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", line):
                assert addr.startswith("127."), (name, line)
    assert re.search(r"^\[directories\]$", texts["asterisk.conf"], re.M)  # not a (!) template section
    assert "autoload = no" in texts["modules.conf"]
    assert stat.S_IMODE((etc / "manager.conf").stat().st_mode) == 0o600


def test_ami_secret_is_generated_once_private_and_not_default(tmp_path):
    s = settings_for(tmp_path)
    first = ami_secret(s)
    assert len(first) >= 24 and first not in ("amp111", "secret", "password")
    assert ami_secret(s) == first
    path = s.cache_dir / "ami.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other = settings_for(tmp_path / "elsewhere")
    assert ami_secret(other) != first
    assert f"secret = {first}" in (render.render(s) / "manager.conf").read_text()


def test_dialplan_for_an_external_asterisk(tmp_path):
    s = settings_for(tmp_path).replace(asterisk_mode="external", asterisk_media_dir="/var/spool/huifang")
    text = render.render_dialplan(s)
    assert "Set(IVR_RECORDING=/var/spool/huifang/recordings/${IVR_ATTEMPT}.wav)" in text
    assert "Playback(/var/spool/huifang/sounds/" in text and "/srv/huifang" not in text
    assert "MixMonitor(${IVR_RECORDING})" in text
    assert "agi://127.0.0.1:41073/followup" in text
    assert "exten => failed," in text and "hangup_handler_push" in text


def test_the_benchmark_baseline_exists_only_when_the_bench_asks_for_it(tmp_path):
    s = settings_for(tmp_path)
    assert "huifang-call-baseline" not in render.render_dialplan(s)
    assert "/baseline)" not in render.render_dialplan(s.replace(asterisk_mode="external"))
    with_baseline = render.render_dialplan(s.replace(bench_baseline=1))
    assert "[huifang-call-baseline]" in with_baseline
    assert "agi://127.0.0.1:41073/baseline" in with_baseline and "@@" not in with_baseline
