"""Toxiproxy faults in a real lab: a copy of labs/edge-ai-proxy named t-toxlab, driven through the CLI.

The lab's feed relays run the real toxiproxy-server when it is on the PATH and
drillkit's stand-in otherwise (labs/edge-ai-proxy/start-toxiproxy.sh picks), so
on machines without Toxiproxy these tests exercise the stand-in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SCENARIOS, lab_namespaces, needs_root, run_cli
from tox_support import RELAY_API, api_in_namespace, copy_proxy_lab, copy_scenario

pytestmark = [pytest.mark.lab, needs_root]

LAB = "t-toxlab"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The copied lab, up for this module: (topology path, lab state)."""
    from drillkit.engine.rollback import restore_pending
    from drillkit.lab.netns import NetnsBackend
    from drillkit.lab.topology import load_topology

    if lab_namespaces(LAB):
        pytest.fail(f"lab {LAB} is already up; run 'drillkit lab down {LAB}' before the tests")
    topology = copy_proxy_lab(tmp_path_factory.mktemp("toxlab"), LAB)
    topo = load_topology(topology)
    backend = NetnsBackend()
    saved = os.environ.get("DRILLKIT_PYTHON")
    # The start script runs the stand-in with this Python, which has drillkit installed.
    os.environ["DRILLKIT_PYTHON"] = sys.executable
    try:
        state = backend.up(topo)
    finally:
        if saved is None:
            os.environ.pop("DRILLKIT_PYTHON", None)
        else:
            os.environ["DRILLKIT_PYTHON"] = saved
    try:
        yield topology, state
    finally:
        restore_pending(LAB)
        backend.down(LAB, topo=topo)


def jail(state) -> str:
    return state.jail


def node_ns(node: str) -> str:
    return f"clab-{LAB}-{node}"


def relay(state, node: str, path: str, method: str = "GET", body=None):
    return api_in_namespace(jail(state), RELAY_API[node], method, path, body)


def feed_age(node: str) -> float | None:
    status, body = api_in_namespace(node_ns(node), "http://127.0.0.1:8080", "GET", "/infer")
    assert status == 200, body
    return body["feed_age_s"]


def wait_fresh(node: str, limit_s: float = 10.0) -> float:
    deadline = time.monotonic() + limit_s
    while True:
        age = feed_age(node)
        if age is not None and age < 1.0:
            return age
        assert time.monotonic() < deadline, f"{node}'s feed is not fresh after {limit_s:g} s (age {age})"
        time.sleep(0.2)


def run_dir_from(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("report: "))
    return Path(line.split(" ", 1)[1]).parent


def test_lab_feeds_pass_through_relays(lab):
    _, state = lab
    for node, site in (("edge1", "site1"), ("edge2", "site2")):
        status, proxy = relay(state, node, f"/proxies/feed-{site}")
        assert status == 200, proxy
        assert proxy["upstream"] == "10.0.0.6:8000"
        assert proxy["enabled"] is True
    assert wait_fresh("inf1") < 1.0
    assert wait_fresh("inf2") < 1.0

    status, version = relay(state, "edge1", "/version")
    real = shutil.which("toxiproxy-server") is not None
    assert ("standin" in version["version"]) is not real


