"""A game day driven through tmux as a person runs it: confirm, approve at the prompt, watch, read the verdict.

The drill is real: a copy of the edge-ai lab named t-gdtm is built for it and
removed afterwards.
"""

from __future__ import annotations

import datetime as _dt
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, copy_lab, lab_namespaces, needs_root, run_cli
from drillkit.gameday import history
from gameday_support import cli_argv, scenario_copy

pytestmark = [pytest.mark.lab, needs_root,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (scripts/setup.sh --test)")]


class Tmux:
    """One detached tmux session running one command."""

    def __init__(self, command: str, *, width: int = 160, height: int = 50) -> None:
        self.name = f"t-gd-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), command],
                       check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-200", "-t", self.name],
                              capture_output=True, text=True).stdout

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, text, "Enter"], check=True)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {timeout:g} s; the screen shows:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def write_plan(folder: Path, scenario: Path) -> Path:
    now = _dt.datetime.now(_dt.timezone.utc)
    start, end = now - _dt.timedelta(minutes=5), now + _dt.timedelta(minutes=60)
    plan = folder / "plan.yaml"
    plan.write_text(f"""\
name: tmux-day
window: {{start: "{start:%Y-%m-%d %H:%M}", end: "{end:%Y-%m-%d %H:%M}", timezone: UTC}}
roles:
  network-owner: dave
  noc: [bob, carol]
approvals: [network-owner, noc]
lab_up: true
reports: reports
sequence:
  - scenario: {scenario}
    sla: {{recover: 10s}}
""")
    return plan


def test_gameday_in_tmux(tmp_path):
    topology = copy_lab(tmp_path, "t-gdtm")
    scenario = scenario_copy(tmp_path, topology, name="t-gd-tmux")
    plan = write_plan(tmp_path, scenario)
    db = tmp_path / "h.sqlite"
    command = shlex.join(cli_argv("gameday", str(plan), "--db", str(db)))
    session = Tmux(f"cd {shlex.quote(str(REPO))} && {command}; echo EXIT=$?; sleep 600")
    try:
        session.wait_for("start game day tmux-day now? [y/N]")
        session.type("y")
        session.wait_for("network-owner (dave): type your name to approve, or press Enter to decline:")
        session.type("dave")
        session.wait_for("noc (bob, carol): type your name to approve, or press Enter to decline:")
        session.type("erin")
        session.wait_for("'erin' does not hold role noc; type bob or carol, or press Enter to decline")
        session.type("carol")
        screen = session.wait_for("EXIT=", timeout=120)
    finally:
        session.kill()
        if lab_namespaces("t-gdtm"):
            run_cli("lab", "down", str(topology))

    assert "EXIT=0" in screen, screen
    # The live panel shows every timer against its target, the plan's recover target among them.
    panel = [line.strip("│ ").split() for line in screen.splitlines()]
    recover = next(words for words in panel if words[:1] == ["recover"] and "met" in words)
    assert recover[2] == "10s"
    assert "PASSED (exit 0)" in screen
    assert "=== game day tmux-day: completed" in screen
    assert "report: " in screen

    [day] = history.list_gamedays(db=db)
    [run] = history.list_runs(db=db)
    assert day["status"] == "completed"
    assert [(a["role"], a["approver"], a["decision"], a["method"]) for a in day["approvals"]] == [
        ("network-owner", "dave", "approved", "terminal"), ("noc", "carol", "approved", "terminal")]
    assert all(a["run_id"] == run.run_id for a in day["approvals"])
    assert run.gameday_id == day["id"]
    assert run.status == "passed"
    assert run.slas["recover"].target == 10.0
    assert Path(run.report_path).is_file()
    assert lab_namespaces("t-gdtm") == []
