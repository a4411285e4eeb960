"""Drills through ``drillkit run``: recovery over the consoles only, hardening checks, in-band attempts."""

from __future__ import annotations

import socket
import subprocess

import pytest

from conftest import needs_root, run_cli
from drillkit.oob.console import in_namespace
from drillkit.oob.hardening import CHECKS
from oob_support import (CORE_TO_NOC, NOC_ADDRESS, BackgroundDrill, console_recovery_steps, read_events,
                         read_summary, run_dir_of, running_lab, step_end, write_scenario)

pytestmark = [pytest.mark.lab, needs_root]

LAB = "t-oobrec"

CORE_COMMANDS = ["ip link set dev eth2 up", "ip route replace 10.1.0.0/16 via 10.0.1.2", "ip -o link show dev eth2"]
EDGE1_COMMANDS = ["ip link set dev eth1 up", "ip route replace 10.0.0.0/8 via 10.0.1.1"]

INBAND_STEP_FILE = '''\
from drillkit.errors import OobError


def try_inband(oob):
    """Ask for SSH to core over its production address, as a careless playbook would."""
    try:
        oob.ssh("core", "true", path="inband")
    except OobError as exc:
        return f"refused: {exc}"
    return "in-band SSH was allowed"
'''

INBAND_STEPS = """
  - name: inband-ssh
    kind: jail
    run: $DRILLKIT_SSH -o ConnectTimeout=5 root@10.0.0.1 true
    timeout: 15s
    continue_on_error: true
  - name: inband-api
    kind: python
    call: inband_steps.py:try_inband
    timeout: 15s
  - name: hold
    kind: sleep
    duration: 4s"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory, LAB) as running:
        yield running


@pytest.fixture(scope="module")
def console_drill(lab, tmp_path_factory):
    """Cut core:eth2 and recover through the consoles of core (SSH) and edge1 (netmiko) only."""
    folder = tmp_path_factory.mktemp("console-drill")
    hardening = "hardening: [" + ", ".join(CHECKS) + "]\n"
    extra = hardening + "sla:\n  detect: 2s\n  oob_access: 5s\n  recover: 20s\n"
    scenario = write_scenario(folder, "t-oob-console", lab, steps=console_recovery_steps("ssh", "netmiko"),
                              extra=extra)
    result = run_cli("run", str(scenario), "--reports", str(folder / "reports"), timeout=240)
    run_dir = run_dir_of(folder / "reports", "t-oob-console")
    return result, read_summary(run_dir), read_events(run_dir)


@pytest.fixture(scope="module")
def inband_drill(lab, tmp_path_factory):
    """A drill whose playbook tries the in-band path twice, while someone on the NOC tries SSH to core."""
    folder = tmp_path_factory.mktemp("inband-drill")
    (folder / "inband_steps.py").write_text(INBAND_STEP_FILE)
    scenario = write_scenario(folder, "t-oob-inband", lab, steps=INBAND_STEPS + console_recovery_steps())
    drill = BackgroundDrill(scenario, folder / "reports")
    try:
        noc_error = "the drill never reached its hold step"
        if drill.wait_for("step hold", 60):
            # During the outage an engineer on the NOC tries SSH to core's production address.
            noc_error = in_namespace(lab.namespace("noc"), lambda: connect_error(CORE_TO_NOC, 22), 15)
        status = drill.finish(150)
    finally:
        drill.stop()
    run_dir = run_dir_of(folder / "reports", "t-oob-inband")
    return {"status": status, "progress": drill.progress, "noc_error": noc_error,
            "summary": read_summary(run_dir), "events": read_events(run_dir)}


def connect_error(address: str, port: int) -> str | None:
    try:
        with socket.create_connection((address, port), timeout=2):
            return None
    except OSError as exc:
        return type(exc).__name__


def violations_at(summary: dict, where: str) -> list[dict]:
    return [v for v in summary["violations"] if v["where"] == where]


# -- recovery through the consoles only -----------------------------------------------------------


def test_console_drill_exits_zero(console_drill):
    result, _summary, _events = console_drill
    assert result.returncode == 0, result.stdout + result.stderr


def test_console_drill_passes(console_drill):
    _result, summary, _events = console_drill
    assert summary["status"] == "passed", summary["failures"]


@pytest.mark.parametrize("node", ["core", "edge1"])
def test_console_drill_oob_access_per_node(console_drill, node):
    _result, summary, _events = console_drill
    assert summary["oob_access_per_node"].get(node, 0) > 0, summary["oob_access_per_node"]


def test_console_drill_steps_all_console(console_drill):
    _result, _summary, events = console_drill
    kinds = {e["step"]: e["kind"] for e in events if e["type"] == "step.start"}
    assert kinds == {"core-console": "console", "edge1-console": "console", "service-back": "wait"}


@pytest.mark.parametrize("step,commands", [("core-console", CORE_COMMANDS), ("edge1-console", EDGE1_COMMANDS)])
def test_console_drill_transcript_has_commands(console_drill, step, commands):
    _result, _summary, events = console_drill
    output = step_end(events, step)["output"]
    for command in commands:
        assert command in output, output


def test_console_drill_transcript_shows_link_up(console_drill):
    _result, _summary, events = console_drill
    output = step_end(events, "core-console")["output"]
    assert ",UP" in output


@pytest.mark.parametrize("check", CHECKS)
def test_hardening_default_lab_ran(console_drill, check):
    _result, summary, _events = console_drill
    assert [f for f in summary["findings"] if f["check"] == check]


@pytest.mark.parametrize("check", CHECKS)
def test_hardening_default_lab_passes(console_drill, check):
    _result, summary, _events = console_drill
    failed = [f for f in summary["findings"] if f["check"] == check and not f["ok"]]
    assert failed == []


def test_console_drill_route_back(console_drill, lab):
    routes = subprocess.run(["ip", "-n", lab.namespace("core"), "route"], capture_output=True, text=True,
                            timeout=10).stdout
    assert "10.1.0.0/16 via 10.0.1.2" in routes


# -- in-band attempts during the outage -----------------------------------------------------------


def test_inband_drill_exits_one(inband_drill):
    assert inband_drill["status"] == 1, inband_drill["progress"]


def test_inband_drill_still_recovers(inband_drill):
    measurements = inband_drill["summary"]["measurements"]
    assert measurements["recover"]["value"] is not None


def test_inband_jail_ssh_step_fails(inband_drill):
    assert step_end(inband_drill["events"], "inband-ssh")["ok"] is False


def test_inband_jail_ssh_violation(inband_drill, lab):
    jail_address = str(lab.topo.mgmt.subnet.broadcast_address - 1)
    seen = [(v["source"], v["destination"], v["protocol"], v["port"])
            for v in violations_at(inband_drill["summary"], "jail")]
    assert (jail_address, CORE_TO_NOC, "tcp", 22) in seen


def test_inband_api_error_names_oob_path(inband_drill, lab):
    output = step_end(inband_drill["events"], "inband-api")["output"]
    assert output.startswith("refused: "), output
    assert "path='oob'" in output
    assert lab.ctx.mgmt["core"] in output


def test_inband_api_violation(inband_drill):
    api = violations_at(inband_drill["summary"], "api")
    assert [(v["source"], v["destination"]) for v in api] == [("step inband-api", "core")]


def test_inband_noc_connection_dropped(inband_drill):
    # The guard drops the SYN on core's production interface, so the client times out.
    assert inband_drill["noc_error"] == "TimeoutError"


def test_inband_noc_violation_seen_at_core(inband_drill):
    seen = [(v["source"], v["destination"], v["protocol"], v["port"])
            for v in violations_at(inband_drill["summary"], "core")]
    assert (NOC_ADDRESS, CORE_TO_NOC, "tcp", 22) in seen


def test_inband_noc_violation_in_fault_window(inband_drill):
    summary = inband_drill["summary"]
    fault = summary["faults"][0]
    at_core = [v for v in violations_at(summary, "core") if v["source"] == NOC_ADDRESS]
    assert at_core
    for violation in at_core:
        # The guard reads each attempt's time from an nftables timeout with one-second resolution.
        assert fault["injected"] - violation["uncertainty_s"] <= violation["at"] <= fault["restored"]
