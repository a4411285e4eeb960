"""The containerlab backend on a deployed lab: attach, status, drills, node_stop, netem and the Docker API.

The lab is deployed by the containerlab stand-in (tests/standins/containerlab), or by
the host's containerlab with ``DRILLKIT_CONTAINERLAB=1``; see clab_support.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from clab_support import (REAL, clab_environment, docker_api_environment, in_ns, mgmt_bridge, operstate,
                          ping_ok, read_events, run_dir_from, tear_down, wait_until, write_scenario,
                          write_topology)
from conftest import needs_root, run_cli
from drillkit.engine.runner import lab_context
from drillkit.errors import LabError
from drillkit.faults import build_fault
from drillkit.faults.kinds import Interface, NetemCut, NodeStop
from drillkit.lab.containerlab import ContainerlabBackend, container_state
from drillkit.lab.state import LabState
from drillkit.lab.topology import load_topology
from drillkit.scenario.model import FaultSpec, Origin

pytestmark = [pytest.mark.lab, needs_root]

LAB = "t-clab-run"
# Links: n1 -- n2 on 10.0.12.0/30 and n1 -- n3 on 10.0.13.0/30. Management: 172.20.20.0/24.
N1, N2, N3 = (f"clab-{LAB}-{n}" for n in ("n1", "n2", "n3"))
N3_MGMT = "172.20.20.30"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The three-node lab, deployed and attached with ``drillkit lab up --backend containerlab``."""
    folder = tmp_path_factory.mktemp(LAB)
    topology = write_topology(folder, LAB, {
        "n1": {"exec": ["ip addr add 10.0.12.1/30 dev eth1", "ip addr add 10.0.13.1/30 dev eth2"]},
        "n2": {"exec": ["ip addr add 10.0.12.2/30 dev eth1"]},
        "n3": {"mgmt-ipv4": N3_MGMT, "exec": ["ip addr add 10.0.13.2/30 dev eth1"],
               "healthcheck": {"test": ["CMD-SHELL", "ip link show eth1"], "start-period": 0, "interval": 1,
                               "timeout": 2, "retries": 1}},
    }, [("n1:eth1", "n2:eth1"), ("n1:eth2", "n3:eth1")])
    with clab_environment(folder / "standin-state"), docker_api_environment(folder, folder / "standin-state"):
        up = run_cli("lab", "up", "--backend", "containerlab", str(topology), timeout=600)
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            yield topology, up
        finally:
            left = tear_down(topology, LAB)
            assert left == [], f"lab {LAB} left {left}"


def test_lab_up_deploys_and_attaches(lab):
    topology, up = lab

    assert up.returncode == 0, up.stdout + up.stderr
    assert f"lab {LAB} is up (containerlab): 3 nodes" in up.stderr
    for ns in (N1, N2, N3):
        assert ns in up.stdout
    state = LabState.load(LAB)
    assert state is not None
    assert state.backend == "containerlab"
    assert state.jail == f"dk-{LAB}-jail"
    assert state.nodes["n3"]["mgmt_ipv4"] == N3_MGMT
    assert (topology.parent / f"clab-{LAB}" / "topology-data.json").is_file()


def test_jail_joins_management_bridge(lab):
    topology, _up = lab
    bridge = mgmt_bridge(topology, LAB)
    assert bridge is not None

    ports = json.loads(subprocess.run(["ip", "-j", "link", "show", "master", bridge], capture_output=True,
                                      text=True).stdout)
    jail_ports = [p["ifname"] for p in ports if p["ifname"].startswith("dkj")]

    assert len(jail_ports) == 1
    assert ping_ok(f"dk-{LAB}-jail", N3_MGMT)


@pytest.mark.skipif(REAL, reason="Docker gives a real management bridge the gateway address")
def test_standin_bridge_has_no_address(lab):
    topology, _up = lab
    bridge = mgmt_bridge(topology, LAB)

    interfaces = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", bridge], capture_output=True,
                                           text=True).stdout)
    routes = subprocess.run(["ip", "-j", "route", "show", "dev", bridge], capture_output=True, text=True).stdout

    assert [a for a in interfaces[0]["addr_info"] if a["family"] == "inet"] == []
    assert json.loads(routes or "[]") == []


def test_exec_commands_configured_links(lab):
    assert ping_ok(N1, "10.0.12.2")
    assert ping_ok(N1, "10.0.13.2")


def test_lab_status_lists_nodes(lab):
    status = run_cli("lab", "status", LAB)

    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines()[3:] if line.strip()}
    assert set(lines) >= {"n1", "n2", "n3"}
    assert N3_MGMT in lines["n3"]
    assert "eth1:up(10.0.12.1/30)" in lines["n1"]
    assert "MISSING" not in status.stdout


def test_inspect_reports_running_nodes(lab):
    topology, _up = lab

    nodes = {n.name: n for n in ContainerlabBackend().inspect(load_topology(topology))}

    assert set(nodes) == {"n1", "n2", "n3"}
    assert {n.state for n in nodes.values()} == {"running"}
    assert nodes["n3"].container == N3
    assert nodes["n3"].mgmt_ipv4 == N3_MGMT


def test_container_state_reads_docker_api(lab):
    state = container_state(N1)

    assert state["status"] == "running"
    assert state["running"] is True
    assert state["health"] is None


def test_container_state_reports_health(lab):
    # Docker reports "starting" until the first check has run.
    assert wait_until(lambda: container_state(N3)["health"] == "healthy", 30, 1)


