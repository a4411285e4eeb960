"""Drills on the real edge-ai lab, run through the CLI as users run them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SCENARIOS, copy_lab, lab_namespaces, needs_root, run_cli

pytestmark = [pytest.mark.lab, needs_root]


def link_state(ns: str, ifname: str) -> str:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname], capture_output=True, text=True)
    return json.loads(out.stdout)[0]["operstate"]


def routes(ns: str) -> str:
    return subprocess.run(["ip", "-n", ns, "route"], capture_output=True, text=True).stdout


def run_dir_from(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("report: "))
    return Path(line.split(" ", 1)[1]).parent


def read_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(("scenario", "exit_code", "status"), [
    pytest.param("edge-uplink-cut", 0, "passed", id="passes"),
    pytest.param("edge-sla-miss", 1, "failed", id="sla-miss"),
    pytest.param("edge-stop-condition", 3, "aborted", id="stop-condition"),
])
def test_bundled_scenario_verdict(edge_lab, tmp_path, scenario, exit_code, status):
    result = run_cli("run", str(SCENARIOS / f"{scenario}.yaml"), "--reports", str(tmp_path))

    assert result.returncode == exit_code, result.stdout + result.stderr
    run_dir = run_dir_from(result.stdout)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == status
    assert summary["exit_code"] == exit_code
    assert (run_dir / "report.html").is_file()
    assert (run_dir / "junit.xml").is_file()
    # Whatever the verdict, the lab is back as it was.
    assert link_state("clab-edge-ai-core", "eth2") == "UP"
    assert "10.1.0.0/16 via 10.0.1.2" in routes("clab-edge-ai-core")
    assert "10.2.0.0/16 via 10.0.2.2" in routes("clab-edge-ai-core")


def test_passing_drill_measures_every_phase(edge_lab, tmp_path):
    result = run_cli("run", str(SCENARIOS / "edge-uplink-cut.yaml"), "--reports", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir_from(result.stdout) / "summary.json").read_text())
    m = summary["measurements"]

    assert 0 < m["detect"]["value"] < 2
    assert m["detect"]["uncertainty"] == 0.25
    assert m["detect"]["value"] < m["oob_access"]["value"] < m["recover"]["value"]
    assert m["outage"]["value"] == m["recover"]["value"]
    assert m["stale_data"]["value"] is not None
    assert summary["missed_sla"] == []


def test_sla_miss_names_phase_measured_and_target(edge_lab, tmp_path):
    result = run_cli("run", str(SCENARIOS / "edge-sla-miss.yaml"), "--reports", str(tmp_path))
    assert result.returncode == 1
    assert "SLA recover missed:" in result.stderr
    assert "target 3 s" in result.stderr
    summary = json.loads((run_dir_from(result.stdout) / "summary.json").read_text())
    assert "recover" in summary["missed_sla"]
    assert summary["measurements"]["recover"]["value"] > 3
    stale = summary["stale_windows"]["inf1-feed-fresh"]
    assert stale and stale[0]["end"] > stale[0]["start"]
    assert summary["silent_windows"]["inf1-feed-fresh"], "liveness stayed green while data was stale"


def test_report_rerenders_from_journal(edge_lab, tmp_path):
    result = run_cli("run", str(SCENARIOS / "edge-stop-condition.yaml"), "--reports", str(tmp_path))
    run_dir = run_dir_from(result.stdout)
    before = json.loads((run_dir / "summary.json").read_text())
    for name in ("report.html", "summary.json", "junit.xml"):
        (run_dir / name).unlink()

    again = run_cli("report", str(run_dir))

    assert again.returncode == 0, again.stderr
    assert "verdict: ABORTED (exit 3)" in again.stdout
    after = json.loads((run_dir / "summary.json").read_text())
    assert after["measurements"] == before["measurements"]
    assert after["stop_reason"] == before["stop_reason"]
    assert (run_dir / "report.html").is_file()


def test_dry_run_changes_nothing(tmp_path):
    before = lab_namespaces("edge-ai")
    result = run_cli("run", str(SCENARIOS / "edge-uplink-cut.yaml"), "--dry-run", "--reports", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "site1-uplink: link_down core:eth2" in result.stdout
    assert "nothing was changed" in result.stdout
    assert lab_namespaces("edge-ai") == before
    assert list(tmp_path.iterdir()) == []


def test_run_without_lab_exits_2(tmp_path):
    topo = copy_lab(tmp_path, "t-notup")
    scenario = tmp_path / "notup.yaml"
    scenario.write_text((SCENARIOS / "edge-uplink-cut.yaml").read_text()
                        .replace("../labs/edge-ai/edge-ai.clab.yml", str(topo))
                        .replace("playbooks/", f"{SCENARIOS}/playbooks/"))
    result = run_cli("run", str(scenario), "--reports", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "lab 't-notup' is not up" in result.stderr
    assert "--lab-up" in result.stderr
    assert lab_namespaces("t-notup") == []


def test_failed_baseline_injects_nothing(edge_lab, tmp_path):
    scenario = tmp_path / "bad-baseline.yaml"
    scenario.write_text(f"""
