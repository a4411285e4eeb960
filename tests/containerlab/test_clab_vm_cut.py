"""link_down on a link to a VM-based node (``kind: vr-sros``) becomes a netem cut.

The guest VM of a vrnetlab container does not see its container's veth lose
carrier, so drillkit cuts such links with 100 % loss through ``containerlab tools
netem``. The stand-in deploys ``vr-sros`` nodes as plain namespaces, which lets the
cut be checked on real traffic; a real run would need a licensed SR OS image, so
this module runs only against the stand-in.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from clab_support import (clab_environment, containerlab_argv, operstate, ping_ok, read_events, run_dir_from,
                          standin_only, tear_down, write_scenario, write_topology)
from conftest import needs_root, run_cli
from drillkit.engine.runner import lab_context
from drillkit.faults import build_fault
from drillkit.faults.kinds import NetemCut
from drillkit.lab.state import LabState
from drillkit.lab.topology import load_topology
from drillkit.scenario.model import FaultSpec, Origin

pytestmark = [pytest.mark.lab, needs_root, standin_only]

LAB = "t-clab-vr"
# h1 -- sr1 on 10.0.21.0/30 (the VM link), h1 -- h2 on 10.0.22.0/30.
H1, H2, SR1 = (f"clab-{LAB}-{n}" for n in ("h1", "h2", "sr1"))


@pytest.fixture(scope="module")
def vr_lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp(LAB)
    topology = write_topology(folder, LAB, {
        "h1": {"exec": ["ip addr add 10.0.21.1/30 dev eth1", "ip addr add 10.0.22.1/30 dev eth2"]},
        "h2": {"exec": ["ip addr add 10.0.22.2/30 dev eth1"]},
        "sr1": {"kind": "vr-sros", "image": "vrnetlab/nokia_sros:23.10.R1",
                "exec": ["ip addr add 10.0.21.2/30 dev eth1"]},
    }, [("h1:eth1", "sr1:eth1"), ("h1:eth2", "h2:eth1")])
    with clab_environment(folder / "standin-state"):
        up = run_cli("lab", "up", "--backend", "containerlab", str(topology), timeout=600)
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            yield topology
        finally:
            left = tear_down(topology, LAB)
            assert left == [], f"lab {LAB} left {left}"


def test_state_records_vm_kind(vr_lab):
    state = LabState.load(LAB)

    assert state.nodes["sr1"]["kind"] == "vr-sros"


def test_vm_link_cut_drops_traffic_and_restores(vr_lab):
    topo = load_topology(vr_lab)
    spec = FaultSpec(name="vm-cut", kind="link_down", origin=Origin("test", None), link="h1:eth1", ends=("both",))
    fault = build_fault(spec, topo, lab_context(topo, LabState.load(LAB)))
    assert isinstance(fault, NetemCut)
    assert ping_ok(H1, "10.0.21.2")

    fault.inject()
    try:
        dropped = not ping_ok(H1, "10.0.21.2", count=2)
        other_link = ping_ok(H1, "10.0.22.2")
        carriers = (operstate(H1, "eth1"), operstate(SR1, "eth1"))
    finally:
        fault.restore()

    assert dropped
    assert other_link
    assert carriers == ("UP", "UP")
    assert ping_ok(H1, "10.0.21.2")


def test_vm_link_drill_uses_netem(vr_lab, tmp_path):
    clear = " && ".join(f'"$DRILLKIT_CONTAINERLAB_BIN" tools netem set -n {ns} -i eth1 --loss 0' for ns in (H1, SR1))
    scenario = write_scenario(tmp_path, {
        "name": "t-clab-vm-drill",
        "lab": {"topology": str(vr_lab), "backend": "containerlab"},
        "faults": [{"name": "sr1-cut", "kind": "link_down", "link": "h1:eth1", "ends": "both"}],
        "probes": [
            {"name": "h1-to-sr1", "kind": "ping", "from": "h1", "target": "10.0.21.2", "interval": "250ms",
             "timeout": "1s", "failure_threshold": 2},
            {"name": "h1-to-h2", "kind": "ping", "from": "h1", "target": "10.0.22.2", "interval": "500ms",
             "timeout": "1s", "role": "guard", "failure_threshold": 3},
        ],
        # The operator clears the impairment with containerlab, as one would on a real lab.
        "steps": [
            {"name": "clear-netem", "kind": "jail", "run": clear, "timeout": "20s"},
            {"name": "sr1-healthy", "kind": "wait", "probes": ["h1-to-sr1"], "timeout": "20s"},
        ],
        "sla": {"detect": "5s", "recover": "30s"},
        "timing": {"baseline": "1s", "settle": "1s", "detect_timeout": "10s", "recover_timeout": "40s"},
        "stop_conditions": {"max_outage": "60s"},
    })

    result = run_cli("run", str(scenario), "--reports", str(tmp_path / "reports"), timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = run_dir_from(result.stdout)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "passed"
    assert summary["measurements"]["detect"]["value"] is not None
    events = read_events(run_dir)
    fault = next(e for e in events if e["type"] == "run.start")["faults"][0]
    assert fault["kind"] == "netem_cut"
    assert "containerlab tools netem" in fault["description"]
    assert "vr-sros runs a VM whose guest does not see carrier loss" in fault["description"]
    injected = next(e for e in events if e["type"] == "fault.inject")
    assert injected["ok"] is True
    assert injected["description"] == fault["description"]
    assert ping_ok(H1, "10.0.21.2")


def test_netem_show_after_drill(vr_lab):
    impairments = subprocess.run([*containerlab_argv(), "tools", "netem", "show", "-n", H1], capture_output=True,
                                 text=True, timeout=30)

    assert impairments.returncode == 0, impairments.stderr
    row = next(line for line in impairments.stdout.splitlines() if line.startswith("eth1 "))
    assert "%" not in row
