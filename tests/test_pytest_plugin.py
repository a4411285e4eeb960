"""The pytest plugin, driven with pytester on real labs, as a CI job would run drill suites."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_lab, lab_namespaces, needs_root

pytestmark = [pytest.mark.lab, needs_root]
pytest_plugins = ["pytester"]

PLAYBOOK = REPO / "scenarios" / "playbooks" / "restore-link.sh"


def drill_text(topology: Path, name: str, *, steps: str, sla: str = "{detect: 2s, recover: 15s}",
               extra: str = "") -> str:
    return f"""
name: {name}
lab: {topology}
faults:
  - {{name: uplink, kind: link_down, link: "core:eth2", ends: both}}
probes:
  - {{name: noc-to-inf1, kind: tcp, from: noc, target: "10.1.1.10:8080", interval: 250ms, timeout: 200ms}}
steps:
{steps}
sla: {sla}
timing: {{baseline: 1s, settle: 500ms, recover_timeout: 20s}}
{extra}
"""


GOOD_STEPS = f"""  - {{name: core, kind: jail, script: {PLAYBOOK}, args: [core, eth2, "10.1.0.0/16 via 10.0.1.2"]}}
  - {{name: edge1, kind: jail, script: {PLAYBOOK}, args: [edge1, eth1, "10.0.0.0/8 via 10.0.1.1"]}}"""


@pytest.fixture(scope="module")
def plug_lab(tmp_path_factory):
    """A copy of the edge-ai lab named t-plug, left for the plugin to build."""
    folder = tmp_path_factory.mktemp("plug")
    topology = copy_lab(folder, "t-plug")
    yield topology
    subprocess.run([sys.executable, "-m", "drillkit", "lab", "down", str(topology)], capture_output=True,
                   timeout=120)


def test_plugin_collects_and_passes(pytester, plug_lab):
    pytester.makefile(".yaml", drill_ok=drill_text(plug_lab, "plug-ok", steps=GOOD_STEPS))
    result = pytester.runpytest_subprocess("--drillkit-lab-up", "--drillkit-reports", str(pytester.path / "r"),
                                           f"--junitxml={pytester.path / 'junit.xml'}", timeout=240)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*drillkit verdicts*", "*plug-ok: PASSED*", "*report: *report.html"])
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="drillkit.measured.recover"' in junit
    assert 'name="drillkit.report"' in junit
    assert lab_namespaces("t-plug") == []


def test_plugin_failing_sla_message(pytester, plug_lab):
    steps = "  - {name: slow, kind: sleep, duration: 3s}\n" + GOOD_STEPS
    pytester.makefile(".yaml", drill_slow=drill_text(plug_lab, "plug-slow", steps=steps,
                                                     sla="{detect: 2s, recover: 1s}"))
    result = pytester.runpytest_subprocess("--drillkit-lab-up", "--drillkit-reports", str(pytester.path / "r"),
                                           timeout=240)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SLA recover missed: measured *s, target 1 s*", "*report: *report.html*"])


def test_plugin_stop_condition_fails_test(pytester, plug_lab):
    extra = "stop_conditions: {max_outage: 1s}"
    steps = "  - {name: slow, kind: sleep, duration: 5s}\n" + GOOD_STEPS
    pytester.makefile(".yaml", drill_stop=drill_text(plug_lab, "plug-stop", steps=steps, extra=extra))
    result = pytester.runpytest_subprocess("--drillkit-lab-up", "--drillkit-reports", str(pytester.path / "r"),
                                           timeout=240)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ABORTED (exit 3)*", "*aborted: maximum outage of 1 s passed*"])


def test_plugin_recovery_script_error(pytester, plug_lab):
    steps = "  - {name: broken, kind: jail, run: 'echo cannot reach core >&2; exit 7'}"
    pytester.makefile(".yaml", drill_broken=drill_text(plug_lab, "plug-broken", steps=steps))
    result = pytester.runpytest_subprocess("--drillkit-lab-up", "--drillkit-reports", str(pytester.path / "r"),
                                           timeout=240)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*failed: step broken failed: exit 7: cannot reach core*"])


def test_plugin_interrupted_mid_fault_restores(pytester, plug_lab):
    steps = "  - {name: away, kind: jail, run: 'sleep 60', timeout: 90s}"
    pytester.makefile(".yaml", drill_hang=drill_text(plug_lab, "plug-hang", steps=steps))
    reports = pytester.path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--drillkit-lab-up",
                             "--drillkit-reports", str(reports), str(pytester.path)], cwd=pytester.path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        journals = list(reports.glob("*/*/journal.jsonl"))
        if journals and '"name": "detect"' in journals[0].read_text():
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(proc.communicate()[0])
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)

    assert proc.returncode != 0
    assert "interrupted by SIGINT" in (journals[0].parent / "summary.json").read_text()
    assert lab_namespaces("t-plug") == [], output