def test_feed_stall_scenario_reports_silent_window(lab, tmp_path):
    topology, state = lab
    scenario = copy_scenario(SCENARIOS / "edge-feed-stall.yaml", topology, tmp_path)

    result = run_cli("run", str(scenario), "--reports", str(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((run_dir_from(result.stdout) / "summary.json").read_text())
    silent = summary["silent_windows"]["inf1-feed-fresh"]
    assert len(silent) == 1
    assert silent[0]["end"] > silent[0]["start"]
    stale_sla = next(s for s in summary["sla"] if s["name"] == "stale_data")
    assert stale_sla["met"] is True
    assert stale_sla["measured"] > 0
    assert summary["stale_windows"]["site2-feed-fresh"] == []
    assert [f["restore_ok"] for f in summary["faults"]] == [True]
    assert relay(state, "edge1", "/proxies/feed-site1/toxics")[1] == []


def test_two_servers_in_one_drill(lab, tmp_path):
    topology, state = lab
    playbook = topology.parent / "playbooks" / "feed_relay.py"
    scenario = tmp_path / "two-relays.yaml"
    scenario.write_text(f"""name: t-tox-two-relays
lab: {topology}
faults:
  - {{name: stall-site1, kind: toxiproxy, server: "{RELAY_API['edge1']}", from: jail, proxy: feed-site1,
      toxic: timeout, attributes: {{timeout: 0}}}}
  - {{name: cut-site2, kind: toxiproxy, server: "{RELAY_API['edge2']}", from: edge2, proxy: feed-site2,
      toxic: down}}
probes:
  - {{name: fresh1, kind: freshness, from: inf1, url: "http://127.0.0.1:8080/infer", field: feed_age_s,
      tolerance: 1s, interval: 500ms}}
  - {{name: fresh2, kind: freshness, from: inf2, url: "http://127.0.0.1:8080/infer", field: feed_age_s,
      tolerance: 1s, interval: 500ms}}
steps:
  - {{name: reset1, kind: python, call: "{playbook}:reset_site1"}}
  - {{name: reset2, kind: python, call: "{playbook}:reset_site2"}}
  - {{name: fresh, kind: wait, probes: [fresh1, fresh2], timeout: 30s}}
timing: {{baseline: 2s, settle: 1s, detect_timeout: 10s}}
""")

    result = run_cli("run", str(scenario), "--reports", str(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((run_dir_from(result.stdout) / "summary.json").read_text())
    assert len(summary["stale_windows"]["fresh1"]) >= 1
    assert len(summary["stale_windows"]["fresh2"]) >= 1
    assert sorted((f["fault"], f["restore_ok"]) for f in summary["faults"]) == [
        ("cut-site2", True), ("stall-site1", True)]
    assert relay(state, "edge1", "/proxies/feed-site1")[1]["toxics"] == []
    assert relay(state, "edge2", "/proxies/feed-site2")[1]["enabled"] is True


def _wait_for_inject(proc: subprocess.Popen, reports: Path, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for journal in reports.glob("*/*/journal.jsonl"):
            if '"type": "fault.inject"' in journal.read_text():
                return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the fault was not injected in time")


def test_killed_run_restored_by_restore_command(lab, tmp_path):
    topology, state = lab
    scenario = tmp_path / "hang.yaml"
    scenario.write_text(f"""name: t-tox-hang
lab: {topology}
faults:
  - {{name: stall, kind: toxiproxy, server: "{RELAY_API['edge1']}", from: jail, proxy: feed-site1,
      toxic: latency, attributes: {{latency: 3000}}}}
probes:
  - {{name: fresh1, kind: freshness, from: inf1, url: "http://127.0.0.1:8080/infer", field: feed_age_s,
      tolerance: 1s, interval: 500ms}}
steps:
  - {{name: operator-away, kind: jail, run: "sleep 60", timeout: 90s}}
timing: {{baseline: 1s, steps_start: on_inject}}
""")
    proc = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(scenario), "--reports", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        _wait_for_inject(proc, tmp_path)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert [t["name"] for t in relay(state, "edge1", "/proxies/feed-site1/toxics")[1]] == ["drillkit_stall"]

    result = run_cli("restore", "--lab", LAB)

    assert result.returncode == 0, result.stderr
    assert "restored fault stall" in result.stderr
    assert relay(state, "edge1", "/proxies/feed-site1/toxics")[1] == []
    assert wait_fresh("inf1") < 1.0
    assert run_cli("restore", "--lab", LAB).stderr.startswith("nothing to restore")


def test_unreachable_api_fails_drill_fast(lab, tmp_path):
    topology, _ = lab
    # 172.20.20.99 is on the lab's own OOB network, where no node has that address.
    scenario = tmp_path / "unreachable.yaml"
    scenario.write_text(f"""name: t-tox-unreachable
lab: {topology}
faults:
  - {{name: stall, kind: toxiproxy, server: "http://172.20.20.99:8474", from: jail, proxy: feed-site1,
      toxic: timeout, api_timeout: 1s}}
probes:
  - {{name: fresh1, kind: freshness, from: inf1, url: "http://127.0.0.1:8080/infer", field: feed_age_s,
      tolerance: 1s, interval: 500ms}}
timing: {{baseline: 1s}}
""")
    started = time.monotonic()

    result = run_cli("run", str(scenario), "--reports", str(tmp_path), timeout=60)

    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert elapsed < 20
    summary = json.loads((run_dir_from(result.stdout) / "summary.json").read_text())
    assert "http://172.20.20.99:8474" in summary["error"]
    assert "no connection within 1 s" in summary["error"]
    assert "the OOB jail" in summary["error"]
