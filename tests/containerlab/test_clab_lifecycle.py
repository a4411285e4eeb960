"""Deploy, attach and remove containerlab labs through the CLI, in each output format containerlab has had."""

from __future__ import annotations

import json
import subprocess

import pytest

from clab_support import (REAL, clab_environment, containerlab_argv, lab_objects, mgmt_bridge, ping_ok,
                          run_dir_from, standin_only, tear_down, wait_until, write_scenario, write_topology)
from conftest import needs_root, run_cli
from drillkit.lab.state import LabState

pytestmark = [pytest.mark.lab, needs_root]


@pytest.mark.parametrize(("inspect_format", "link_format", "lab"), [
    pytest.param("keyed", "legacy", "t-clab-ud-keyed", id="keyed-legacy"),
    pytest.param("flat", "endpoints", "t-clab-ud-flat", id="flat-endpoints", marks=standin_only),
    pytest.param("containers", "legacy", "t-clab-ud-cont", id="containers-legacy", marks=standin_only),
])
def test_lab_up_down_leaves_nothing(tmp_path, monkeypatch, inspect_format, link_format, lab):
    topology = write_topology(tmp_path, lab, {
        "h1": {"exec": ["ip addr add 10.0.31.1/30 dev eth1"]},
        "h2": {"exec": ["ip addr add 10.0.31.2/30 dev eth1"]},
    }, [("h1:eth1", "h2:eth1")])
    monkeypatch.setenv("CLAB_STANDIN_INSPECT_FORMAT", inspect_format)
    monkeypatch.setenv("CLAB_STANDIN_LINK_FORMAT", link_format)
    with clab_environment(tmp_path / "standin-state"):
        try:
            up = run_cli("lab", "up", "--backend", "containerlab", str(topology), timeout=600)
            assert up.returncode == 0, up.stdout + up.stderr
            assert f"clab-{lab}-h2" in up.stdout
            assert ping_ok(f"clab-{lab}-h1", "10.0.31.2")
            bridge = mgmt_bridge(topology, lab)
            # A stopped node leaves a parking namespace that destroy must remove as well.
            stop = subprocess.run([*containerlab_argv(), "stop", "-t", str(topology), "--node", "h2"],
                                  capture_output=True, text=True, timeout=300)
            assert stop.returncode == 0, stop.stderr

            down = run_cli("lab", "down", str(topology), timeout=600)

            assert down.returncode == 0, down.stdout + down.stderr
            # Namespaces and veth pairs are freed asynchronously by the kernel.
            # A real Docker network may outlive the lab while other containers use it.
            check_bridge = None if REAL else bridge
            folder = topology.parent / f"clab-{lab}"
            assert wait_until(lambda: not lab_objects(lab, check_bridge, folder), 5), lab_objects(
                lab, check_bridge, folder)
            assert LabState.load(lab) is None
        finally:
            assert tear_down(topology, lab) == []


def test_run_attaches_to_deployed_lab(tmp_path):
    lab = "t-clab-attach"
    topology = write_topology(tmp_path, lab, {
        "h1": {"exec": ["ip addr add 10.0.32.1/30 dev eth1"]},
        "h2": {"exec": ["ip addr add 10.0.32.2/30 dev eth1"]},
    }, [("h1:eth1", "h2:eth1")])
    scenario = write_scenario(tmp_path, {
        "name": "t-clab-attach-drill",
        "lab": {"topology": str(topology), "backend": "containerlab"},
        "faults": [{"name": "cut", "kind": "link_down", "link": "h1:eth1", "ends": "both"}],
        "probes": [{"name": "h1-to-h2", "kind": "ping", "from": "h1", "target": "10.0.32.2", "interval": "250ms",
                    "timeout": "1s", "failure_threshold": 2}],
        "steps": [
            {"name": "link-up", "kind": "jail", "timeout": "10s",
             "run": f"ip -n clab-{lab}-h1 link set eth1 up && ip -n clab-{lab}-h2 link set eth1 up"},
            {"name": "healthy", "kind": "wait", "probes": ["h1-to-h2"], "timeout": "20s"},
        ],
        "sla": {"detect": "5s", "recover": "30s"},
        "timing": {"baseline": "1s", "settle": "1s"},
    })
    with clab_environment(tmp_path / "standin-state"):
        try:
            deploy = subprocess.run([*containerlab_argv(), "deploy", "-t", str(topology)], capture_output=True,
                                    text=True, timeout=600)
            assert deploy.returncode == 0, deploy.stderr
            assert LabState.load(lab) is None

            result = run_cli("run", str(scenario), "--reports", str(tmp_path / "reports"), timeout=300)

            assert result.returncode == 0, result.stdout + result.stderr
            summary = json.loads((run_dir_from(result.stdout) / "summary.json").read_text())
            assert summary["status"] == "passed"
            state = LabState.load(lab)
            assert state is not None
            assert state.backend == "containerlab"
            assert state.jail == f"dk-{lab}-jail"
        finally:
            assert tear_down(topology, lab) == []


