"""Predicted against observed: run generated scenarios on a real copy of the edge-ai lab.

The audit predicts, for a failure, which workloads lose a dependency and whether
management of the touched nodes survives over OOB. The test generates the
scenarios and adds an ``observe`` probe per workload dependency to the chosen one.
It runs that scenario with ``drillkit run`` on the lab copy ``t-audit``, then
compares the prediction with what the journal recorded between the inject and the
measured recovery.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import copy_lab, needs_root, run_cli
from test_audit_bundled import EDGE_AUDIT
from test_audit_outputs import audit_cli

pytestmark = [pytest.mark.lab, needs_root]


@pytest.fixture(scope="module")
def audit_lab(tmp_path_factory):
    """Return the t-audit lab (up for this module), the audit's JSON findings and the generated scenarios."""
    folder = tmp_path_factory.mktemp("audit-lab")
    topo = copy_lab(folder, "t-audit")
    drills = folder / "drills"
    findings = folder / "audit.json"
    result = audit_cli(str(topo), "--audit-file", str(EDGE_AUDIT), "--json", str(findings), "--generate", str(drills))
    assert result.returncode == 0, result.stdout + result.stderr
    up = run_cli("lab", "up", str(topo))
    assert up.returncode == 0, up.stderr
    try:
        yield folder, json.loads(findings.read_text()), drills
    finally:
        down = run_cli("lab", "down", str(topo))
        assert down.returncode == 0, down.stderr


def predicted(findings: dict, element: str) -> tuple[dict[str, bool], dict[str, str]]:
    """Return, for one failed element, whether each workload loses a dependency, and each touched node's access."""
    cut: dict[str, bool] = {}
    access: dict[str, str] = {}
    for workload in findings["workloads"]:
        cut[workload["name"]] = False
        for dep in workload["dependencies"]:
            for failure in dep["single"]:
                if failure["elements"] == [element]:
                    cut[workload["name"]] = True
                    access.update({m["node"]: m["status"] for m in failure["management"]})
    return cut, access


def add_observers(path: Path, findings: dict) -> None:
    """Add an observe probe per workload dependency, so that unaffected workloads are measured too."""
    scenario = yaml.safe_load(path.read_text())
    for workload in findings["workloads"]:
        for dep in workload["dependencies"]:
            scenario["probes"].append({
                "name": f"observe-{workload['name']}", "kind": "tcp", "from": workload["node"],
                "target": f"{dep['address']}:{dep['port']}", "role": "observe", "interval": "250ms",
                "timeout": "200ms"})
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))


def window_samples(run_dir: Path) -> dict[str, list[bool]]:
    """Return each probe's sample results between the inject and the measured recovery."""
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]
    summary = json.loads((run_dir / "summary.json").read_text())
    inject = next(e["t_start"] for e in events if e["type"] == "fault.inject")
    end = inject + summary["measurements"]["recover"]["value"]
    samples: dict[str, list[bool]] = {}
    for event in events:
        if event["type"] == "probe.sample" and inject <= event["t"] <= end:
            samples.setdefault(event["probe"], []).append(event["ok"])
    return samples


@pytest.mark.parametrize(("element", "scenario_file"), [
    pytest.param("core:eth2--edge1:eth1", "drill_audit-infer-site1-link-core-eth2--edge1-eth1.yaml",
                 id="site1-uplink"),
    pytest.param("edge1", "drill_audit-infer-site1-node-edge1.yaml", id="edge1-isolated"),
])
def test_prediction_matches_run(audit_lab, tmp_path, element, scenario_file):
    _folder, findings, drills = audit_lab
    cut, access = predicted(findings, element)
    assert cut == {"infer-site1": True, "infer-site2": False}
    assert set(access.values()) == {"oob"}
    scenario = drills / scenario_file
    add_observers(scenario, findings)

    result = run_cli("run", str(scenario), "--reports", str(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = Path(next(line for line in result.stdout.splitlines() if line.startswith("report: "))[8:]).parent
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["measurements"]["detect"]["value"] is not None
    assert summary["measurements"]["oob_access"]["value"] is not None
    samples = window_samples(run_dir)
    for workload, lost in cut.items():
        observed_lost = not all(samples[f"observe-{workload}"])
        assert observed_lost == lost, (workload, samples[f"observe-{workload}"])
    for node in access:
        assert samples[f"mgmt-{node}"], f"no management sample of {node} during the outage"
        assert all(samples[f"mgmt-{node}"]), (node, samples[f"mgmt-{node}"])
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    consoles = [e for e in events if e["type"] == "step.end" and e["kind"] == "console"]
    assert [e["step"] for e in consoles] == [f"console-{node}" for node in access]
    assert all(e["ok"] for e in consoles)