name: bad-baseline
lab: {REPO}/labs/edge-ai/edge-ai.clab.yml
faults:
  - {{name: cut, kind: link_down, link: "core:eth2"}}
probes:
  - {{name: closed-port, kind: tcp, from: noc, target: "10.1.1.10:9", interval: 200ms}}
timing: {{baseline: 500ms}}
""")
    result = run_cli("run", str(scenario), "--reports", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    events = read_events(run_dir_from(result.stdout))
    assert not [e for e in events if e["type"] == "fault.inject"]
    assert any(e["type"] == "baseline" and not e["ok"] for e in events)
    assert link_state("clab-edge-ai-core", "eth2") == "UP"


def _hanging_scenario(tmp_path: Path) -> Path:
    scenario = tmp_path / "hang.yaml"
    scenario.write_text(f"""
name: hang
lab: {REPO}/labs/edge-ai/edge-ai.clab.yml
faults:
  - {{name: cut, kind: link_down, link: "core:eth2"}}
probes:
  - {{name: noc-to-inf1, kind: tcp, from: noc, target: "10.1.1.10:8080", interval: 200ms, timeout: 150ms}}
steps:
  - {{name: operator-away, kind: jail, run: "sleep 60", timeout: 90s}}
timing: {{baseline: 500ms}}
""")
    return scenario


def _wait_for_inject(proc: subprocess.Popen, reports: Path, limit_s: float = 30) -> Path:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for journal in reports.glob("*/*/journal.jsonl"):
            if '"type": "mark", ' in journal.read_text() or '"name": "detect"' in journal.read_text():
                return journal.parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the fault was not injected in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_mid_fault_restores_within_2s(edge_lab, tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(_hanging_scenario(tmp_path)),
                             "--reports", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    run_dir = _wait_for_inject(proc, tmp_path)
    assert link_state("clab-edge-ai-core", "eth2") == "DOWN"

    sent = time.monotonic()
    proc.send_signal(sig)
    while link_state("clab-edge-ai-core", "eth2") != "UP" and time.monotonic() - sent < 5:
        time.sleep(0.02)
    restored_after = time.monotonic() - sent
    out, err = proc.communicate(timeout=30)

    assert restored_after < 2.0, err
    assert proc.returncode == 3, err
    assert "10.1.0.0/16 via 10.0.1.2" in routes("clab-edge-ai-core")
    assert (run_dir / "report.html").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stop_reason"].startswith("interrupted by SIG")


def test_kill9_then_restore_command(edge_lab, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(_hanging_scenario(tmp_path)),
                             "--reports", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    _wait_for_inject(proc, tmp_path)
    proc.kill()
    proc.wait(10)
    assert link_state("clab-edge-ai-core", "eth2") == "DOWN"
    assert "10.1.0.0/16" not in routes("clab-edge-ai-core")

    result = run_cli("restore")

    assert result.returncode == 0, result.stderr
    assert "restored fault cut" in result.stderr
    assert link_state("clab-edge-ai-core", "eth2") == "UP"
    assert "10.1.0.0/16 via 10.0.1.2" in routes("clab-edge-ai-core")
    assert run_cli("restore").stderr.startswith("nothing to restore")
