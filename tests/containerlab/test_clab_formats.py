"""containerlab's output formats, the fault choice for VM kinds and error paths, without a lab.

The files in data/ follow the formats containerlab documents. ``inspect --format
json`` comes as the flat list of older releases, as ``{"containers": [...]}``, and as
the object keyed by lab name of newer releases. ``topology-data.json`` has links in
the legacy ``{a, z}`` shape or in the ``{endpoints: {a, z}}`` shape of 0.73.0 and later.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.errors import LabError
from drillkit.faults import LabContext, build_fault
from drillkit.faults.kinds import LinkDown, NetemCut
from drillkit.lab.containerlab import (ContainerlabBackend, container_state, is_vm_kind, parse_inspect,
                                       parse_topology_data)
from drillkit.lab.topology import load_topology
from drillkit.scenario.model import FaultSpec, Origin

DATA = Path(__file__).resolve().parent / "data"


def inspect_text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["inspect_flat.json", "inspect_containers.json", "inspect_keyed.json"])
def test_parse_inspect_selects_lab(name):
    entries = parse_inspect(inspect_text(name), "t-clab-fmt")

    assert [e["name"] for e in entries] == ["clab-t-clab-fmt-r1", "clab-t-clab-fmt-sr1"]
    assert entries[0]["ipv4_address"] == "172.20.20.3/24"
    assert entries[0]["state"] == "running"
    assert entries[1]["kind"] in ("vr-sros", "nokia_sros")


@pytest.mark.parametrize("name", ["inspect_flat.json", "inspect_keyed.json"])
def test_parse_inspect_without_lab_returns_all(name):
    names = [e["name"] for e in parse_inspect(inspect_text(name))]

    assert names == ["clab-t-clab-fmt-r1", "clab-t-clab-fmt-sr1", "clab-t-clab-other-h1"]


def test_parse_inspect_keyed_other_lab():
    entries = parse_inspect(inspect_text("inspect_keyed.json"), "t-clab-other")

    assert len(entries) == 1
    assert entries[0]["state"] == "exited"
    assert entries[0]["status"].startswith("Exited (137)")


@pytest.mark.parametrize("text", ["", "\n", "{}", "[]", '{"containers": []}'])
def test_parse_inspect_no_containers(text):
    # Older releases print nothing on stdout for a lab that is not deployed; newer ones print {}.
    assert parse_inspect(text, "t-clab-fmt") == []


def test_parse_inspect_unknown_lab_is_empty():
    assert parse_inspect(inspect_text("inspect_keyed.json"), "t-clab-absent") == []
    assert parse_inspect(inspect_text("inspect_flat.json"), "t-clab-absent") == []


@pytest.mark.parametrize("text", ["no containers found", "{not json", "42", '"text"'])
def test_parse_inspect_rejects_other_output(text):
    with pytest.raises(LabError):
        parse_inspect(text, "t-clab-fmt")


@pytest.mark.parametrize("name", ["topology_data_legacy.json", "topology_data_endpoints.json"])
def test_parse_topology_data_links(name):
    data = parse_topology_data(DATA / name)

    assert len(data["links"]) == 2
    first = data["links"][0]
    assert set(first) == {"a", "z"}
    assert (first["a"]["node"], first["a"]["interface"]) == ("r1", "eth1")
    assert (first["z"]["node"], first["z"]["interface"]) == ("sr1", "eth1")
    assert first["z"]["mac"] == "aa:c1:ab:9d:02:3c"


@pytest.mark.parametrize("name", ["topology_data_legacy.json", "topology_data_endpoints.json"])
def test_parse_topology_data_nodes_and_mgmt(name):
    data = parse_topology_data(DATA / name)

    assert data["name"] == "t-clab-fmt"
    assert data["nodes"]["sr1"]["longname"] == "clab-t-clab-fmt-sr1"
    assert data["nodes"]["sr1"]["kind"] == "vr-sros"
    assert data["nodes"]["r1"]["mgmt-ipv4-address"] == "172.20.20.3"
    mgmt = data["clab"]["config"]["mgmt"]
    assert mgmt["bridge"] == "br-5d6c3a8e2f10"
    assert mgmt["ipv4-subnet"] == "172.20.20.0/24"


def test_parse_topology_data_skips_malformed_links(tmp_path):
    path = tmp_path / "topology-data.json"
    path.write_text('{"name": "t-clab-fmt", "nodes": {}, "links": [{"a": {"node": "r1"}}, "x", '
                    '{"endpoints": {"a": {"node": "r1"}, "z": {"node": "r2"}}}]}')

    links = parse_topology_data(path)["links"]

    assert links == [{"a": {"node": "r1"}, "z": {"node": "r2"}}]


def test_parse_topology_data_missing_file(tmp_path):
    with pytest.raises(LabError, match="not found"):
        parse_topology_data(tmp_path / "clab-t-clab-fmt" / "topology-data.json")


def test_parse_topology_data_invalid_json(tmp_path):
    path = tmp_path / "topology-data.json"
    path.write_text("{")

    with pytest.raises(LabError, match="cannot read"):
        parse_topology_data(path)


@pytest.mark.parametrize(("kind", "expected"), [
    ("vr-sros", True), ("vr_vmx", True), ("nokia_sros", True), ("cisco_xrv9k", True),
    ("linux", False), ("nokia_srlinux", False), ("bridge", False), ("cisco_xrd", False),
])
def test_is_vm_kind(kind, expected):
    assert is_vm_kind(kind) is expected


def vm_topology(tmp_path: Path) -> Path:
    path = tmp_path / "t-clab-vmk.clab.yml"
    path.write_text("""\
