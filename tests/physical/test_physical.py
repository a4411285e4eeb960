"""Physical labs: testbed loading, lab check, device CLI cuts and console recovery.

Physical devices cannot run here. Netmiko paths are tested against fakenos, which
runs real SSH servers with vendor CLI prompts (a stand-in for the devices); the
serial and console paths use the embedded lab's real console server, driven as if
its nodes were hardware. With ``DRILLKIT_TESTBED=<file>`` set, the testbed check
runs against that real testbed instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, copy_lab, lab_namespaces, needs_root, run_cli

from drillkit.lab.physical import TestbedError as InvalidTestbed, load_testbed

SECRET_ENV = {"DK_TEST_USER": "lab", "DK_TEST_PASS": "labpw-s3cret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A small IOS-like CLI for fakenos: enough for netmiko's session preparation and
# interface shutdown in configuration mode.
IOS_LIKE = {
    "name": "drillkit_ios",
    "initial_prompt": "{base_prompt}#",
    "enable_prompt": "{base_prompt}#",
    "config_prompt": "{base_prompt}(config)#",
    "commands": {
        "enable": {"output": None, "new_prompt": "{base_prompt}#", "help": "enable",
                   "prompt": "{base_prompt}>"},
        "terminal length 0": {"output": None, "help": "pager", "prompt": ["{base_prompt}>", "{base_prompt}#"]},
        "terminal width 511": {"output": None, "help": "width", "prompt": ["{base_prompt}>", "{base_prompt}#"]},
        "configure terminal": {"output": "Enter configuration commands, one per line.",
                               "new_prompt": "{base_prompt}(config)#", "help": "config",
                               "prompt": "{base_prompt}#"},
        "interface GigabitEthernet0/1": {"output": None, "new_prompt": "{base_prompt}(config-if)#",
                                         "help": "interface", "prompt": "{base_prompt}(config)#"},
        "shutdown": {"output": None, "help": "shut", "prompt": "{base_prompt}(config-if)#"},
        "no shutdown": {"output": None, "help": "no shut", "prompt": "{base_prompt}(config-if)#"},
        "end": {"output": None, "new_prompt": "{base_prompt}#", "help": "end",
                "prompt": ["{base_prompt}(config)#", "{base_prompt}(config-if)#"]},
        "exit": {"output": None, "new_prompt": "{base_prompt}(config)#", "help": "exit",
                 "prompt": "{base_prompt}(config-if)#"},
    },
}


@pytest.fixture
def fake_devices(monkeypatch):
    """Two fakenos SSH devices on loopback ports (stand-ins for real routers)."""
    from fakenos import FakeNOS

    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    ports = {"r1": free_port(), "r2": free_port()}
    inventory = {"hosts": {name: {"username": "lab", "password": SECRET_ENV["DK_TEST_PASS"], "port": port,
                                  "nos": {"plugin": "drillkit_ios"},
                                  "server": {"plugin": "ParamikoSshServer",
                                             "configuration": {"address": "127.0.0.1", "timeout": 1}}}
                           for name, port in ports.items()}}
    net = FakeNOS(inventory=inventory, plugins=[IOS_LIKE])
    net.start()
    try:
        yield ports
    finally:
        net.stop()


def write_testbed(folder: Path, ports: dict[str, int], *, closed_port: int | None = None) -> Path:
    devices = ""
    for name, port in ports.items():
        devices += f"""
  {name}:
    os: cisco_ios
    connections:
      mgmt: {{protocol: ssh, host: 127.0.0.1, port: {port}, path: oob}}
"""
        if closed_port:
            devices += f"      vty: {{protocol: ssh, host: 127.0.0.1, port: {closed_port}, path: inband}}\n"
    path = folder / "testbed.yaml"
    path.write_text(f"""testbed:
  name: fake-site
  credentials:
    default: {{username: "${{env:DK_TEST_USER}}", password: "${{env:DK_TEST_PASS}}"}}
devices:{devices}
topology:
  links:
    - endpoints: ["r1:GigabitEthernet0/1", "r2:GigabitEthernet0/1"]
