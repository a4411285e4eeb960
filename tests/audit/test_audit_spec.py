"""The audit's inputs: drillkit.* labels and the audit file, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.audit.spec import JAIL, AuditError, load_spec
from drillkit.lab.topology import load_topology

BASE = """\
name: t-spec
topology:
  defaults:
    kind: linux
  nodes:
    noc:
      labels:
        drillkit.role: noc
    core:
      exec:
        - ip addr add 10.0.0.1/30 dev eth1
    edge:
      labels:
{edge_labels}
    srv:
      labels:
{srv_labels}
  links:
    - endpoints: ["noc:eth1", "core:eth1"]
    - endpoints: ["core:eth2", "edge:eth1"]
      labels:
{link_labels}
    - endpoints: ["edge:eth2", "srv:eth1"]
"""


def write(tmp_path: Path, edge: str = "x: y", srv: str = "x: y", link: str = "x: y") -> Path:
    def indent(text: str) -> str:
        return "\n".join(" " * 8 + line for line in text.splitlines())

    path = tmp_path / "t-spec.clab.yml"
    path.write_text(BASE.format(edge_labels=indent(edge), srv_labels=indent(srv), link_labels=indent(link)))
    return path


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def spec_of(path: Path, audit_file: Path | None = None):
    return load_spec(load_topology(path), audit_file)


def test_defaults_without_labels(tmp_path):
    spec = spec_of(write(tmp_path))
    assert spec.reference == "noc"
    assert spec.managed_from == "noc"
    assert spec.workloads == ()
    edge = spec.management["edge"]
    assert edge.mgmt == "oob"
    assert edge.console is True
    assert edge.console_uplink is None
    assert edge.eth0_rides == ()


def test_node_labels_set_management(tmp_path):
    path = write(tmp_path, edge="drillkit.mgmt: inband\ndrillkit.console: none",
                 srv="drillkit.console-uplink: edge\ndrillkit.managed-from: jail")
    spec = spec_of(path)
    assert spec.management["edge"].mgmt == "inband"
    assert spec.management["edge"].console is False
    assert spec.management["srv"].console_uplink == "edge"
    assert spec.management["srv"].managed_from == JAIL


def test_link_label_inband_rides_both_ends(tmp_path):
    spec = spec_of(write(tmp_path, link="drillkit.mgmt: inband"))
    assert spec.management["core"].eth0_rides == ("core:eth2--edge:eth1",)
    assert spec.management["edge"].eth0_rides == ("core:eth2--edge:eth1",)
    assert spec.management["noc"].eth0_rides == ()


def test_link_label_inband_one_end(tmp_path):
    spec = spec_of(write(tmp_path, link='drillkit.mgmt: "inband:edge"'))
    assert spec.management["core"].eth0_rides == ()
    assert spec.management["edge"].eth0_rides == ("core:eth2--edge:eth1",)


def test_workload_from_labels(tmp_path):
    path = write(tmp_path, srv="drillkit.workload: infer\ndrillkit.depends: core:8000, noc\n"
                                "drillkit.tolerance: 30s")
    (workload,) = spec_of(path).workloads
    assert workload.name == "infer"
    assert workload.node == "srv"
    assert [str(d) for d in workload.depends] == ["core:8000", "noc"]
    assert workload.depends[0].address == "10.0.0.1"
    assert workload.depends[1].address is None
    assert workload.tolerance_s == 30.0
    assert workload.managed_from == "noc"
    assert workload.line == line_of(path, "drillkit.workload")


@pytest.mark.parametrize(("labels", "field", "words"), [
    pytest.param("drillkit.mgmt: maybe", "drillkit.mgmt", "valid values: oob, inband", id="mgmt-mode"),
    pytest.param("drillkit.console: serial", "drillkit.console", "valid values: line, none", id="console"),
    pytest.param("drillkit.console-uplink: nowhere", "drillkit.console-uplink", "write oob", id="uplink"),
    pytest.param("drillkit.managed-from: mars", "drillkit.managed-from", "or jail", id="vantage"),
    pytest.param("drillkit.depends: core", "drillkit.depends", "add drillkit.workload", id="depends-alone"),
    pytest.param("drillkit.workload: w\ndrillkit.depends: ghost:80", "drillkit.depends", "unknown node 'ghost'",
                 id="depends-unknown"),
    pytest.param("drillkit.workload: w\ndrillkit.depends: core:99999", "drillkit.depends", "out of range",
                 id="depends-port"),
    pytest.param("drillkit.workload: w\ndrillkit.depends: srv", "drillkit.depends", "own node",
                 id="depends-self"),
    pytest.param("drillkit.workload: w\ndrillkit.tolerance: soon", "drillkit.tolerance", "500ms",
                 id="tolerance"),
    pytest.param("drillkit.workload: 'bad name'", "drillkit.workload", "invalid workload name", id="name"),
])
def test_invalid_node_label_names_line_and_fix(tmp_path, labels, field, words):
    path = write(tmp_path, srv=labels)
    with pytest.raises(AuditError) as info:
        spec_of(path)
    error = info.value
    assert error.path == str(path)
    assert error.line == line_of(path, field + ":")
    assert error.field == f"topology.nodes.srv.labels.{field}"
    assert words in str(error)


def test_invalid_link_label_names_line_and_ends(tmp_path):
    path = write(tmp_path, link='drillkit.mgmt: "inband:noc"')
    with pytest.raises(AuditError) as info:
        spec_of(path)
    assert info.value.line == line_of(path, "inband:noc")
    assert info.value.field == "topology.links[1].labels.drillkit.mgmt"
    assert "name core or edge" in str(info.value)


def test_group_label_duplicates_workload_name(tmp_path):
    path = tmp_path / "t-group.clab.yml"
    path.write_text("name: t-group\ntopology:\n  groups:\n    infer:\n      kind: linux\n      labels:\n"
                    "        drillkit.workload: infer\n  nodes:\n    a: {group: infer}\n    b: {group: infer}\n")
    with pytest.raises(AuditError, match="already defined on node a"):
        spec_of(path)


def test_group_labels_apply_to_members(tmp_path):
    path = tmp_path / "t-group.clab.yml"
    path.write_text("name: t-group\ntopology:\n  groups:\n    site:\n      kind: linux\n      labels:\n"
                    "        drillkit.mgmt: inband\n  nodes:\n    a: {group: site}\n    b: {kind: linux}\n"
                    "  links:\n    - endpoints: [a:eth1, b:eth1]\n")
    spec = spec_of(path)
    assert spec.management["a"].mgmt == "inband"
    assert spec.management["b"].mgmt == "oob"
    assert spec.reference == "a"
    assert "most links" in spec.reference_reason


# -- audit file -----------------------------------------------------------------------


def test_audit_file_overrides_labels(tmp_path):
    path = write(tmp_path, edge="drillkit.mgmt: inband", link="drillkit.mgmt: inband",
                 srv="drillkit.workload: infer\ndrillkit.depends: noc")
    audit = tmp_path / "a.yaml"
    audit.write_text("reference: core\nmanaged_from: jail\nnodes:\n  edge: {mgmt: oob, console_uplink: core}\n"
                     "links:\n  - {link: 'edge:eth1', mgmt: 'inband:core'}\n"
                     "workloads:\n  - name: infer\n    node: srv\n    depends:\n      - {node: core, port: 80, "
                     "address: 10.9.9.9}\n")
    spec = spec_of(path, audit)
    assert spec.reference == "core"
    assert spec.managed_from == JAIL
    assert spec.management["edge"].mgmt == "oob"
    assert spec.management["edge"].console_uplink == "core"
    assert spec.management["edge"].eth0_rides == ()
    assert spec.management["core"].eth0_rides == ("core:eth2--edge:eth1",)
    (workload,) = spec.workloads
    assert [str(d) for d in workload.depends] == ["core:80"]
    assert workload.depends[0].address == "10.9.9.9"
    assert workload.managed_from == JAIL
    assert workload.path == str(audit)


@pytest.mark.parametrize(("text", "line", "words"), [
    pytest.param("refrence: noc\n", 1, "did you mean 'reference'", id="unknown-key"),
    pytest.param("reference: ghost\n", 1, "unknown node", id="reference"),
    pytest.param("nodes:\n  edge: {mgmt: vlan}\n", 2, "valid values: oob, inband", id="node-mgmt"),
    pytest.param("nodes:\n  ghost: {mgmt: oob}\n", 2, "unknown node 'ghost'", id="node-unknown"),
    pytest.param("links:\n  - {link: 'x:eth9', mgmt: inband}\n", 2, "no such link", id="link-unknown"),
    pytest.param("workloads:\n  - name: w\n    node: srv\n    depends: [noc, noc]\n", 2, "twice",
                 id="duplicate-dependency"),
    pytest.param("workloads:\n  - name: w\n    node: srv\n    depends:\n      - {node: core, address: x}\n", 5,
                 "invalid IPv4 address", id="address"),
    pytest.param("workloads:\n  - name: w\n    depends: [noc]\n", 2, "missing required field 'node'",
                 id="node-missing"),
    pytest.param("workloads:\n  - name: w\n    node: srv\n    depends:\n      - {node: srv}\n", 5,
                 "its own node", id="self"),
    pytest.param("workloads: [\n", 2, "invalid YAML", id="yaml"),
])
def test_invalid_audit_file_names_line(tmp_path, text, line, words):
    audit = tmp_path / "a.yaml"
    audit.write_text(text)
    with pytest.raises(AuditError) as info:
        spec_of(write(tmp_path), audit)
    assert info.value.path == str(audit)
    assert info.value.line == line
    assert words in str(info.value)


def test_missing_audit_file(tmp_path):
    with pytest.raises(AuditError, match="audit file not found"):
        spec_of(write(tmp_path), tmp_path / "nope.yaml")
