"""Several nodes from one settings (ivr/multinode.py): each its own ports, instance and node name, all
on one database and one trunk; impossible layouts refused with a message; the demo table names the
node of each call."""
from __future__ import annotations

import pytest

from ivr.config import Settings
from ivr.demo_report import summarize, table_lines
from ivr.multinode import NodesError, joined, node_capacity, spread


def test_spread_gives_each_node_its_own_ports_and_name_and_one_database_and_trunk(tmp_path):
    base = Settings(instance="demo", port_base=15000, db_path=str(tmp_path / "huifang.db"))
    n1, n2 = spread(base, 2)
    assert (n1.instance, n1.node, n1.port_base) == ("demo-n1", "demo-n1", 15000)
    assert (n2.instance, n2.node, n2.port_base) == ("demo-n2", "demo-n2", 18000)
    assert n1.database == n2.database == tmp_path / "huifang.db"
    assert n1.database_url_effective == n2.database_url_effective
    assert n1.trunk_port_effective == n2.trunk_port_effective == 15070          # node 1's borrower phones
    ports = [{s.sip_port, s.ami_port_effective, s.agi_port, s.audiosocket_port, s.agent_port,
              s.metrics_port("dialer"), s.metrics_port("dialog")} for s in (n1, n2)]
    assert not ports[0] & ports[1]
    assert n1.rtp_range[1] < n2.port_base and n1.sim_rtp_base + 999 < n2.port_base
    assert n1.asterisk_dir != n2.asterisk_dir and n1.recordings_dir != n2.recordings_dir


def test_joined_keeps_given_node_names_and_hands_node_ones_database_url_to_all(tmp_path):
    url = "postgresql://huifang@127.0.0.1:5433/demo"
    a = Settings(instance="it-20000", port_base=20000, database_url=url, node_name="east")
    b = Settings(instance="it-23000", port_base=23000, db_path=str(tmp_path / "other.db"))
    ja, jb = joined([a, b])
    assert (ja.node, jb.node) == ("east", "it-23000")
    assert ja.database_url_effective == jb.database_url_effective == "postgresql+psycopg://huifang@127.0.0.1:5433/demo"
    assert jb.trunk_port_effective == 20070
    with pytest.raises(NodesError, match="port_base"):
        joined([a, a.replace(instance="x", node_name="west")])
    with pytest.raises(NodesError, match="node name"):
        joined([a, b.replace(node_name="east")])


@pytest.mark.parametrize("changes, message", [
    ({"asterisk_mode": "external"}, "managed"),
    ({"ami_port": 5038}, "ami_port"),
    ({"port_base": 60000}, "no room"),
])
def test_impossible_layouts_are_refused_with_a_reason(changes, message):
    with pytest.raises(NodesError, match=message):
        spread(Settings(instance="demo").replace(**changes), 2)
    with pytest.raises(NodesError, match="between 1 and"):
        spread(Settings(), 0)


def test_each_node_takes_a_share_of_the_campaign():
    assert [node_capacity(6, n) for n in (1, 2, 4, 8)] == [6, 3, 2, 1]


def test_the_demo_table_and_summary_name_each_calls_node():
    rows = [{"number": n, "id": f"a{i}", "node": node, "outcome": "busy", "cause": 17, "disposition": "busy"}
            for i, (n, node) in enumerate((("13800000003", "demo-n1"), ("13800000005", "demo-n2")))]
    s = summarize(rows)
    assert [c["node"] for c in s["calls"]] == ["demo-n1", "demo-n2"]
    lines = table_lines(s)
    assert lines[0].split()[:2] == ["number", "node"]
    assert lines[1].split()[:2] == ["***0003", "demo-n1"] and lines[2].split()[:2] == ["***0005", "demo-n2"]
    assert s["calls_per_node"] == {"demo-n1": 1, "demo-n2": 1}
    assert "calls per node: demo-n1 1, demo-n2 1" in lines
    one_node = summarize([{**rows[0], "node": "demo"}])
    assert one_node["calls_per_node"] == {"demo": 1} and not any("per node" in line for line in table_lines(one_node))
