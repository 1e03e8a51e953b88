"""`ivr announcements`: cluster, list, label and import from the command line, with operator-readable
errors for a wrong file or label; on SQLite (db_path) and on PostgreSQL (database_url)."""
from __future__ import annotations

import pytest

from ivr import cli, config
from ivr.db import migrate
from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.dialer import announcement_library as lib
from ivr.dialer.early_media import early_media_file
from tests.unit.carrier_audio import line, recording, ringback

BUSY = "您拨打的电话正在通话中，请稍后再拨。"


@pytest.fixture
def setup(tmp_path, engine_url):
    toml = tmp_path / "ivr.toml"
    path = migrate.sqlite_path(engine_url)
    where = f'db_path = "{path}"' if path is not None else f'database_url = "{engine_url}"'
    toml.write_text(f'cache_dir = "{tmp_path / "cache"}"\n{where}\n')
    s = config.load(config_file=toml)
    s.recordings_dir.mkdir(parents=True)
    db = open_database(s)
    store_of(db).insert("attempts", {"id": "a1", "number": "13600000000", "locale": "zh-CN", "state": "ended",
                                     "outcome": "busy", "created_at": "2026-12-01T02:00:00.000+00:00"})
    early_media_file(s, "a1").write_bytes(line(ringback(2), recording(BUSY), seed=1).astype("<i2").tobytes())
    return toml, s, db


def run(toml, *args) -> int:
    return cli.main(["--config", str(toml), "announcements", *args])


def test_cluster_list_label_import(setup, tmp_path, capsys, request):
    toml, s, db = setup
    assert run(toml, "cluster") == 0 and "new clusters: 1" in capsys.readouterr().out
    assert run(toml, "list") == 0 and "unlabelled" in capsys.readouterr().out
    [cluster] = store_of(db).query("SELECT id FROM announcement_clusters")
    assert run(toml, "label", "42", "busy") == 1 and "no announcement cluster 42" in capsys.readouterr().err

    raw = tmp_path / "carrier-off.sln"
    raw.write_bytes(recording("您拨打的电话已关机。", "carrier-b").astype("<i2").tobytes())
    assert run(toml, "import", str(raw), "--label", "powered_off") == 0
    found = lib.current(s).match(line(ringback(3), recording("您拨打的电话已关机。", "carrier-b"), seed=3))
    assert found.reason == "powered_off"
    mp3 = tmp_path / "x.mp3"
    mp3.write_bytes(b"ID3")
    assert run(toml, "import", str(mp3), "--label", "busy") == 1 and "8 kHz mono" in capsys.readouterr().err
    assert run(toml, "import", str(tmp_path / "missing.wav"), "--label", "busy") == 1

    assert run(toml, "label", str(cluster["id"]), "busy") == 0
    assert lib.current(s).match(line(recording(BUSY), law="alaw", seed=2)).reason == "busy"
