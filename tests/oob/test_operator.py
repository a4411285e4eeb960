"""``drillkit console`` in a terminal, driven through tmux as a person types, with and without a drill running."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from conftest import REPO, needs_root
from oob_support import BackgroundDrill, console_recovery_steps, read_events, run_dir_of, running_lab, write_scenario

pytestmark = [pytest.mark.lab, needs_root,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux to drive a terminal")]

LAB = "t-oobop"

HOLD_STEPS = """
  - name: hold
    kind: jail
    run: sleep 20
    timeout: 40s"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory, LAB) as running:
        yield running


class Terminal:
    """A detached tmux session on a private tmux server, read with capture-pane."""

    def __init__(self, command: str) -> None:
        self.socket = f"dk-{LAB}-{os.getpid()}"
        shell = f"{command}; echo CONSOLE-EXIT=$?; sleep 120"
        self.tmux("new-session", "-d", "-s", "op", "-x", "160", "-y", "50", "-c", str(REPO), shell)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, f"tmux {' '.join(args)}: {result.stderr}"
        return result.stdout

    def type(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "op", *keys)

    def screen(self) -> str:
        """Return the pane's text; tmux drops trailing spaces, so a prompt "core# " reads "core#"."""
        return self.tmux("capture-pane", "-p", "-t", "op", "-S", "-200")

    def wait_for(self, pattern: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if re.search(pattern, self.screen(), re.MULTILINE):
                return True
            time.sleep(0.2)
        return False

    def wake(self, prompt: str, timeout_s: float = 15.0) -> bool:
        """Press Enter once a second until ``prompt`` shows."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.type("Enter")
            if self.wait_for(prompt, 1.0):
                return True
        return False

    def leave(self) -> bool:
        """End the SSH session with its escape sequence (Enter, then ~.), as an operator does."""
        self.type("Enter")
        self.type("~.")
        return self.wait_for(r"CONSOLE-EXIT=\d+", 15)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def console_command(lab_name: str, node: str) -> str:
    return shlex.join([sys.executable, "-m", "drillkit", "console", lab_name, node])


def test_console_shows_node_prompt(lab):
    terminal = Terminal(console_command(LAB, "core"))
    try:
        prompt = terminal.wake(r"^core#")
        terminal.type("ip -br addr show eth2", "Enter")
        output = terminal.wait_for(r"^eth2\S*\s+UP\s+10\.0\.1\.1/30", 10)
        left = terminal.leave()
        screen = terminal.screen()
    finally:
        terminal.close()
    assert prompt, screen
    assert output, screen
    assert left, screen


def test_console_unknown_node_rejected(lab):
    terminal = Terminal(console_command(LAB, "no-such-node"))
    try:
        ended = terminal.wait_for(r"CONSOLE-EXIT=[1-9]", 30)
        screen = terminal.screen()
    finally:
        terminal.close()
    assert ended, screen
    assert "has no console line" in screen


@pytest.fixture(scope="module")
def operator_drill(lab, tmp_path_factory):
    """An operator opens core's console during a drill's outage, then the drill recovers."""
    folder = tmp_path_factory.mktemp("operator-drill")
    scenario = write_scenario(folder, "t-oob-operator", lab, steps=HOLD_STEPS + console_recovery_steps())
    drill = BackgroundDrill(scenario, folder / "reports")
    terminal = None
    seen = {}
    try:
        seen["hold"] = drill.wait_for("step hold", 60)
        terminal = Terminal(console_command(LAB, "core"))
        seen["prompt"] = terminal.wake(r"^core#")
        terminal.type("ip -br link show eth2", "Enter")
        seen["link down"] = terminal.wait_for(r"^eth2\S*\s+DOWN", 10)
        seen["left"] = terminal.leave()
        seen["screen"] = terminal.screen()
        status = drill.finish(150)
    finally:
        if terminal is not None:
            terminal.close()
        drill.stop()
    events = read_events(run_dir_of(folder / "reports", "t-oob-operator"))
    return {"status": status, "progress": drill.progress, "seen": seen,
            "sessions": [e for e in events if e["type"] == "operator.session"], "events": events}


def test_operator_saw_prompt_during_drill(operator_drill):
    seen = operator_drill["seen"]
    assert seen["hold"], operator_drill["progress"]
    assert seen["prompt"], seen.get("screen")


def test_operator_saw_cut_link(operator_drill):
    seen = operator_drill["seen"]
    assert seen["link down"], seen.get("screen")


def test_operator_left_session(operator_drill):
    seen = operator_drill["seen"]
    assert seen["left"], seen.get("screen")


def test_operator_drill_passes(operator_drill):
    assert operator_drill["status"] == 0, operator_drill["progress"]


def test_operator_session_start_and_end(operator_drill):
    states = [(e["state"], e["node"]) for e in operator_drill["sessions"]]
    assert states == [("start", "core"), ("end", "core")]


def test_operator_session_transcript(operator_drill):
    end = operator_drill["sessions"][-1]
    assert "ip -br link show eth2" in end["transcript"]
    assert re.search(r"eth2\S*\s+DOWN", end["transcript"]), end["transcript"]


def test_operator_session_inside_run(operator_drill):
    start, end = operator_drill["sessions"]
    run_end = [e for e in operator_drill["events"] if e["type"] == "run.end"]
    assert 0 < start["t"] < end["t"] < run_end[0]["t"]
    assert end["duration_s"] > 0
