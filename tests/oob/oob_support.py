"""Helpers for the OOB tests: labs under their own names, OpenSSH and drills driven as an operator does.

Every lab here is a copy of the bundled edge-ai lab under a ``t-oob*`` name, so these
tests never touch a lab that other tests use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import REPO, copy_lab, lab_namespaces
from drillkit.engine.rollback import restore_pending
from drillkit.engine.runner import lab_context
from drillkit.faults.base import LabContext
from drillkit.lab.console import ConsolePlan, load_plan
from drillkit.lab.netns import NetnsBackend
from drillkit.lab.state import LabState
from drillkit.lab.topology import Topology, load_topology

# Production addresses of the bundled topology (labs/edge-ai/edge-ai.clab.yml).
CORE_TO_NOC = "10.0.0.1"
NOC_ADDRESS = "10.0.0.2"

SSH_OPTIONS = ["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5"]


@dataclass
class Lab:
    """A running copy of the edge-ai lab, with its state, drill context and console plan."""

    name: str
    topology: Path
    topo: Topology
    state: LabState
    ctx: LabContext
    plan: ConsolePlan

    @property
    def jail(self) -> str:
        return self.ctx.jail

    def namespace(self, node: str) -> str:
        return self.ctx.namespace(node)


def open_line_label(text: str, node: str) -> str:
    """Return topology text where ``node``'s console line accepts telnet and RFC 2217 without login."""
    marker = f"    {node}:\n"
    assert marker in text, f"node {node} not found in the topology text"
    return text.replace(marker, f"{marker}      labels:\n        drillkit.console.auth: none\n", 1)


@contextlib.contextmanager
def running_lab(tmp_path_factory, name: str, edit: Callable[[str], str] | None = None) -> Iterator[Lab]:
    """Bring up a copy of the edge-ai lab named ``name``; always take it down afterwards."""
    if lab_namespaces(name):
        pytest.fail(f"lab {name} is already up on this machine; run 'drillkit lab down {name}' before the tests")
    topology = copy_lab(tmp_path_factory.mktemp(name), name)
    if edit is not None:
        topology.write_text(edit(topology.read_text()))
    topo = load_topology(topology)
    backend = NetnsBackend()
    try:
        state = backend.up(topo)
        plan = load_plan(name)
        assert plan is not None, f"lab {name} came up without a console server"
        yield Lab(name, topology, topo, state, lab_context(topo, state), plan)
    finally:
        restore_pending(name)
        backend.down(name, topo=topo)


def jail_ssh_argv(lab: Lab, login: str, *, key: bool = True, command: str | None = None) -> list[str]:
    """Return an OpenSSH command run from the lab's OOB jail to the console server."""
    argv = ["ip", "netns", "exec", lab.jail, "ssh", *SSH_OPTIONS]
    if key:
        argv += ["-i", lab.state.ssh_key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    else:
        argv += ["-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1"]
    argv.append(f"{login}@{lab.plan.address}")
    if command is not None:
        argv.append(command)
    return argv


def askpass_env(folder: Path, password_command: str) -> dict[str, str]:
    """Return an environment in which OpenSSH takes its password from ``password_command``."""
    script = folder / "askpass"
    script.write_text(f"#!/bin/sh\n{password_command}\n")
    script.chmod(0o700)
    return {**os.environ, "SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force"}


class SshConsole:
    """An OpenSSH client process attached to a console line, driven through its stdin and stdout."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, bufsize=0)
        self.output = b""

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def read_until(self, pattern: str, timeout_s: float) -> bool:
        """Read output until ``pattern`` (a bytes regular expression as text) matches; False on timeout or EOF."""
        assert self.proc.stdout is not None
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout_s
        while not regex.search(self.output):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self.proc.stdout], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return False
                self.output += chunk
        return True

    def wake(self, prompt: str, timeout_s: float = 10.0) -> bool:
        """Press Enter once a second until ``prompt`` shows, as a person at a silent console does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.send("\r")
            if self.read_until(prompt, 1.0):
                return True
        return False

    def close(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout_s)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        # Give ser2net a moment to see the TCP close and free the line for the next test.
        time.sleep(0.2)


class BackgroundDrill:
    """``drillkit run`` in a child process, with its progress lines readable while it runs."""

    def __init__(self, scenario: Path, reports: Path) -> None:
        self.reports = reports
        self.stdout_path = reports / "drill.stdout"
        self.stderr_path = reports / "drill.stderr"
        reports.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(scenario), "--reports",
                                          str(reports)], cwd=REPO, stdout=stdout, stderr=stderr,
                                         stdin=subprocess.DEVNULL)

    @property
    def progress(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout_s: float) -> bool:
        """Return True once ``text`` appears in the drill's progress lines."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.progress:
                return True
            if self.proc.poll() is not None:
                return text in self.progress
            time.sleep(0.1)
        return False

    def finish(self, timeout_s: float) -> int:
        """Wait for the drill to end and return its exit status."""
        return self.proc.wait(timeout_s)

    def stop(self) -> None:
        """Interrupt a drill that is still running (it restores its faults on SIGINT)."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def run_dir_of(reports: Path, scenario: str) -> Path:
    """Return the only run folder a drill of ``scenario`` wrote under ``reports``."""
    runs = sorted(path for path in (reports / scenario).iterdir() if path.is_dir())
    assert len(runs) == 1, f"expected one run folder under {reports / scenario}, found {runs}"
    return runs[0]


def read_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def step_end(events: list[dict], step: str) -> dict:
    ends = [event for event in events if event["type"] == "step.end" and event["step"] == step]
    assert len(ends) == 1, f"expected one step.end event for step {step}, found {len(ends)}"
    return ends[0]


def console_recovery_steps(core_transport: str = "ssh", edge1_transport: str = "ssh") -> str:
    """Return the YAML steps that bring site 1's uplink back through the consoles of core and edge1."""
    return f"""
  - name: core-console
    kind: console
    node: core
    transport: {core_transport}
    commands:
      - ip link set dev eth2 up
      - ip route replace 10.1.0.0/16 via 10.0.1.2
      - send: ip -o link show dev eth2
        expect: "<[A-Z,-]*,UP[,>]"
    timeout: 45s
  - name: edge1-console
    kind: console
    node: edge1
    transport: {edge1_transport}
    commands:
      - ip link set dev eth1 up
      - ip route replace 10.0.0.0/8 via 10.0.1.1
    timeout: 45s
  - name: service-back
    kind: wait
    probes: [noc-to-inf1]
    timeout: 30s
"""


def write_scenario(folder: Path, name: str, lab: Lab, *, steps: str, extra: str = "") -> Path:
    """Write a drill that cuts ``core:eth2`` at both ends on ``lab``; ``steps`` is the YAML of its steps."""
    text = f"""name: {name}
lab:
  topology: {lab.topology}
faults:
  - name: site1-uplink
    kind: link_down
    link: core:eth2
    ends: both
probes:
  - name: noc-to-inf1
    kind: tcp
    from: noc
    target: 10.1.1.10:8080
    interval: 250ms
    timeout: 200ms
steps:{steps}
timing:
  baseline: 1s
  settle: 1s
  recover_timeout: 90s
stop_conditions:
  max_outage: 100s
{extra}"""
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path
