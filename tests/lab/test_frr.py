"""FRR routers in the embedded lab: the bundled OSPF triangle from its unmodified files."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import REPO, SCENARIOS, lab_namespaces, needs_root, run_cli

pytestmark = [pytest.mark.lab, needs_root]

TRIANGLE = REPO / "labs" / "frr-triangle" / "frr-triangle.clab.yml"


def vtysh(node: str, command: str) -> str:
    pin = f"/run/drillkit/labs/frr-triangle/mnt/{node}"
    return subprocess.run(["nsenter", f"--net=/run/netns/clab-frr-triangle-{node}", f"--mount={pin}", "--",
                           "vtysh", "-c", command], capture_output=True, text=True, timeout=20).stdout


@pytest.fixture(scope="module")
def triangle():
    if lab_namespaces("frr-triangle"):
        pytest.fail("lab frr-triangle is already up; run 'drillkit lab down frr-triangle' first")
    up = run_cli("lab", "up", str(TRIANGLE))
    assert up.returncode == 0, up.stderr
    try:
        yield up
    finally:
        run_cli("lab", "down", str(TRIANGLE))


def test_frr_each_router_has_own_daemons(triangle):
    for node in ("r1", "r2", "r3"):
        config = vtysh(node, "show running-config")
        assert "router ospf" in config
        assert f"10.255.0.{node[1]}" in config


def test_frr_ospf_converges(triangle):
    import time

    deadline = time.monotonic() + 30
    full = 0
    while time.monotonic() < deadline:
        data = json.loads(vtysh("r1", "show ip ospf neighbor json") or "{}")
        full = sum(1 for entries in data.get("neighbors", {}).values() for e in entries
                   if str(e.get("nbrState", "")).startswith("Full"))
        if full == 2:
            break
        time.sleep(0.5)
    assert full == 2


def test_frr_host_daemons_untouched(triangle):
    # The host's own /var/run/frr contains no daemon sockets of the lab.
    from pathlib import Path

    host_sockets = [p.name for p in Path("/var/run/frr").glob("*.vty")] if Path("/var/run/frr").exists() else []
    assert host_sockets == []


def test_frr_console_lands_in_vtysh(triangle):
    from drillkit.engine.runner import lab_context
    from drillkit.lab.console import load_plan
    from drillkit.lab.state import LabState
    from drillkit.lab.topology import load_topology
    from drillkit.oob.console_step import ConsoleCommand, run_console_step

    topo = load_topology(TRIANGLE)
    ctx = lab_context(topo, LabState.load("frr-triangle"))
    outcome = run_console_step(load_plan("frr-triangle"), ctx, "r2",
                               [ConsoleCommand("show ip ospf neighbor", expect=r"10\.255\.0\.\d")])
    assert outcome.ok, outcome.error
    assert "show ip ospf neighbor" in outcome.transcript


def wait_h1_reaches_h2(limit_s: float = 45) -> None:
    """Wait until h1 reaches h2 through the routers: the drill's steady state needs a converged lab."""
    import time

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        ping = subprocess.run(["ip", "netns", "exec", "clab-frr-triangle-h1", "ping", "-c1", "-W1", "192.168.2.10"],
                              capture_output=True, text=True)
        if ping.returncode == 0:
            return
        time.sleep(0.5)
    routes = {n: vtysh(n, "show ip route") for n in ("r1", "r2")}
    raise AssertionError(f"h1 cannot reach h2 after {limit_s:g} s; routes: {routes}")


def test_frr_primary_cut_drill_passes(triangle, tmp_path):
    wait_h1_reaches_h2()
    result = run_cli("run", str(SCENARIOS / "frr-primary-cut.yaml"), "--reports", str(tmp_path), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = next(tmp_path.glob("*/*/summary.json"))
    data = json.loads(summary.read_text())
    assert data["status"] == "passed"
    assert data["oob_access_per_node"]["r1"] > 0
    assert "r1-console-no-shut" in (summary.parent / "journal.jsonl").read_text()