name: t-clab-vmk
topology:
  nodes:
    h1: {kind: linux, image: alpine:3}
    sr1: {kind: vr-sros, image: vrnetlab/nokia_sros:23.10.R1}
    br1: {kind: bridge}
  links:
    - endpoints: ["h1:eth1", "sr1:eth1"]
    - endpoints: ["br1:p1", "sr1:eth2"]
    - endpoints: ["br1:p2", "h1:eth2"]
""")
    return path


def lab_ctx(backend: str) -> LabContext:
    namespaces = {"h1": "clab-t-clab-vmk-h1", "sr1": "clab-t-clab-vmk-sr1", "br1": "br1"}
    return LabContext(lab="t-clab-vmk", namespaces=namespaces, backend=backend,
                      kinds={"h1": "linux", "sr1": "vr-sros", "br1": "bridge"})


def link_down(link: str, ends: tuple[str, ...] = ("both",)) -> FaultSpec:
    return FaultSpec(name="cut", kind="link_down", origin=Origin("test", None), link=link, ends=ends)


def test_vm_link_becomes_netem_cut(tmp_path):
    topo = load_topology(vm_topology(tmp_path))

    fault = build_fault(link_down("h1:eth1"), topo, lab_ctx("containerlab"))

    assert isinstance(fault, NetemCut)
    assert [(i.node, i.ifname) for i in fault.interfaces] == [("h1", "eth1"), ("sr1", "eth1")]
    assert "netem" in fault.describe()
    assert "vr-sros runs a VM" in fault.describe()


def test_vm_link_cut_skips_bridge_end(tmp_path):
    topo = load_topology(vm_topology(tmp_path))

    fault = build_fault(link_down("sr1:eth2"), topo, lab_ctx("containerlab"))

    assert isinstance(fault, NetemCut)
    assert [(i.node, i.ifname) for i in fault.interfaces] == [("sr1", "eth2")]


def test_linux_link_stays_link_down(tmp_path):
    topo = load_topology(vm_topology(tmp_path))

    fault = build_fault(link_down("h1:eth2"), topo, lab_ctx("containerlab"))

    assert isinstance(fault, LinkDown)
    assert [(i.node, i.ifname) for i in fault.interfaces] == [("h1", "eth2")]


def test_vm_link_on_netns_backend_stays_link_down(tmp_path):
    topo = load_topology(vm_topology(tmp_path))

    fault = build_fault(link_down("h1:eth1"), topo, lab_ctx("netns"))

    assert isinstance(fault, LinkDown)


def test_netem_cut_record_round_trip(tmp_path):
    topo = load_topology(vm_topology(tmp_path))
    fault = build_fault(link_down("h1:eth1"), topo, lab_ctx("containerlab"))

    again = NetemCut.from_record(fault.to_record())

    assert again.to_record() == fault.to_record()
    assert again.describe() == fault.describe()


def test_container_state_unreachable_api(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")

    with pytest.raises(LabError, match="cannot read container clab-t-clab-fmt-r1 from the Docker API"):
        container_state("clab-t-clab-fmt-r1")


def test_containerlab_not_executable(tmp_path):
    binary = tmp_path / "containerlab"
    binary.write_text("not a program\n")
    binary.chmod(0o644)

    with pytest.raises(LabError, match="cannot run"):
        ContainerlabBackend(str(binary)).netem_loss("clab-t-clab-fmt-r1", "eth1", 100)


def test_containerlab_timeout_is_lab_error(tmp_path):
    binary = tmp_path / "containerlab"
    binary.write_text("#!/bin/sh\nexec sleep 5\n")
    binary.chmod(0o755)

    with pytest.raises(LabError, match="timed out after 0.2 s"):
        ContainerlabBackend(str(binary))._clab("version", timeout=0.2)
