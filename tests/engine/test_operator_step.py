"""An operator step driven through tmux as a person would: notes, done, and the probe-measured truth."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_lab, lab_namespaces, needs_root, run_cli

pytestmark = [pytest.mark.lab, needs_root]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


def wait_for_pane(session: str, text: str, limit_s: float = 60) -> str:
    deadline = time.monotonic() + limit_s
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session, "-S", "-200")
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on screen:\n{screen}")


@pytest.fixture
def op_lab(tmp_path):
    topology = copy_lab(tmp_path, "t-opstep")
    assert run_cli("lab", "up", str(topology)).returncode == 0
    try:
        yield topology
    finally:
        run_cli("lab", "down", str(topology))
        assert lab_namespaces("t-opstep") == []


def scenario(tmp_path: Path, topology: Path) -> Path:
    path = tmp_path / "operator.yaml"
    path.write_text(f"""name: operator-drill
lab: {topology}
faults:
  - {{name: uplink, kind: link_down, link: "core:eth2", ends: [core]}}
probes:
  - {{name: noc-to-inf1, kind: tcp, from: noc, target: "10.1.1.10:8080", interval: 250ms, timeout: 200ms}}
steps:
  - name: operator-fix
    kind: operator
    node: core
    instructions: bring core eth2 back up and re-add its route to site 1
    timeout: 120s
sla: {{detect: 2s, recover: 60s}}
timing: {{baseline: 1s, settle: 1s}}
""")
    return path


def test_operator_step_through_tmux(op_lab, tmp_path):
    session = "dk-op-test"
    reports = tmp_path / "reports"
    command = shlex.join([sys.executable, "-m", "drillkit", "run", str(scenario(tmp_path, op_lab)),
                          "--reports", str(reports)])
    tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", f"cd {REPO} && {command}; sleep 30")
    try:
        screen = wait_for_pane(session, "OPERATOR STEP operator-fix")
        assert "drillkit console t-opstep core" in screen

        tmux("send-keys", "-t", session, "looking at core over the console", "Enter")
        time.sleep(1.0)
        # The person fixes the router (here straight in its namespace), then reports.
        subprocess.run(["ip", "-n", "clab-t-opstep-core", "link", "set", "eth2", "up"], check=True)
        subprocess.run(["ip", "-n", "clab-t-opstep-core", "route", "replace", "10.1.0.0/16", "via", "10.0.1.2"],
                       check=True)
        time.sleep(1.5)
        tmux("send-keys", "-t", session, "done", "Enter")
        wait_for_pane(session, "verdict:")
    finally:
        tmux("kill-session", "-t", session)

    run_dir = next(reports.glob("*/*/summary.json")).parent
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    notes = [e for e in events if e["type"] == "operator.note"]
    acks = [e for e in events if e["type"] == "operator.ack"]
    assert notes[0]["text"] == "looking at core over the console"
    assert acks[0]["action"] == "reported recovered"
    summary = json.loads((run_dir / "summary.json").read_text())
    measured = summary["measurements"]
    assert summary["status"] == "passed"
    # Probes measured the recovery before the person reported it.
    assert measured["recover"]["value"] < measured["operator_reported"]["value"]


def test_unattended_schedule_rejects_operator_step(op_lab, tmp_path):
    result = run_cli("schedule", "add", "nightly", "--cron", "0 3 * * *", "--scenario",
                     str(scenario(tmp_path, op_lab)), env={**__import__("os").environ,
                                                           "DRILLKIT_HOME": str(tmp_path / "home")})
    assert result.returncode == 2
    assert "operator" in result.stderr
