"""`ivr notify run` names what is wrong with an empty --notify-config instead of failing on a None notifier."""
from __future__ import annotations

from ivr import cli


def test_an_empty_notify_config_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("IVR_DATABASE_URL", raising=False)
    monkeypatch.setenv("IVR_DATABASE", str(tmp_path / "huifang.db"))
    assert cli.main(["notify", "run", "--notify-config", "", "--once"]) == 2
    err = capsys.readouterr().err
    assert "--notify-config must name the TOML file" in err
    assert "NoneType" not in err