""")
    return path


def test_testbed_rejects_literal_password(tmp_path):
    path = tmp_path / "tb.yaml"
    path.write_text("testbed:\n  name: x\n  credentials:\n    default: {username: admin, password: admin}\n"
                    "devices:\n  r1:\n    os: cisco_ios\n    connections:\n"
                    "      a: {protocol: ssh, host: 127.0.0.1, path: oob}\n")
    with pytest.raises(InvalidTestbed) as err:
        load_testbed(path)
    assert f"{path}:4" in str(err.value)
    assert "${env:NAME}" in str(err.value)


def test_testbed_unknown_console_server(tmp_path, monkeypatch):
    monkeypatch.setenv("DK_TEST_USER", "u")
    path = tmp_path / "tb.yaml"
    path.write_text("testbed:\n  name: x\ndevices:\n  r1:\n    os: cisco_ios\n    connections:\n"
                    "      console: {protocol: telnet, console_server: cs9, line: 3, path: oob}\n")
    with pytest.raises(InvalidTestbed) as err:
        load_testbed(path)
    assert "unknown console server" in str(err.value)
    assert ":7" in str(err.value)


def test_testbed_links_become_topology(tmp_path, monkeypatch):
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    testbed = load_testbed(write_testbed(tmp_path, {"r1": 1, "r2": 2}))
    topo = testbed.topology()
    assert set(topo.nodes) == {"r1", "r2"}
    assert topo.find_link("r1:GigabitEthernet0/1") is not None
    assert SECRET_ENV["DK_TEST_PASS"] in testbed.secrets


def test_lab_check_reports_unreachable(fake_devices, tmp_path):
    closed = free_port()
    testbed = write_testbed(tmp_path, fake_devices, closed_port=closed)
    result = run_cli("lab", "check", str(testbed), env={**os.environ, **SECRET_ENV})
    assert result.returncode == 1
    assert result.stdout.count(" ok") == 2
    assert result.stdout.count("UNREACHABLE") == 2
    assert "vty" in result.stdout


@pytest.mark.skipif(not os.environ.get("DRILLKIT_TESTBED"), reason="set DRILLKIT_TESTBED=<file> to check real hardware")
def test_lab_check_real_testbed():
    result = run_cli("lab", "check", os.environ["DRILLKIT_TESTBED"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_device_cut_over_netmiko(fake_devices, tmp_path):
    from drillkit.faults import LabContext, build_fault
    from drillkit.faults.physical import run_device_lines
    from drillkit.scenario.model import FaultSpec, Origin

    testbed_path = write_testbed(tmp_path, fake_devices)
    testbed = load_testbed(testbed_path)
    spec = FaultSpec(name="cut", kind="link_down", origin=Origin("x", 1), link="r1:GigabitEthernet0/1",
                     ends=("r1",), via="mgmt")
    fault = build_fault(spec, testbed.topology(), LabContext(lab="fake-site", namespaces={}, backend="physical"))
    assert fault.describe() == "shut r1:GigabitEthernet0/1 over mgmt through the device CLI"

    fault.inject()
    fault.restore()
    output = run_device_lines(str(testbed_path), "r1", "mgmt", ["interface GigabitEthernet0/1", "shutdown"])
    assert "r1(config-if)#" in output


def test_device_cut_unknown_command_fails(fake_devices, tmp_path):
    """A device type without a shutdown template gets a clear error, not a silent pass."""
    from drillkit.errors import LabError
    from drillkit.lab.physical import interface_commands

    with pytest.raises(LabError) as err:
        interface_commands("zte_zxros", "gei-0/1", down=True)
    assert "zte_zxros" in str(err.value)


def test_external_and_manual_faults(tmp_path, monkeypatch):
    from drillkit.faults.physical import ExternalFault, ManualFault

    marker = tmp_path / "pdu-outlet-3"
    external = ExternalFault("pdu", f"touch {marker}", f"rm {marker}")
    external.inject()
    assert marker.exists()
    external.restore()
    assert not marker.exists()

    monkeypatch.setenv("DRILLKIT_MANUAL_CONFIRM", "yes")
    manual = ManualFault("pull", "pull the cable from Gi0/1", "plug the cable back")
    manual.inject()
    manual.restore()


# -- the embedded lab driven as hardware ------------------------------------------

@pytest.fixture(scope="module")
def hw_lab(tmp_path_factory):
    """A copy of the edge-ai lab named t-phys, up, treated as a rack of devices."""
    if os.geteuid() != 0:
        pytest.skip("labs need root")
    folder = tmp_path_factory.mktemp("phys")
    topology = copy_lab(folder, "t-phys")
    # edge1's console line is open (no login), as a USB-to-serial adapter on a lab bench would be.
    topology.write_text(topology.read_text().replace(
        "      mgmt-ipv4: 172.20.20.21\n",
        "      mgmt-ipv4: 172.20.20.21\n      labels:\n        drillkit.console.auth: none\n"))
    up = run_cli("lab", "up", str(topology))
    assert up.returncode == 0, up.stderr
    try:
        yield folder
    finally:
        run_cli("lab", "down", str(topology))


def hw_testbed(folder: Path) -> Path:
    password_file = "/run/drillkit/labs/t-phys/console/secret/password"
    path = folder / "rack.yaml"
    path.write_text(f"""testbed:
  name: t-phys-rack