def test_run_without_deployed_lab_fails(tmp_path):
    lab = "t-clab-absent"
    topology = write_topology(tmp_path, lab, {"h1": {}}, [])
    scenario = write_scenario(tmp_path, {
        "name": "t-clab-absent-drill",
        "lab": {"topology": str(topology), "backend": "containerlab"},
        "faults": [{"name": "cut", "kind": "node_stop", "node": "h1"}],
        "probes": [{"name": "h1-lo", "kind": "ping", "from": "h1", "target": "127.0.0.1"}],
    })
    with clab_environment(tmp_path / "standin-state"):
        result = run_cli("run", str(scenario), "--reports", str(tmp_path / "reports"), timeout=120)

    assert result.returncode == 2
    assert "topology-data.json not found" in result.stderr
    assert lab_objects(lab, None, topology.parent / f"clab-{lab}") == []


@pytest.fixture
def host_bridge():
    """A Linux bridge on the host without an address, for a ``kind: bridge`` node (containerlab needs it made first)."""
    name = "tclabbr0"
    subprocess.run(["ip", "link", "delete", name], capture_output=True)
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{name}.disable_ipv6=1"], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def test_lab_with_bridge_node_attaches(tmp_path, host_bridge):
    lab = "t-clab-brnode"
    topology = write_topology(tmp_path, lab, {
        "h1": {"exec": ["ip addr add 10.0.33.1/24 dev eth1"]},
        "h2": {"exec": ["ip addr add 10.0.33.2/24 dev eth1"]},
        host_bridge: {"kind": "bridge"},
    }, [("h1:eth1", f"{host_bridge}:tclabp1"), ("h2:eth1", f"{host_bridge}:tclabp2")])
    with clab_environment(tmp_path / "standin-state"):
        try:
            up = run_cli("lab", "up", "--backend", "containerlab", str(topology), timeout=600)
            assert up.returncode == 0, up.stdout + up.stderr
            assert ping_ok(f"clab-{lab}-h1", "10.0.33.2")
            state = LabState.load(lab)
            assert set(state.nodes) == {"h1", "h2"}

            status = run_cli("lab", "status", lab)

            assert status.returncode == 0, status.stdout + status.stderr
            assert "MISSING" not in status.stdout
        finally:
            assert tear_down(topology, lab) == []


def test_labs_with_long_common_prefix(tmp_path):
    # Lab names that agree in their first 15 characters must still get distinct jail interfaces on the host.
    labs = ["t-clab-longname-a", "t-clab-longname-b"]
    topologies = [write_topology(tmp_path, lab, {"h1": {}}, []) for lab in labs]
    with clab_environment(tmp_path / "standin-state"):
        try:
            for topology in topologies:
                up = run_cli("lab", "up", "--backend", "containerlab", str(topology), timeout=600)
                assert up.returncode == 0, up.stdout + up.stderr

            for lab in labs:
                assert LabState.load(lab).jail == f"dk-{lab}-jail"
                # With Docker both labs share the "clab" network, where both jails take the same address.
                if not REAL:
                    assert ping_ok(f"dk-{lab}-jail", LabState.load(lab).nodes["h1"]["mgmt_ipv4"])
        finally:
            for topology, lab in zip(topologies, labs):
                assert tear_down(topology, lab) == []
