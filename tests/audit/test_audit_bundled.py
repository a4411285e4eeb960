"""The audit on the bundled labs, and on an edge-ai variant whose management shares fate."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.audit.analysis import audit_topology

REPO = Path(__file__).resolve().parents[2]
EDGE_AI = REPO / "labs" / "edge-ai" / "edge-ai.clab.yml"
FRR = REPO / "labs" / "frr-triangle" / "frr-triangle.clab.yml"
EDGE_AUDIT = Path(__file__).resolve().parent / "edge-ai.audit.yaml"

SITE1_UPLINK = "core:eth2--edge1:eth1"
SITE2_UPLINK = "core:eth3--edge2:eth1"
FEED_LINK = "feed:eth1--core:eth4"
INF1_LINK = "edge1:eth2--inf1:eth1"


def shared_fate_lab(tmp_path: Path) -> Path:
    """Write edge-ai with labels that make its management share fate with production.

    edge1 is managed in band and has no console; inf1's console server is uplinked
    through edge1; edge2's eth0 rides the site 2 uplink.
    """
    text = EDGE_AI.read_text().replace("name: edge-ai", "name: t-audshared", 1)
    text = text.replace("    edge1:\n      mgmt-ipv4: 172.20.20.21\n",
                        "    edge1:\n      mgmt-ipv4: 172.20.20.21\n      labels:\n"
                        "        drillkit.mgmt: inband\n        drillkit.console: none\n", 1)
    text = text.replace("    inf1:\n      group: inference\n",
                        "    inf1:\n      group: inference\n      labels:\n        drillkit.workload: infer-site1\n"
                        "        drillkit.depends: feed:8000\n        drillkit.tolerance: 20s\n"
                        "        drillkit.console-uplink: edge1\n", 1)
    text = text.replace("        drillkit.description: site 2 primary uplink",
                        "        drillkit.description: site 2 primary uplink\n        drillkit.mgmt: inband:edge2", 1)
    path = tmp_path / "t-audshared.clab.yml"
    path.write_text(text)
    return path


def failures(dep) -> list[str]:
    return [" + ".join(f.elements) for f in dep.single]


@pytest.fixture(scope="module")
def edge_report():
    return audit_topology(EDGE_AI, EDGE_AUDIT, depth=2)[2]


def test_edge_workload_single_failures_in_path_order(edge_report):
    site1 = edge_report.workloads[0]
    assert site1.workload.name == "infer-site1"
    (dep,) = site1.dependencies
    assert str(dep.dependency) == "feed:8000"
    assert dep.dependency.address == "10.0.0.6"
    assert dep.reachable
    assert failures(dep) == [INF1_LINK, "edge1", SITE1_UPLINK, "core", FEED_LINK, "feed"]


def test_edge_other_site_uplink_does_not_cut_site1(edge_report):
    (dep,) = edge_report.workloads[0].dependencies
    assert SITE2_UPLINK not in failures(dep)
    assert "noc:eth1--core:eth1" not in failures(dep)


def test_edge_tree_has_no_pairs(edge_report):
    for result in edge_report.workloads:
        for dep in result.dependencies:
            assert dep.pair_count == 0
    assert all(node.pair_count == 0 for node in edge_report.nodes)


def test_edge_management_survives_every_cut(edge_report):
    (dep,) = edge_report.workloads[0].dependencies
    uplink = dep.single[2]
    assert [a.node for a in uplink.management] == ["core", "edge1"]
    for failure in dep.single:
        assert failure.mgmt_survives
        for access in failure.management:
            assert access.oob == ("eth0", "console")
            assert access.vantage == "noc"


def test_edge_nodes_cut_off_from_noc(edge_report):
    nodes = {n.node: n for n in edge_report.nodes}
    assert edge_report.reference == "noc"
    assert [f.elements[0] for f in nodes["core"].single] == ["noc:eth1--core:eth1"]
    assert [f.elements[0] for f in nodes["inf2"].single] == [
        "noc:eth1--core:eth1", "core", SITE2_UPLINK, "edge2", "edge2:eth2--inf2:eth1"]
    assert nodes["noc"].single == ()


def test_edge_management_is_independent(edge_report):
    assert edge_report.shared_fate == ()
    assert edge_report.exit_code == 0
    core = next(n for n in edge_report.nodes if n.node == "core")
    eth0, console = core.connections
    assert eth0.path == ("noc/eth0", "@oob", "core/eth0")
    assert console.path == ("noc/eth0", "@oob", "@consrv", "core/console")


def test_frr_triangle_pairs():
    _topo, spec, report = audit_topology(FRR, depth=2)
    assert spec.reference == "r1"
    nodes = {n.node: n for n in report.nodes}
    assert nodes["r2"].single == ()
    assert {f.elements for f in nodes["r2"].pairs} == {
        ("r3", "r1:eth1--r2:eth1"),
        ("r1:eth1--r2:eth1", "r2:eth2--r3:eth1"),
        ("r1:eth1--r2:eth1", "r3:eth2--r1:eth2"),
    }
    assert nodes["r2"].pair_count == 3
    assert [f.elements[0] for f in nodes["h2"].single] == ["r2", "r2:eth3--h2:eth1"]
    assert nodes["h2"].pair_count == 3
    assert [f.elements[0] for f in nodes["h1"].single] == ["r1:eth3--h1:eth1"]
    assert nodes["h1"].pair_count == 0


def test_frr_triangle_depth_one_lists_no_pairs():
    report = audit_topology(FRR, depth=1)[2]
    assert all(node.pairs == () and node.pair_count == 0 for node in report.nodes)


def test_shared_fate_connections(tmp_path):
    report = audit_topology(shared_fate_lab(tmp_path))[2]
    assert report.exit_code == 1
    shared = {(c.node, c.way): c for c in report.shared_fate}
    assert set(shared) == {("edge1", "in-band"), ("inf1", "console"), ("edge2", "eth0")}
    assert shared[("edge1", "in-band")].fails_with == ("noc", "noc:eth1--core:eth1", "core", SITE1_UPLINK, "edge1")
    assert shared[("inf1", "console")].fails_with == ("noc", "noc:eth1--core:eth1", "core", SITE1_UPLINK, "edge1")
    assert shared[("edge2", "eth0")].fails_with == (SITE2_UPLINK,)
    nodes = {n.node: n for n in report.nodes}
    assert not nodes["edge1"].independent
    assert nodes["inf1"].independent
    assert nodes["edge2"].independent


def test_shared_fate_cut_loses_management(tmp_path):
    report = audit_topology(shared_fate_lab(tmp_path))[2]
    (dep,) = report.workloads[0].dependencies
    by_name = {f.elements: f for f in dep.single}
    uplink = by_name[(SITE1_UPLINK,)]
    assert not uplink.mgmt_survives
    core, edge1 = uplink.management
    assert core.status == "oob"
    assert edge1.status == "lost"
    inner = by_name[(INF1_LINK,)]
    assert {a.node: a.status for a in inner.management} == {"edge1": "shared", "inf1": "oob"}
    assert {a.node: a.shared for a in inner.management}["edge1"] == ("in-band",)


def test_managed_from_jail_cannot_reach_inband_node(tmp_path):
    audit = tmp_path / "a.yaml"
    audit.write_text("managed_from: jail\n")
    report = audit_topology(shared_fate_lab(tmp_path), audit)[2]
    edge1 = next(n for n in report.nodes if n.node == "edge1")
    (inband,) = edge1.connections
    assert inband.vantage == "jail"
    assert not inband.reachable
    assert inband.fails_with == ()
    assert "cannot reach it even with nothing failed" in inband.via