def test_container_state_unknown_container(lab):
    with pytest.raises(LabError, match="clab-t-clab-run-absent"):
        container_state("clab-t-clab-run-absent")


def test_netem_cut_drops_and_restores(lab):
    cut = NetemCut("t-cut", [Interface("n1", N1, "eth1"), Interface("n2", N2, "eth1")], "test")
    assert ping_ok(N1, "10.0.12.2")

    cut.inject()
    try:
        dropped = not ping_ok(N1, "10.0.12.2", count=2)
        carrier = operstate(N1, "eth1")
    finally:
        cut.restore()

    assert dropped
    assert carrier == "UP"
    assert ping_ok(N1, "10.0.12.2")
    cut.restore()  # a second restore is harmless


def test_node_stop_stops_and_starts_node(lab):
    topology, _up = lab
    topo = load_topology(topology)
    ctx = lab_context(topo, LabState.load(LAB))
    fault = build_fault(FaultSpec(name="stop-n2", kind="node_stop", origin=Origin("test", None), node="n2"),
                        topo, ctx)
    assert isinstance(fault, NodeStop)

    fault.inject()
    try:
        stopped_state = container_state(N2)
        peer_carrier = operstate(N1, "eth1")
        inspected = {n.name: n.state for n in ContainerlabBackend().inspect(topo)}
        reachable = ping_ok(N1, "10.0.12.2")
    finally:
        fault.restore()

    assert stopped_state["status"] == "exited"
    assert stopped_state["running"] is False
    assert peer_carrier != "UP"
    assert inspected["n2"] == "exited"
    assert not reachable
    assert container_state(N2)["running"] is True
    # Recent containerlab releases run exec again on start, which puts n2's address back.
    assert wait_until(lambda: ping_ok(N1, "10.0.12.2"), 15)
    assert operstate(N1, "eth1") == "UP"


def test_drill_link_down_passes(lab, tmp_path):
    topology, _up = lab
    scenario = write_scenario(tmp_path, {
        "name": "t-clab-link-drill",
        "lab": {"topology": str(topology), "backend": "containerlab"},
        "faults": [{"name": "n1-n2-cut", "kind": "link_down", "link": "n1:eth1", "ends": "both"}],
        "probes": [
            {"name": "n1-to-n2", "kind": "ping", "from": "n1", "target": "10.0.12.2", "interval": "250ms",
             "timeout": "1s", "failure_threshold": 2},
            {"name": "n1-to-n3", "kind": "ping", "from": "n1", "target": "10.0.13.2", "interval": "500ms",
             "timeout": "1s", "role": "guard", "failure_threshold": 3},
        ],
        "steps": [
            {"name": "oob-reach-n1", "kind": "jail", "run": "ping -c 1 -W 2 -n $DRILLKIT_MGMT_N1",
             "timeout": "10s"},
            # The lab has no SSH, so the recovery sets both ends up through their namespaces.
            {"name": "link-up", "kind": "jail", "timeout": "10s",
             "run": f"ip -n {N1} link set eth1 up && ip -n {N2} link set eth1 up"},
            {"name": "n1-n2-healthy", "kind": "wait", "probes": ["n1-to-n2"], "timeout": "20s"},
        ],
        "sla": {"detect": "5s", "oob_access": "15s", "recover": "30s"},
        "timing": {"baseline": "1s", "settle": "1s", "detect_timeout": "10s", "recover_timeout": "40s"},
        "stop_conditions": {"max_outage": "60s"},
    })

    result = run_cli("run", str(scenario), "--reports", str(tmp_path / "reports"), timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = run_dir_from(result.stdout)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "passed"
    assert summary["measurements"]["detect"]["value"] is not None
    assert summary["measurements"]["recover"]["value"] is not None
    start = next(e for e in read_events(run_dir) if e["type"] == "run.start")
    assert start["lab"]["backend"] == "containerlab"
    assert [f["kind"] for f in start["faults"]] == ["link_down"]
    assert operstate(N1, "eth1") == "UP"
    assert ping_ok(N1, "10.0.12.2")


def test_lab_down_by_name_destroys_lab(tmp_path):
    lab = "t-clab-byname"
    topology = write_topology(tmp_path, lab, {"h1": {}, "h2": {}}, [("h1:eth1", "h2:eth1")])
    with clab_environment(tmp_path / "standin-state"):
        up = run_cli("lab", "up", "--backend", "containerlab", str(topology), timeout=600)
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            bridge = mgmt_bridge(topology, lab)
            assert Path(f"/run/netns/clab-{lab}-h1").exists()

            down = run_cli("lab", "down", lab)

            assert down.returncode == 0, down.stdout + down.stderr
            assert not Path(f"/run/netns/clab-{lab}-h1").exists()
            assert not Path(f"/run/netns/dk-{lab}-jail").exists()
            assert not (topology.parent / f"clab-{lab}").exists()
            assert LabState.load(lab) is None
            if not REAL:
                assert wait_until(lambda: not Path(f"/sys/class/net/{bridge}").exists(), 5)
        finally:
            assert tear_down(topology, lab) == []


def test_in_lab_addresses_only(lab):
    # The lab's link addresses live only in its namespaces, never on the host.
    host = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True).stdout
    n1 = in_ns(N1, "ip", "-j", "addr").stdout

    assert "10.0.12.1" not in host
    assert "10.0.12.1" in n1
