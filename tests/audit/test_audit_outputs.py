"""The audit command: exit status, terminal table, JSON, HTML, and generated scenarios."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_cli
from drillkit.scenario.load import load_scenario
from test_audit_bundled import EDGE_AI, EDGE_AUDIT, FRR, SITE1_UPLINK, shared_fate_lab


def audit_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the audit command as its own program (the same handler ``drillkit audit`` uses)."""
    return subprocess.run([sys.executable, "-m", "drillkit.audit.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd or REPO)


def test_cli_exit_zero_when_independent():
    result = audit_cli(str(EDGE_AI), "--audit-file", str(EDGE_AUDIT))
    assert result.returncode == 0, result.stderr
    assert "verdict: management is independent of the data plane (exit 0)" in result.stdout
    assert re.search(rf"infer-site1\s+inf1\s+feed:8000\s+link {re.escape(SITE1_UPLINK)}\s+core OOB \(eth0, "
                     r"console\); edge1 OOB \(eth0, console\)", result.stdout), result.stdout


def test_cli_exit_one_on_shared_fate(tmp_path):
    result = audit_cli(str(shared_fate_lab(tmp_path)))
    assert result.returncode == 1, result.stderr
    assert "verdict: 3 management connections share fate with the data plane (exit 1)" in result.stdout
    assert "edge1 in-band SHARED" in result.stdout
    assert "SHARED FATE (no OOB way)" in result.stdout
    assert "edge1 LOST" in result.stdout


def test_cli_exit_two_on_invalid_audit_file(tmp_path):
    audit = tmp_path / "bad.yaml"
    audit.write_text("workloads:\n  - name: w\n    node: inf1\n    depends: [nowhere]\n")
    result = audit_cli(str(EDGE_AI), "--audit-file", str(audit))
    assert result.returncode == 2
    assert f"{audit}:4: workloads[0].depends[0]: unknown node 'nowhere'" in result.stderr


def test_cli_exit_two_on_missing_topology(tmp_path):
    result = audit_cli(str(tmp_path / "missing.clab.yml"))
    assert result.returncode == 2
    assert "topology file not found" in result.stderr


def test_cli_rejects_depth_three():
    result = audit_cli(str(EDGE_AI), "--depth", "3")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_drillkit_audit_subcommand_when_wired():
    from drillkit.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them here
    if "audit" not in commands:
        pytest.skip("drillkit.cli does not register the audit subcommand yet")
    result = run_cli("audit", str(EDGE_AI), "--audit-file", str(EDGE_AUDIT))
    assert result.returncode == 0, result.stderr
    assert "verdict: management is independent" in result.stdout


def test_json_file(tmp_path):
    out = tmp_path / "audit.json"
    result = audit_cli(str(FRR), "--depth", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert f"json: {out}" in result.stdout
    data = json.loads(out.read_text())
    assert data["depth"] == 2
    assert data["reference"] == {"node": "r1", "reason": "the node with the most links, as no node has "
                                                         "drillkit.role: noc"}
    assert data["exit_code"] == 0
    assert data["elements"]["r1:eth1--r2:eth1"] == {"kind": "link", "ends": ["r1", "r2"]}
    h2 = next(n for n in data["nodes"] if n["node"] == "h2")
    assert [f["elements"] for f in h2["single"]] == [["r2"], ["r2:eth3--h2:eth1"]]
    assert h2["pair_count"] == 3
    assert len(h2["pairs"]) == 3
    assert h2["single"][0]["management"] == [{"node": "r2", "from": "jail", "status": "oob",
                                              "oob": ["eth0", "console"], "shared": []}]
    assert h2["connections"][0]["path"] == ["@jail", "@oob", "h2/eth0"]


def test_json_pair_listing_follows_max_pairs(tmp_path):
    out = tmp_path / "audit.json"
    audit_cli(str(FRR), "--depth", "2", "--max-pairs", "1", "--json", str(out))
    h2 = next(n for n in json.loads(out.read_text())["nodes"] if n["node"] == "h2")
    assert h2["pair_count"] == 3
    assert len(h2["pairs"]) == 1


def test_html_is_self_contained(tmp_path):
    out = tmp_path / "audit.html"
    result = audit_cli(str(shared_fate_lab(tmp_path)), "--html", str(out))
    assert result.returncode == 1
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page
    for pattern in (r"\bsrc=", r"\bhref=", r"url\(", r"@import"):
        assert not re.search(pattern, page), pattern
    external = [u for u in re.findall(r"https?://[^\s\"'<>]+", page) if u != "http://www.w3.org/2000/svg"]
    assert external == []
    assert "management rides core:eth3--edge2:eth1" in page
    assert "console server uplink rides edge1" in page
    assert "@consrv:edge1" in page


def test_html_skips_drawing_of_big_lab(tmp_path):
    topo = tmp_path / "chain.clab.yml"
    nodes = "".join(f"    n{i}: {{}}\n" for i in range(200))
    links = "".join(f'    - endpoints: ["n{i}:eth2", "n{i + 1}:eth1"]\n' for i in range(199))
    topo.write_text(f"name: t-chain\ntopology:\n  defaults: {{kind: linux}}\n  nodes:\n{nodes}  links:\n{links}")
    out = tmp_path / "big.html"
    result = audit_cli(str(topo), "--html", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "<svg" not in page
    assert "The lab has 200 nodes" in page


# -- generated scenarios ----------------------------------------------------------------


@pytest.fixture()
def generated(tmp_path):
    folder = tmp_path / "drills"
    result = audit_cli(str(EDGE_AI), "--audit-file", str(EDGE_AUDIT), "--generate", str(folder))
    assert result.returncode == 0, result.stderr
    assert f"scenarios: 12 written to {folder}" in result.stdout
    return folder


def test_generated_scenarios_load(generated):
    files = sorted(generated.glob("drill_*.yaml"))
    assert len(files) == 12
    for path in files:
        scenario = load_scenario(path)
        assert scenario.sla == {"outage": 20.0, "recover": 20.0}
        assert scenario.probes[0].vantage in ("inf1", "inf2")
        assert scenario.probes[0].target == "10.0.0.6:8000"
        assert scenario.steps[-1].kind == "wait"


def test_generated_link_cut_recovers_over_consoles(generated):
    scenario = load_scenario(generated / "drill_audit-infer-site1-link-core-eth2--edge1-eth1.yaml")
    (fault,) = scenario.faults
    assert (fault.kind, fault.link, fault.ends) == ("link_down", "core:eth2", ("both",))
    consoles = [s for s in scenario.steps if s.kind == "console"]
    assert [s.node for s in consoles] == ["core", "edge1"]
    assert [line.send for line in consoles[0].console_lines] == [
        "ip link set dev eth2 up", "ip route replace 10.1.0.0/16 via 10.0.1.2 dev eth2"]
    assert [line.send for line in consoles[1].console_lines] == [
        "ip link set dev eth1 up", "ip route replace 10.0.0.0/8 via 10.0.1.1 dev eth1"]
    observe = [p for p in scenario.probes if p.role == "observe"]
    assert [(p.vantage, p.target) for p in observe] == [("jail", "172.20.20.11"), ("jail", "172.20.20.21")]
    assert "Management of core, edge1 survives over OOB" in scenario.description


def test_generated_node_cut_isolates_node(generated):
    scenario = load_scenario(generated / "drill_audit-infer-site1-node-feed.yaml")
    (fault,) = scenario.faults
    assert (fault.kind, fault.node) == ("node_isolation", "feed")
    (console, wait) = scenario.steps
    assert [line.send for line in console.console_lines] == [
        "ip link set dev eth1 up", "ip route replace 10.0.0.0/8 via 10.0.0.5 dev eth1"]
    assert wait.probes == ("reach-feed-8000",)


def test_generated_scenarios_pass_validate(generated):
    result = run_cli("validate", *[str(p) for p in sorted(generated.glob("*.yaml"))])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": valid (") == 12


def test_generated_scenarios_collected_by_pytest_plugin(generated):
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             str(generated)], capture_output=True, text=True, timeout=120, cwd=generated)
    assert result.returncode == 0, result.stdout + result.stderr
    items = [line for line in result.stdout.splitlines() if "::" in line]
    assert len(items) == 12
    assert any(line.endswith("drill_audit-infer-site1-node-core.yaml::audit-infer-site1-node-core")
               for line in items), items


def test_generated_shared_fate_scenario_expects_a_miss(tmp_path):
    folder = tmp_path / "drills"
    result = audit_cli(str(shared_fate_lab(tmp_path)), "--generate", str(folder))
    assert result.returncode == 1
    path = folder / "drill_audit-infer-site1-link-core-eth2--edge1-eth1.yaml"
    scenario = load_scenario(path)
    assert [s.node for s in scenario.steps if s.kind == "console"] == ["core"]
    assert "no OOB path to edge1" in scenario.description
    assert scenario.sla == {"outage": 20.0, "recover": 20.0}
    assert yaml.safe_load(path.read_text())["lab"]["topology"] == "../t-audshared.clab.yml"


def test_generate_without_address_names_workload(tmp_path):
    audit = tmp_path / "a.yaml"
    audit.write_text("workloads:\n  - name: w\n    node: inf1\n    depends: [edge2]\n")
    lab = tmp_path / "lab.clab.yml"
    lab.write_text(EDGE_AI.read_text().replace("        - ip addr add 10.0.2.2/30 dev eth1\n", "")
                   .replace("        - ip addr add 10.2.1.1/24 dev eth2\n", ""))
    (tmp_path / "edge_service.py").write_text("")
    result = audit_cli(str(lab), "--audit-file", str(audit), "--generate", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{audit}:2: depends: dependency edge2 of workload 'w' has no production address" in result.stderr
    assert "give address: in the audit file" in result.stderr
