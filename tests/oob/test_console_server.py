"""The lab's console server as an operator meets it: the line plan, SSH logins and console pitfalls."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from conftest import needs_root, run_cli
from drillkit.errors import OobError
from drillkit.lab.console import RFC2217_BASE, TELNET_BASE
from drillkit.oob.console import ConsoleSession, in_namespace, strip_ansi
from drillkit.oob.console_step import ConsoleCommand, open_ready_session, run_console_step
from oob_support import SshConsole, askpass_env, jail_ssh_argv, running_lab

pytestmark = [pytest.mark.lab, needs_root]

LAB = "t-oobsrv"
NODE_ORDER = ["noc", "feed", "core", "edge1", "inf1", "edge2", "inf2"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory, LAB) as running:
        yield running


class RecordingTransport:
    """A transport wrapper that keeps the raw bytes received, before any ANSI stripping."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.raw = b""

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def read(self, timeout_s: float) -> bytes:
        data = self.inner.read(timeout_s)
        self.raw += data
        return data

    def close(self) -> None:
        self.inner.close()


def in_jail(lab, work, timeout_s: float = 60.0):
    return in_namespace(lab.jail, work, timeout_s)


def exit_status(proc: subprocess.Popen, timeout_s: float) -> int | None:
    """Return the process's exit status once it ends, or None if it still runs after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc.poll()


def park_in_reads(lab, node: str, reads: int) -> None:
    """Leave ``node``'s console in a shell command that waits for ``reads`` lines, then hang up."""
    def work() -> None:
        session = open_ready_session(lab.plan, lab.ctx, node)
        try:
            session.wake()
            command = "; ".join(f"read -r line{i}" for i in range(reads))
            session.send(command)
            session.expect(re.escape(command), 5)
        finally:
            session.close()

    in_jail(lab, work)


# -- the line plan and logins -------------------------------------------------------------------


