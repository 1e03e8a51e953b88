"""`ivr service install`: the systemd units are rendered into a temporary prefix (never /etc), parsed,
their ExecStart commands parsed by ivr's own argument parser, and checked by `systemd-analyze verify`
when this machine has it."""
from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess

import pytest

from ivr import cli, config
from ivr.ops import units

SETTINGS = config.Settings(port_base=23000)


def _install(tmp_path, **kw):
    args = dict(prefix=str(tmp_path / "systemd"), user="huifang", config_dir=str(tmp_path / "etc"),
                state_dir=str(tmp_path / "state"))
    args.update(kw)
    return units.install(SETTINGS, **args)


def _parse(path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)   # strict: a key set twice fails
    parser.optionxform = str
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_units_have_the_required_keys_and_commands_ivr_accepts(tmp_path):
    _install(tmp_path)
    services = sorted((tmp_path / "systemd").glob("huifang-*.service"))
    assert [p.name for p in services] == ["huifang-dialer.service", "huifang-dialog.service",
                                          "huifang-notify.service", "huifang-web.service"]
    parser = cli.build_parser()
    for path, svc in zip(services, sorted(units.SERVICES, key=lambda s: s.name)):
        unit = _parse(path)
        s = unit["Service"]
        assert (s["User"], s["Group"], s["Restart"]) == ("huifang", "huifang", "on-failure")
        assert s["NoNewPrivileges"] == "yes" and s["ProtectSystem"] == "strict" and s["PrivateTmp"] == "yes"
        assert s["ReadWritePaths"] == str(tmp_path / "state") and s["ProtectHome"] in ("true", "read-only")
        assert s["CapabilityBoundingSet"] == "" and s["EnvironmentFile"] == str(tmp_path / "etc" / "huifang.env")
        assert unit["Install"]["WantedBy"] == units.TARGET
        exec_start = shlex.split(s["ExecStart"])
        assert exec_start[0] == units.default_ivr().split()[0]
        args = parser.parse_args(exec_start[-len(svc.args.split()):])   # the subcommand exists as written
        assert args.fn is not None
        port = SETTINGS.metrics_port(svc.process)
        assert f"127.0.0.1:{port}/healthz" in path.read_text()
    notify = shlex.split(_parse(tmp_path / "systemd" / "huifang-notify.service")["Service"]["ExecStart"])
    assert notify[-1] == str(tmp_path / "etc" / "notify.toml") and (tmp_path / "etc" / "notify.toml").exists()
    target = _parse(tmp_path / "systemd" / units.TARGET)
    assert set(target["Unit"]["Wants"].split()) == {p.name for p in services}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    _install(tmp_path)
    (tmp_path / "state").mkdir()
    files = sorted(str(p) for p in (tmp_path / "systemd").iterdir())
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", *files], capture_output=True, text=True,
                         timeout=60)
    # verify prints unknown keys and unparsable values without failing: any output is a defect
    assert run.returncode == 0 and run.stderr.strip() == "", run.stderr
    # and it does catch a misspelt key (so the check above can fail)
    broken = tmp_path / "systemd" / "huifang-web.service"
    broken.write_text(broken.read_text().replace("PrivateTmp=yes", "PrivateTemp=yes"))
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", str(broken)], capture_output=True, text=True,
                         timeout=60)
    assert "PrivateTemp" in run.stderr


def test_existing_settings_are_kept_and_dry_run_writes_nothing(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "huifang.env").write_text("IVR_PORT_BASE=31000\n")
    actions = {p.name: a for p, a, _ in _install(tmp_path)}
    assert actions["huifang.env"] == "keep" and actions["huifang-web.service"] == "write"
    assert (tmp_path / "etc" / "huifang.env").read_text() == "IVR_PORT_BASE=31000\n"
    dry = tmp_path / "dry"
    assert {a for _, a, _ in _install(dry, dry_run=True)} == {"dry-run"}
    assert not dry.exists()


def test_bad_options_are_refused_with_a_message(tmp_path, capsys):
    for argv in (["--user", "root"], ["--user", "a b"], ["--state-dir", "relative/dir"]):
        rc = cli.main(["service", "install", "--prefix", str(tmp_path / "u"), "--config-dir", str(tmp_path / "e"),
                       *argv])
        assert rc == 2 and "error:" in capsys.readouterr().err
    assert not (tmp_path / "u").exists()
    rc = cli.main(["service", "install", "--prefix", str(tmp_path / "u"), "--config-dir", str(tmp_path / "e"),
                   "--state-dir", str(tmp_path / "s")])
    assert rc == 0 and "systemctl daemon-reload" in capsys.readouterr().out
    assert len(list((tmp_path / "u").iterdir())) == 5
