"""Console transports on a lab whose edge2 line is open without login: pyserial, telnet, RFC 2217.

Every socket is opened from a thread inside the lab's OOB jail, as drillkit's own console steps do.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
import serial

from conftest import needs_root, run_cli
from drillkit.oob.console import in_namespace
from drillkit.oob.console_step import ConsoleCommand, run_console_step
from oob_support import console_recovery_steps, open_line_label, read_summary, run_dir_of, running_lab, write_scenario

pytestmark = [pytest.mark.lab, needs_root]

LAB = "t-oobopen"
OPEN_NODE = "edge2"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory, LAB, edit=lambda text: open_line_label(text, OPEN_NODE)) as running:
        yield running


def pyserial_command(url: str, command: str, expect: bytes, timeout_s: float = 10.0) -> bytes:
    """Open ``url`` with pyserial, press Enter until the prompt shows, send ``command``; return what came back."""
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.2)
    try:
        received = b""
        deadline = time.monotonic() + timeout_s
        while b"edge2# " not in received and time.monotonic() < deadline:
            port.write(b"\r")
            received += port.read(4096)
        port.write(command.encode() + b"\r")
        while expect not in received and time.monotonic() < deadline:
            received += port.read(4096)
        return received
    finally:
        port.close()


def connect_error(address: str, port: int) -> str | None:
    """Return None when a TCP connection opens, else the error's name."""
    try:
        with socket.create_connection((address, port), timeout=2):
            return None
    except OSError as exc:
        return type(exc).__name__


def test_status_marks_open_line(lab):
    result = run_cli("lab", "status", LAB, timeout=60)
    line = lab.plan.lines[OPEN_NODE]
    assert f"OPEN: telnet {lab.plan.address} {line.telnet_port}, no login" in result.stdout


def test_rfc2217_url_reaches_open_line(lab):
    line = lab.plan.lines[OPEN_NODE]
    # A pty behind ser2net cannot set modem lines, so pyserial must not wait for their acknowledgement.
    url = f"rfc2217://{lab.plan.address}:{line.rfc2217_port}?ign_set_control"
    received = in_namespace(lab.jail, lambda: pyserial_command(url, "ip -br addr show eth1", b"10.0.2.2/30"), 30)
    assert re.search(rb"eth1\S*\s+UP\s+10\.0\.2\.2/30", received), received


def test_socket_url_reaches_open_line(lab):
    line = lab.plan.lines[OPEN_NODE]
    url = f"socket://{lab.plan.address}:{line.telnet_port}"
    received = in_namespace(lab.jail, lambda: pyserial_command(url, "ip -br addr show eth1", b"10.0.2.2/30"), 30)
    assert re.search(rb"eth1\S*\s+UP\s+10\.0\.2\.2/30", received), received


@pytest.mark.parametrize("kind", ["telnet", "rfc2217"])
def test_auth_line_port_closed_from_jail(lab, kind):
    line = lab.plan.lines["core"]
    port = line.telnet_port if kind == "telnet" else line.rfc2217_port
    error = in_namespace(lab.jail, lambda: connect_error(lab.plan.address, port), 10)
    assert error == "ConnectionRefusedError"


@pytest.mark.parametrize("kind", ["telnet", "rfc2217"])
def test_open_line_port_reachable_from_jail(lab, kind):
    line = lab.plan.lines[OPEN_NODE]
    port = line.telnet_port if kind == "telnet" else line.rfc2217_port
    error = in_namespace(lab.jail, lambda: connect_error(lab.plan.address, port), 10)
    assert error is None


@pytest.mark.parametrize("transport", ["telnet", "rfc2217"])
def test_console_step_over_open_port(lab, transport):
    outcome = run_console_step(lab.plan, lab.ctx, OPEN_NODE,
                               [ConsoleCommand("ip -br addr show eth2", expect=r"10\.2\.1\.1/24")],
                               transport=transport, timeout_s=30)
    assert outcome.ok, outcome.error
    assert "10.2.1.1/24" in outcome.transcript


def test_console_step_rfc2217_refused_on_auth_line(lab):
    outcome = run_console_step(lab.plan, lab.ctx, "core", [ConsoleCommand("true")], transport="rfc2217",
                               timeout_s=30)
    assert outcome.ok is False
    assert "accepts only authenticated SSH sessions" in (outcome.error or "")


def test_netmiko_step_on_core(lab):
    outcome = run_console_step(lab.plan, lab.ctx, "core", [ConsoleCommand("ip -br addr show eth2")],
                               transport="netmiko", timeout_s=60)
    assert outcome.ok, outcome.error
    assert "10.0.1.1/30" in outcome.transcript


@pytest.fixture(scope="module")
def exposure_drill(lab, tmp_path_factory):
    """A console recovery drill on this lab with the telnet_exposure check before the fault."""
    folder = tmp_path_factory.mktemp("exposure")
    scenario = write_scenario(folder, "t-oob-exposure", lab, steps=console_recovery_steps(),
                              extra="hardening: [telnet_exposure]\n")
    result = run_cli("run", str(scenario), "--reports", str(folder / "reports"), timeout=150)
    summary = read_summary(run_dir_of(folder / "reports", "t-oob-exposure"))
    return result.returncode, summary, result.stderr


def test_exposure_drill_exits_one(exposure_drill):
    status, _summary, progress = exposure_drill
    assert status == 1, progress


def test_exposure_findings_name_open_line(exposure_drill, lab):
    _status, summary, _progress = exposure_drill
    line = lab.plan.lines[OPEN_NODE]
    failed = {f["target"]: f["detail"] for f in summary["findings"]
              if f["check"] == "telnet_exposure" and not f["ok"]}
    assert set(failed) == {f"{lab.plan.address}:{line.telnet_port}", f"{lab.plan.address}:{line.rfc2217_port}"}
    for detail in failed.values():
        assert f"console line {line.line} ({OPEN_NODE})" in detail


def test_exposure_failure_listed(exposure_drill):
    _status, summary, _progress = exposure_drill
    assert any(f.startswith("hardening check telnet_exposure failed") for f in summary["failures"])


def test_exposure_drill_still_recovers(exposure_drill):
    _status, summary, _progress = exposure_drill
    assert summary["missed_sla"] == []
    assert summary["measurements"]["recover"]["value"] is not None