def test_status_shows_console_server(lab):
    result = run_cli("lab", "status", LAB, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"console server {lab.plan.address}" in result.stdout


@pytest.mark.parametrize("number,node", list(enumerate(NODE_ORDER, start=1)))
def test_status_shows_line_plan(lab, number, node):
    result = run_cli("lab", "status", LAB, timeout=60)
    row = re.compile(rf"^\s*{number}\s+{node}\s+{TELNET_BASE + number}\s+{RFC2217_BASE + number}\s+"
                     rf"ssh {node}@{re.escape(lab.plan.address)}\s*$", re.MULTILINE)
    assert row.search(result.stdout), result.stdout


@pytest.mark.parametrize("node,ifname,address", [
    ("core", "eth2", "10.0.1.1/30"),
    ("edge2", "eth1", "10.0.2.2/30"),
])
def test_line_user_lands_on_node(lab, node, ifname, address):
    console = SshConsole(jail_ssh_argv(lab, node))
    try:
        woke = console.wake(rf"{node}# ", timeout_s=15)
        console.send(f"ip -br addr show {ifname}\r")
        found = console.read_until(rf"{ifname}\S*\s+UP\s+{re.escape(address)}", 10)
    finally:
        console.close()
    assert woke, console.output
    assert found, console.output


def test_admin_password_opens_named_line(lab, tmp_path):
    env = askpass_env(tmp_path, f"cat {lab.plan.password_file}")
    console = SshConsole(jail_ssh_argv(lab, "admin", key=False, command="edge1"), env=env)
    try:
        woke = console.wake(r"edge1# ", timeout_s=15)
        console.send("ip -br addr show eth1\r")
        found = console.read_until(r"eth1\S*\s+UP\s+10\.0\.1\.2/30", 10)
    finally:
        console.close()
    assert woke, console.output
    assert found, console.output


def test_admin_wrong_password_rejected(lab, tmp_path):
    env = askpass_env(tmp_path, "echo not-the-lab-password")
    result = subprocess.run(jail_ssh_argv(lab, "admin", key=False, command="edge1"), env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert result.returncode == 255, result.stdout
    assert "Permission denied" in result.stderr


# -- console pitfalls -----------------------------------------------------------------------------


def test_ansi_colour_stripped_from_output(lab):
    def work():
        session = open_ready_session(lab.plan, lab.ctx, "feed")
        recorder = RecordingTransport(session.transport)
        session.transport = recorder
        try:
            session.wake()
            output = session.run(r"printf '\033[1;31mALARM\033[0m\n'", expect=r"feed# $")
        finally:
            session.close()
        return output, recorder.raw

    output, raw = in_jail(lab, work)
    assert b"\x1b[1;31mALARM\x1b[0m" in raw
    assert "ALARM" in output
    assert "\x1b" not in output


def test_strip_ansi_on_console_bytes(lab):
    def work():
        session = open_ready_session(lab.plan, lab.ctx, "feed")
        recorder = RecordingTransport(session.transport)
        session.transport = recorder
        try:
            session.wake()
            session.run(r"printf '\033[32mOK\033[0m\n'", expect=r"feed# $")
        finally:
            session.close()
        return recorder.raw.decode()

    raw = in_jail(lab, work)
    assert "\x1b[32mOK" in raw
    assert "\r" in raw
    assert "\x1b" not in strip_ansi(raw)
    assert "\r" not in strip_ansi(raw)
    assert "feed# " in strip_ansi(raw)


def test_wake_presses_enter_until_prompt(lab):
    park_in_reads(lab, "inf2", reads=3)

    def work() -> ConsoleSession:
        session = open_ready_session(lab.plan, lab.ctx, "inf2")
        try:
            session.wake(presses=5)
        finally:
            session.close()
        return session

    session = in_jail(lab, work)
    presses = [line for line in session.transcript if line.direction == "sent" and line.text == "<Enter>"]
    assert len(presses) == 3


def test_wake_too_few_presses_fails(lab):
    park_in_reads(lab, "noc", reads=2)

    def work() -> str:
        session = open_ready_session(lab.plan, lab.ctx, "noc")
        try:
            session.wake(presses=1)
        except OobError as exc:
            return str(exc)
        finally:
            session.close()
        return "wake returned"

    def tidy() -> None:
        session = open_ready_session(lab.plan, lab.ctx, "noc")
        try:
            session.wake(presses=4)
        finally:
            session.close()

    message = in_jail(lab, work)
    in_jail(lab, tidy)
    assert "after 1 Enter presses" in message


def test_held_line_without_clear_fails(lab):
    holder = SshConsole(jail_ssh_argv(lab, "inf1"))
    try:
        holder_ready = holder.wake(r"inf1# ", timeout_s=15)
        outcome = run_console_step(lab.plan, lab.ctx, "inf1", [ConsoleCommand("true")], clear=False, timeout_s=30)
        holder_running = holder.proc.poll() is None
    finally:
        holder.close()
    assert holder_ready, holder.output
    assert outcome.ok is False
    assert "held by another session" in (outcome.error or "")
    assert outcome.cleared_line is False
    assert holder_running


def test_held_line_cleared_and_used(lab):
    holder = SshConsole(jail_ssh_argv(lab, "inf1"))
    try:
        holder_ready = holder.wake(r"inf1# ", timeout_s=15)
        outcome = run_console_step(lab.plan, lab.ctx, "inf1",
                                   [ConsoleCommand("ip -br addr show eth1", expect=r"10\.1\.1\.10/24")],
                                   clear=True, timeout_s=30)
        holder_status = exit_status(holder.proc, 10)
    finally:
        holder.close()
    assert holder_ready, holder.output
    assert outcome.ok, outcome.error
    assert outcome.cleared_line is True
    assert any("held by another session" in note for note in outcome.notes)
    # ser2net's disconnect ended the other session: its ssh client exited.
    assert holder_status is not None


def test_netmiko_step_runs_command(lab):
    outcome = run_console_step(lab.plan, lab.ctx, "edge1", [ConsoleCommand("ip -br addr show eth2")],
                               transport="netmiko", timeout_s=60)
    assert outcome.ok, outcome.error
    assert "10.1.1.1/24" in outcome.transcript
    assert outcome.prompt_ns is not None
