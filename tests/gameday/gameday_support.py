"""Helpers for the game-day tests: the CLI, synthetic run folders, plans and scenario copies."""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import REPO, SCENARIOS

PLAYBOOK = SCENARIOS / "playbooks" / "restore-link.sh"


def gameday_commands_wired() -> bool:
    """Return whether ``drillkit/cli.py`` registers the game-day commands itself."""
    import argparse

    from drillkit.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return "gameday" in subparsers.choices


def cli_argv(*args: str) -> list[str]:
    """Return the argv of ``drillkit ARGS``; until cli.py registers the commands, through drillkit.gameday."""
    module = "drillkit" if gameday_commands_wired() else "drillkit.gameday"
    return [sys.executable, "-m", module, *args]


def drillkit(*args: str, timeout: float = 180, cwd: Path | None = None, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run ``drillkit`` with the game-day commands in a child process, as a user does."""
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO,
                          **kwargs)


def write_run(reports: Path, scenario: str, started: _dt.datetime, *, status: str = "passed",
              exit_code: int | None = None, values: dict[str, float | None] | None = None,
              targets: dict[str, float] | None = None, lab: str = "edge-ai") -> Path:
    """Write a run folder with a ``summary.json`` shaped like the runner's and a stub report.

    Returns:
        The path of ``summary.json``.
    """
    values = values if values is not None else {"detect": 0.5, "oob_access": 1.0, "recover": 2.0}
    targets = targets if targets is not None else {"detect": 2.0, "oob_access": 10.0, "recover": 15.0}
    stamp = started.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = reports / scenario / stamp
    run_dir.mkdir(parents=True)
    measurements = {name: {"name": name, "value": values.get(name), "uncertainty": 0.25, "note": ""}
                    for name in ("detect", "oob_access", "recover")}
    measurements["outage"] = dict(measurements["recover"], name="outage")
    slas = []
    for name, target in targets.items():
        measured = values.get(name)
        slas.append({"name": name, "target": target, "measured": measured,
                     "met": measured is not None and measured <= target, "uncertainty": 0.0})
    if exit_code is None:
        exit_code = {"passed": 0, "failed": 1, "error": 2, "aborted": 3}[status]
    summary = {
        "run_id": f"{scenario}-{stamp}", "scenario": scenario, "scenario_file": f"/scenarios/{scenario}.yaml",
        "lab": lab, "started": started.isoformat(timespec="microseconds"), "status": status,
        "exit_code": exit_code, "passed": status == "passed", "stop_reason": None, "error": None,
        "measurements": measurements, "sla": slas, "missed_sla": [s["name"] for s in slas if not s["met"]],
        "failures": [], "violations": [], "findings": [], "oob_access_per_node": {},
        "phases": [{"phase": "baseline", "start": 0.0, "end": 2.0, "ok": True},
                   {"phase": "inject", "start": 2.1, "end": 2.2, "ok": True}],
        "faults": [], "stale_windows": {}, "silent_windows": {}, "run_dir": str(run_dir),
        "report": str(run_dir / "report.html"),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (run_dir / "report.html").write_text(f"<!DOCTYPE html><title>{scenario}</title>\n")
    return run_dir / "summary.json"


def scenario_copy(folder: Path, topology: Path, *, name: str = "t-gd-uplink",
                  source: str = "edge-uplink-cut.yaml", extra_steps: str = "") -> Path:
    """Copy a bundled scenario for a copied lab: its own name, the lab's topology, absolute playbook paths."""
    text = (SCENARIOS / source).read_text()
    text = text.replace("topology: ../labs/edge-ai/edge-ai.clab.yml", f"topology: {topology}")
    text = text.replace("script: playbooks/restore-link.sh", f"script: {PLAYBOOK}")
    original = next(line for line in text.splitlines() if line.startswith("name: "))
    text = text.replace(original, f"name: {name}", 1)
    if extra_steps:
        text = text.replace("\nsteps:\n", "\nsteps:\n" + extra_steps, 1)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


@dataclass
class FakeResult:
    """The parts of a DrillResult that game days and schedules read."""

    run_id: str
    scenario: str
    run_dir: Path
    status: str
    exit_code: int
    stop_reason: str | None = None
    error: str | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    slas: tuple = ()

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"


def fake_result(reports: Path, scenario: str, started: _dt.datetime, *, status: str = "passed",
                values: dict[str, float | None] | None = None, lab: str = "edge-ai",
                stop_reason: str | None = None) -> FakeResult:
    summary = write_run(reports, scenario, started, status=status, values=values, lab=lab)
    data = json.loads(summary.read_text())
    return FakeResult(data["run_id"], scenario, summary.parent, status, data["exit_code"], stop_reason=stop_reason)


def utc(*args: int) -> _dt.datetime:
    return _dt.datetime(*args, tzinfo=_dt.timezone.utc)
