"""Every fault kind injected and restored on the real edge-ai lab, checked with real traffic."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import needs_root

from drillkit.engine.runner import lab_context
from drillkit.faults import build_fault, fault_from_record
from drillkit.scenario.model import FaultSpec, Origin

pytestmark = [pytest.mark.lab, needs_root]


def reaches(ns: str, address: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", address],
                          capture_output=True).returncode == 0


def oper_state(ns: str, ifname: str) -> str:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname], capture_output=True, text=True)
    return json.loads(out.stdout)[0]["operstate"]


def make(edge_lab, **fields):
    topo, state = edge_lab
    spec = FaultSpec(origin=Origin("test.yaml", 1), **fields)
    return build_fault(spec, topo, lab_context(topo, state))


def test_link_down_one_end(edge_lab):
    fault = make(edge_lab, name="one-end", kind="link_down", link="core:eth2", ends=("edge1",))
    fault.prepare()
    fault.inject()
    try:
        assert oper_state("clab-edge-ai-edge1", "eth1") == "DOWN"
        assert oper_state("clab-edge-ai-core", "eth2") != "UP"  # the peer lost carrier
        assert not reaches("clab-edge-ai-noc", "10.1.1.10")
    finally:
        fault.restore()
    assert reaches("clab-edge-ai-noc", "10.1.1.10")


def test_link_down_restored_from_record(edge_lab):
    fault = make(edge_lab, name="both", kind="link_down", link="core:eth2--edge1:eth1", ends=("both",))
    fault.prepare()
    record = json.loads(json.dumps(fault.to_record()))
    fault.inject()
    assert not reaches("clab-edge-ai-noc", "10.1.1.10")

    fault_from_record(record).restore()

    assert reaches("clab-edge-ai-noc", "10.1.1.10")


def test_blackhole_link_keeps_carrier(edge_lab):
    fault = make(edge_lab, name="gray", kind="blackhole", link="core:eth3", ends=("both",))
    fault.inject()
    try:
        assert oper_state("clab-edge-ai-core", "eth3") == "UP"
        assert not reaches("clab-edge-ai-noc", "10.2.1.10")
        assert reaches("clab-edge-ai-noc", "10.1.1.10")
    finally:
        fault.restore()
    assert reaches("clab-edge-ai-noc", "10.2.1.10")
    tables = subprocess.run(["ip", "netns", "exec", "clab-edge-ai-core", "nft", "list", "tables"],
                            capture_output=True, text=True).stdout
    assert "drillkit_gray" not in tables


def test_blackhole_prefix(edge_lab):
    fault = make(edge_lab, name="prefix", kind="blackhole", node="core", prefix="10.1.0.0/16")
    fault.inject()
    try:
        assert not reaches("clab-edge-ai-noc", "10.1.1.10")
        assert reaches("clab-edge-ai-noc", "10.2.1.10")
    finally:
        fault.restore()
    assert reaches("clab-edge-ai-noc", "10.1.1.10")


def test_node_isolation(edge_lab):
    fault = make(edge_lab, name="iso", kind="node_isolation", node="edge2")
    fault.prepare()
    fault.inject()
    try:
        assert not reaches("clab-edge-ai-noc", "10.2.1.10")
        assert oper_state("clab-edge-ai-edge2", "eth2") == "DOWN"
        # Management stays up: the OOB path is not a primary link.
        assert oper_state("clab-edge-ai-edge2", "eth0") == "UP"
    finally:
        fault.restore()
    assert reaches("clab-edge-ai-noc", "10.2.1.10")


def test_command_fault(edge_lab):
    fault = make(edge_lab, name="route", kind="command", node="core",
                 inject="ip route del 10.2.0.0/16", restore="ip route replace 10.2.0.0/16 via 10.0.2.2")
    fault.inject()
    try:
        assert not reaches("clab-edge-ai-noc", "10.2.1.10")
    finally:
        fault.restore()
    assert reaches("clab-edge-ai-noc", "10.2.1.10")