console_servers:
  cs1:
    host: 172.20.20.253
    protocol: ssh
    user_format: "{{device}}"
    namespace: dk-t-phys-jail
    lines: {{core: 3, edge1: 4}}
    credentials:
      default: {{username: admin, password: "${{file:{password_file}}}"}}
devices:
  core:
    os: linux
    credentials:
      default: {{username: root, password: "${{file:{password_file}}}"}}
    connections:
      console: {{protocol: ssh, console_server: cs1, path: oob}}
      vty: {{protocol: ssh, host: 10.0.1.1, port: 22, path: inband, namespace: clab-t-phys-noc}}
  edge1:
    os: linux
    credentials:
      default: {{username: root, password: "${{file:{password_file}}}"}}
    connections:
      console: {{protocol: ssh, console_server: cs1, path: oob}}
      usb: {{protocol: serial, url: "rfc2217://172.20.20.253:5004", path: oob, namespace: dk-t-phys-jail}}
topology:
  links:
    - endpoints: ["core:eth2", "edge1:eth1"]
""")
    return path


def hw_scenario(folder: Path, steps: str) -> Path:
    path = folder / "rack-cut.yaml"
    path.write_text(f"""name: rack-cut
lab: {{testbed: {hw_testbed(folder)}}}
faults:
  - {{name: uplink, kind: link_down, link: "core:eth2", ends: [core], via: console}}
probes:
  - name: noc-to-inf1
    kind: command
    from: local
    command: ip netns exec clab-t-phys-noc ping -c1 -W1 10.1.1.10
    interval: 500ms
    timeout: 2s
steps:
{steps}
sla: {{detect: 5s, recover: 30s}}
timing: {{baseline: 1s, settle: 1s, recover_timeout: 60s}}
""")
    return path


@needs_root
def test_hw_lab_check(hw_lab):
    result = run_cli("lab", "check", str(hw_testbed(hw_lab)))
    assert "console" in result.stdout
    assert result.stdout.count(" ok") == 3, result.stdout
    assert "vty" in result.stdout
    assert result.returncode == 1


@needs_root
def test_hw_cut_and_console_recovery(hw_lab, tmp_path):
    steps = """  - name: fix-core
    kind: device
    device: core
    via: console
    commands: ["ip link set dev eth2 up", "ip route replace 10.1.0.0/16 via 10.0.1.2"]
    timeout: 60s"""
    result = run_cli("run", str(hw_scenario(hw_lab, steps)), "--reports", str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(next(tmp_path.glob("*/*/summary.json")).read_text())
    assert summary["status"] == "passed"
    journal = next(tmp_path.glob("*/*/journal.jsonl")).read_text()
    assert "through the device CLI" in journal
    assert "s3cret" not in journal
    state = subprocess.run(["ip", "-n", "clab-t-phys-core", "-br", "link", "show", "eth2"], capture_output=True,
                           text=True).stdout
    assert " UP " in state


@needs_root
def test_hw_inband_step_refused(hw_lab, tmp_path):
    steps = """  - name: wrong-path
    kind: device
    device: core
    via: vty
    commands: ["ip link set dev eth2 up"]
  - name: fix-core
    kind: device
    device: core
    via: console
    commands: ["ip link set dev eth2 up", "ip route replace 10.1.0.0/16 via 10.0.1.2"]"""
    path = hw_scenario(hw_lab, steps.replace("    commands: [\"ip link set dev eth2 up\"]\n",
                                             "    commands: [\"ip link set dev eth2 up\"]\n    continue_on_error: true\n", 1))
    result = run_cli("run", str(path), "--reports", str(tmp_path), timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads(next(tmp_path.glob("*/*/summary.json")).read_text())
    assert summary["violations"]
    assert "in-band connection vty" in summary["violations"][0]["detail"]
    assert lab_namespaces("t-phys")


@needs_root
def test_hw_serial_console_step(hw_lab, tmp_path):
    """A console step with url: on a testbed reaches the device like a USB console cable would."""
    steps = """  - name: fix-core
    kind: device
    device: core
    via: console
    commands: ["ip link set dev eth2 up", "ip route replace 10.1.0.0/16 via 10.0.1.2"]
  - name: look-at-edge1
    kind: console
    node: edge1
    transport: serial
    url: "rfc2217://172.20.20.253:5004"
    commands: ["ip -br link show eth1"]"""
    # The serial URL is reached from the OOB jail, as the testbed's usb connection specifies.
    scenario = hw_scenario(hw_lab, steps)
    result = subprocess.run(["ip", "netns", "exec", "dk-t-phys-jail", sys.executable, "-m", "drillkit", "run",
                             str(scenario), "--reports", str(tmp_path)], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = next(tmp_path.glob("*/*/journal.jsonl")).read_text()
    assert "ip -br link show eth1" in journal
