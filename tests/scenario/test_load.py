"""Unit tests of the scenario loader: parsing and checks against a topology file, no lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.errors import ScenarioError, TopologyError
from drillkit.scenario.load import load_scenario
from drillkit.scenario.model import Scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
EDGE_AI = REPO / "labs" / "edge-ai" / "edge-ai.clab.yml"

#: Marks the line an invalid case expects the error on.
MARKER = "# <-"

#: A small lab: two linux nodes, a bridge, and two links.
MINI_TOPOLOGY = """\
name: mini
topology:
  defaults:
    kind: linux
  nodes:
    r1:
    h1:
    sw:
      kind: bridge
  links:
    - endpoints: ["r1:eth1", "h1:eth1"]
    - endpoints: ["r1:eth2", "sw:eth1"]
"""

#: A valid scenario for the mini lab. Each invalid case changes one part of it.
VALID = """\
name: base-drill
lab:
  topology: mini.clab.yml
faults:
  - name: uplink
    kind: link_down
    link: r1:eth1
probes:
  - name: r1-to-h1
    kind: tcp
    from: r1
    target: 10.0.0.2:8080
    interval: 500ms
  - name: h1-health
    kind: http
    from: r1
    url: http://10.0.0.2:8080/health
    role: observe
steps:
  - name: wait-back
    kind: wait
    probe: r1-to-h1
sla:
  detect: 2s
  recover: 10s
"""


def line_of(text: str, needle: str) -> int:
    """Return the 1-based number of the first line of ``text`` that contains ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the text")


def variant(old: str, new: str) -> str:
    """Return VALID with ``old`` replaced once by ``new``."""
    assert old in VALID
    return VALID.replace(old, new, 1)


@pytest.fixture()
def lab_dir(tmp_path: Path) -> Path:
    """Return a directory holding the mini topology, where scenarios are written."""
    (tmp_path / "mini.clab.yml").write_text(MINI_TOPOLOGY, encoding="utf-8")
    return tmp_path


def write_scenario(directory: Path, text: str) -> Path:
    path = directory / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the bundled scenarios --------------------------------------------------

BUNDLED = sorted(SCENARIOS.glob("*.yaml"))


def test_bundled_scenarios_found() -> None:
    expected = {"edge-sla-miss.yaml", "edge-stop-condition.yaml", "edge-uplink-cut.yaml"}
    assert expected <= {path.name for path in BUNDLED}


@pytest.mark.parametrize("path", BUNDLED, ids=[path.stem for path in BUNDLED])
def test_bundled_scenario_valid(path: Path) -> None:
    scenario = load_scenario(path, check_lab=True)
    assert scenario.name == path.stem


@pytest.mark.parametrize("path", BUNDLED, ids=[path.stem for path in BUNDLED])
def test_bundled_scenario_lab_resolved(path: Path) -> None:
    topology = Path(load_scenario(path).lab.topology)
    assert topology.is_absolute()
    assert topology.is_file()
    assert topology.parent.parent == EDGE_AI.parent.parent


@pytest.mark.parametrize("path", BUNDLED, ids=[path.stem for path in BUNDLED])
def test_bundled_scenario_has_no_secrets(path: Path) -> None:
    assert load_scenario(path).secrets == frozenset()


@pytest.fixture(scope="module")
def uplink_cut() -> Scenario:
    return load_scenario(SCENARIOS / "edge-uplink-cut.yaml")


def test_uplink_cut_vars_resolved(uplink_cut: Scenario) -> None:
    assert uplink_cut.probe("noc-to-inf1").target == "10.1.1.10:8080"


def test_uplink_cut_vars_in_url(uplink_cut: Scenario) -> None:
    assert uplink_cut.probe("inf1-answers").url == "http://10.1.1.10:8080/health"


def test_uplink_cut_probe_names(uplink_cut: Scenario) -> None:
    assert [probe.name for probe in uplink_cut.probes] == [
        "noc-to-inf1", "noc-ping-inf1", "inf1-answers", "inf1-liveness", "inf1-feed-fresh",
        "core-uplink-state", "site2-unaffected",
    ]


def test_uplink_cut_durations(uplink_cut: Scenario) -> None:
    probe = uplink_cut.probe("noc-to-inf1")
    assert (probe.interval_s, probe.timeout_s) == (0.25, 0.2)


def test_uplink_cut_freshness(uplink_cut: Scenario) -> None:
    probe = uplink_cut.probe("inf1-feed-fresh")
    assert (probe.field, probe.tolerance_s) == ("feed_age_s", 1.0)


def test_uplink_cut_guard(uplink_cut: Scenario) -> None:
    assert uplink_cut.guard_names == {"site2-unaffected"}


def test_uplink_cut_script_resolved(uplink_cut: Scenario) -> None:
    assert uplink_cut.steps[1].script == str(SCENARIOS / "playbooks" / "restore-link.sh")


def test_uplink_cut_wait_probes(uplink_cut: Scenario) -> None:
    assert uplink_cut.steps[3].probes == ("noc-to-inf1", "inf1-feed-fresh")


def test_uplink_cut_sla(uplink_cut: Scenario) -> None:
    assert uplink_cut.sla == {"detect": 2.0, "oob_access": 10.0, "recover": 15.0, "stale_data": 15.0, "outage": 20.0}


def test_uplink_cut_fault(uplink_cut: Scenario) -> None:
    fault = uplink_cut.faults[0]
    assert (fault.kind, fault.link, fault.ends) == ("link_down", "core:eth2", ("both",))


def test_uplink_cut_fault_origin(uplink_cut: Scenario) -> None:
    text = (SCENARIOS / "edge-uplink-cut.yaml").read_text(encoding="utf-8")
    assert uplink_cut.faults[0].origin.line == line_of(text, "- name: site1-uplink")


def test_stop_condition_guard_probes() -> None:
    scenario = load_scenario(SCENARIOS / "edge-stop-condition.yaml")
    assert (scenario.stop.guard_probes, scenario.stop.max_outage_s) == (("site2-unaffected",), 30.0)


def test_sla_miss_targets() -> None:
    scenario = load_scenario(SCENARIOS / "edge-sla-miss.yaml")
    assert scenario.sla["recover"] == 3.0


# -- the valid base scenario ------------------------------------------------

def test_base_scenario_valid(lab_dir: Path) -> None:
    scenario = load_scenario(write_scenario(lab_dir, VALID), check_lab=True)
    assert scenario.name == "base-drill"


def test_base_scenario_from_text(lab_dir: Path) -> None:
    scenario = load_scenario(lab_dir / "given-as-text.yaml", text=VALID)
    assert scenario.path == str(lab_dir / "given-as-text.yaml")


def test_wait_step_all_probes(lab_dir: Path) -> None:
    text = variant("    probe: r1-to-h1\n", "    probes: all\n")
    scenario = load_scenario(write_scenario(lab_dir, text))
    assert scenario.steps[0].probes == ("all",)


def test_lab_as_string(lab_dir: Path) -> None:
    text = variant("lab:\n  topology: mini.clab.yml\n", "lab: mini.clab.yml\n")
    scenario = load_scenario(write_scenario(lab_dir, text))
    assert scenario.lab.topology == str(lab_dir / "mini.clab.yml")


def test_check_lab_false_skips_topology(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VALID), check_lab=False)
    assert scenario.lab.topology == str(tmp_path / "mini.clab.yml")


def test_probe_defaults(lab_dir: Path) -> None:
    probe = load_scenario(write_scenario(lab_dir, VALID)).probe("h1-health")
    assert (probe.interval_s, probe.timeout_s, probe.failure_threshold, probe.role) == (1.0, 1.0, 2, "observe")


# -- references -------------------------------------------------------------

def test_ref_var(lab_dir: Path) -> None:
    text = variant("name: base-drill\n", "name: base-drill\nvars:\n  h1: 10.0.0.2\n  port: 8080\n")
    text = text.replace("target: 10.0.0.2:8080", "target: ${var:h1}:${var:port}")
    scenario = load_scenario(write_scenario(lab_dir, text))
    assert scenario.probe("r1-to-h1").target == "10.0.0.2:8080"


def test_ref_var_not_secret(lab_dir: Path) -> None:
    text = variant("name: base-drill\n", "name: base-drill\nvars:\n  h1: 10.0.0.2\n")
    text = text.replace("target: 10.0.0.2:8080", "target: ${var:h1}:8080")
    assert load_scenario(write_scenario(lab_dir, text)).secrets == frozenset()


JAIL_STEP = """\
  - name: login
    kind: jail
    run: echo "$TOKEN"
    env:
      TOKEN: {value}
"""


def with_jail_step(value: str) -> str:
    return variant("steps:\n", "steps:\n" + JAIL_STEP.format(value=value))


def test_ref_env_value(lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLKIT_TEST_TOKEN", "s3cret-env")
    scenario = load_scenario(write_scenario(lab_dir, with_jail_step("${env:DRILLKIT_TEST_TOKEN}")))
    assert scenario.steps[0].env == {"TOKEN": "s3cret-env"}


def test_ref_env_is_secret(lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLKIT_TEST_TOKEN", "s3cret-env")
    scenario = load_scenario(write_scenario(lab_dir, with_jail_step("${env:DRILLKIT_TEST_TOKEN}")))
    assert scenario.secrets == frozenset({"s3cret-env"})


def test_ref_file_value(lab_dir: Path) -> None:
    (lab_dir / "token.txt").write_text("s3cret-file\n", encoding="utf-8")
    scenario = load_scenario(write_scenario(lab_dir, with_jail_step("${file:token.txt}")))
    assert scenario.steps[0].env == {"TOKEN": "s3cret-file"}


def test_ref_file_is_secret(lab_dir: Path) -> None:
    (lab_dir / "token.txt").write_text("s3cret-file\n", encoding="utf-8")
    scenario = load_scenario(write_scenario(lab_dir, with_jail_step("${file:token.txt}")))
    assert scenario.secrets == frozenset({"s3cret-file"})


def test_ref_env_missing(lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRILLKIT_TEST_UNSET", raising=False)
    text = with_jail_step("${env:DRILLKIT_TEST_UNSET}")
    path = write_scenario(lab_dir, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_of(text, 'TOKEN: ${env:')}: steps[0].env.TOKEN: ")
    assert "environment variable DRILLKIT_TEST_UNSET is not set" in message
    assert "export it" in message


def test_ref_env_missing_value_hidden(lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRILLKIT_TEST_UNSET", raising=False)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(lab_dir, with_jail_step("prefix-${env:DRILLKIT_TEST_UNSET}")))
    assert "prefix-" not in str(caught.value)


def test_ref_file_missing(lab_dir: Path) -> None:
    text = with_jail_step("${file:absent.txt}")
    path = write_scenario(lab_dir, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_of(text, 'TOKEN:')}: steps[0].env.TOKEN: ")
    assert str(lab_dir / "absent.txt") in message
    assert "relative to the scenario file" in message


def test_ref_file_directory(lab_dir: Path) -> None:
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario(write_scenario(lab_dir, with_jail_step("${file:.}")))


def test_ref_var_unknown(lab_dir: Path) -> None:
    text = variant("target: 10.0.0.2:8080", "target: ${var:h9}:8080")
    path = write_scenario(lab_dir, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_of(text, 'target:')}: probes[0].target: ")
    assert "unknown variable 'h9'" in message
    assert "add it under vars:" in message


def test_ref_empty_name(lab_dir: Path) -> None:
    with pytest.raises(ScenarioError, match=r"empty reference"):
        load_scenario(write_scenario(lab_dir, variant("target: 10.0.0.2:8080", "target: ${env:}")))


# -- invalid scenarios ------------------------------------------------------

#: Each case is a scenario text with MARKER on the expected line, followed by the
#: substrings the message must contain for the field, the value and the fix.
INVALID_SCENARIOS = [
    pytest.param(
        variant("name: base-drill\n", "name: base-drill\ndescripton: typo  # <-\n"),
        "descripton: ", "unknown field 'descripton'", "did you mean 'description'?", id="unknown-top-key"),
    pytest.param(
        variant("interval: 500ms", "interval: fast  # <-"),
        "probes[0].interval: ", "(found 'fast')", "write a duration such as 500ms", id="bad-duration"),
    pytest.param(
        variant("interval: 500ms", "interval: -1  # <-"),
        "probes[0].interval: ", "(found -1)", "write a duration such as 500ms", id="negative-interval"),
    pytest.param(
        variant("interval: 500ms", "interval: 10ms  # <-"),
        "probes[0].interval: ", "(found '10ms')", "at least 0.05s", id="interval-too-short"),
    pytest.param(
        variant("interval: 500ms", "interval: 500ms\n    timeout: 0  # <-"),
        "probes[0].timeout: ", "(found 0)", "above zero", id="zero-timeout"),
    pytest.param(
        variant("interval: 500ms", "interval: 500ms\n    failure_threshold: 0  # <-"),
        "probes[0].failure_threshold: ", "(found 0)", "from 1 to 1000", id="zero-threshold"),
    pytest.param(
        variant("recover: 10s", "recover: 0s  # <-"),
        "sla.recover: ", "(found '0s')", "above zero", id="zero-sla"),
    pytest.param(
        variant("kind: tcp", "kind: tpc  # <-"),
        "probes[0].kind: ", "(found 'tpc')", "did you mean 'tcp'?", id="unknown-probe-kind"),
    pytest.param(
        variant("kind: link_down", "kind: link_dwn  # <-"),
        "faults[0].kind: ", "(found 'link_dwn')", "did you mean 'link_down'?", id="unknown-fault-kind"),
    pytest.param(
        variant("target: 10.0.0.2:8080", "target: 10.0.0.2  # <-"),
        "probes[0].target: ", "(found '10.0.0.2')", "ADDRESS:PORT", id="tcp-target-without-port"),
    pytest.param(
        variant("target: 10.0.0.2:8080", "target: 10.0.0.2:99999  # <-"),
        "probes[0].target: ", "(found '10.0.0.2:99999')", "ADDRESS:PORT", id="tcp-port-out-of-range"),
    pytest.param(
        variant("target: 10.0.0.2:8080", "target: h1:8080  # <-"),
        "probes[0].target: ", "invalid address 'h1'", "give an IP address", id="tcp-target-hostname"),
    pytest.param(
        variant("url: http://10.0.0.2:8080/health", "url: 10.0.0.2:8080/health  # <-"),
        "probes[1].url: ", "(found '10.0.0.2:8080/health')", "http://ADDRESS:PORT/path", id="bad-url"),
    pytest.param(
        variant("    role: observe\n", "    role: observe\n    expect_regex: 'ok ('  # <-\n"),
        "probes[1].expect_regex: ", "(found 'ok (')", "regular expression", id="bad-regex"),
    pytest.param(
        variant("    probe: r1-to-h1\n", "    probe: r1-to-h2  # <-\n"),
        "steps[0].probe: ", "(found 'r1-to-h2')", "name one of the probes (h1-health, r1-to-h1) or write all",
        id="wait-unknown-probe"),
    pytest.param(
        variant("    probe: r1-to-h1\n", "    probes: [h1-health, r1-to-h2]  # <-\n"),
        "steps[0].probes[1]: ", "(found 'r1-to-h2')", "name one of the probes", id="wait-unknown-probe-in-list"),
    pytest.param(
        variant("  - name: h1-health\n", "  - name: r1-to-h1  # <-\n"),
        "probes[1]: ", "duplicate name 'r1-to-h1' (first on line 9)", "give each entry its own name",
        id="duplicate-probe-names"),
    pytest.param(
        variant("  recover: 10s\n", "  recover: 10s\n  stale_data: 5s  # <-\n"),
        "sla.stale_data: ", "(found '5s')", "add a probe of kind freshness", id="stale-data-without-freshness"),
    pytest.param(
        variant("recover: 10s", "recovery: 10s  # <-"),
        "sla.recovery: ", "unknown field 'recovery'", "did you mean 'recover'?", id="unknown-sla-name"),
    pytest.param(
        variant("    role: observe\n", "    role: watcher  # <-\n"),
        "probes[1].role: ", "(found 'watcher')", "valid values: detect, guard, observe", id="unknown-role"),
    pytest.param(
        variant("name: base-drill\n", "name: base drill  # <-\n"),
        "name: ", "(found 'base drill')", "use letters, digits", id="bad-scenario-name"),
    pytest.param(
        variant("faults:\n  - name: uplink\n    kind: link_down\n    link: r1:eth1\n", "faults: []  # <-\n"),
        "faults: ", "a drill needs at least one fault", "add a fault under faults:", id="no-faults"),
    pytest.param(
        variant("    interval: 500ms\n", "    interval: 500ms\n    role: guard\n").replace("probes:\n", "probes:  # <-\n"),
        "probes: ", "no probe has role detect", "give at least one probe role: detect", id="no-detect-probe"),
    pytest.param(
        variant("    probe: r1-to-h1\n", "    probe: r1-to-h1\n  - name: fix-it  # <-\n    kind: jail\n"),
        "steps[1]: ", "needs either run (a shell command) or script", "set exactly one", id="jail-step-no-command"),
    pytest.param(
        variant("    probe: r1-to-h1\n",
                "    probe: r1-to-h1\n  - name: fix-it\n    kind: jail\n    script: absent.sh  # <-\n"),
        "steps[1].script: ", "(found 'absent.sh')", "relative to the scenario file", id="script-not-found"),
    pytest.param(
        variant("name: base-drill\n", "name: base-drill\nvars:\n  hosts: [a, b]  # <-\n"),
        "vars.hosts: ", "a variable must be a plain value", "write name: value", id="var-not-scalar"),
    pytest.param(
        variant("name: base-drill\n", "name: base-drill\nname: again  # <-\n"),
        "invalid YAML: ", "duplicate key 'name'", "fix the YAML syntax", id="duplicate-yaml-key"),
    pytest.param(
        variant("lab:\n  topology: mini.clab.yml\n", "lab:\n  topology: absent.clab.yml  # <-\n"),
        "lab.topology: ", "no topology file at", "relative to the scenario file", id="topology-not-found"),
]


@pytest.mark.parametrize(("text", "field", "value", "fix"), INVALID_SCENARIOS)
def test_scenario_invalid(lab_dir: Path, text: str, field: str, value: str, fix: str) -> None:
    path = write_scenario(lab_dir, text)

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, check_lab=True)

    message = str(caught.value)
    assert message.startswith(f"{path}:{line_of(text, MARKER)}: ")
    assert field in message
    assert value in message
    assert fix in message


#: Cases found only with check_lab=True, against the mini topology.
INVALID_AGAINST_LAB = [
    pytest.param(
        variant("    kind: link_down\n    link: r1:eth1\n", "    kind: node_isolation\n    node: r9  # <-\n"),
        "faults.uplink.node: ", "unknown node (found 'r9')", "nodes in mini.clab.yml: h1, r1, sw", id="unknown-node"),
    pytest.param(
        variant("link: r1:eth1", "link: r1:eth9  # <-"),
        "faults.uplink.link: ", "no such link (found 'r1:eth9')", "r1:eth1--h1:eth1, r1:eth2--sw:eth1",
        id="unknown-link"),
    pytest.param(
        variant("link: r1:eth1", "link: r1:eth1\n    ends: h9  # <-"),
        "faults.uplink.ends: ", "invalid end (found 'h9')", "use both, a, b, or an endpoint", id="unknown-link-end"),
    pytest.param(
        variant("    from: r1\n    target", "    from: r9  # <-\n    target"),
        "probes.r1-to-h1.from: ", "unknown vantage point (found 'r9')", "use a node name or jail",
        id="unknown-vantage"),
    pytest.param(
        variant("    from: r1\n    target", "    from: sw  # <-\n    target"),
        "probes.r1-to-h1.from: ", "a bridge cannot run probes (found 'sw')", "use a linux node", id="bridge-vantage"),
    pytest.param(
        variant("    probe: r1-to-h1\n",
                "    probe: r1-to-h1\n  - name: login\n    kind: ssh\n    node: r9  # <-\n    command: uptime\n"),
        "steps.login.node: ", "unknown node (found 'r9')", "nodes in mini.clab.yml", id="ssh-unknown-node"),
]


@pytest.mark.parametrize(("text", "field", "value", "fix"), INVALID_AGAINST_LAB)
def test_scenario_invalid_against_lab(lab_dir: Path, text: str, field: str, value: str, fix: str) -> None:
    path = write_scenario(lab_dir, text)

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, check_lab=True)

    message = str(caught.value)
    assert message.startswith(f"{path}:{line_of(text, MARKER)}: ")
    assert field in message
    assert value in message
    assert fix in message


@pytest.mark.parametrize(("text", "field", "value", "fix"), INVALID_AGAINST_LAB)
def test_scenario_lab_errors_skipped_without_check(lab_dir: Path, text: str, field: str, value: str,
                                                   fix: str) -> None:
    scenario = load_scenario(write_scenario(lab_dir, text), check_lab=False)
    assert scenario.name == "base-drill"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("", "the scenario file is empty", id="empty-file"),
        pytest.param("- a\n- b\n", "expected a mapping, found a list", id="not-a-mapping"),
        pytest.param("name: [unclosed\n", "invalid YAML", id="yaml-syntax-error"),
    ],
)
def test_scenario_invalid_document(lab_dir: Path, text: str, problem: str) -> None:
    path = write_scenario(lab_dir, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(str(path))
    assert problem in str(caught.value)


def test_scenario_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: scenario file not found; check the path"


def test_scenario_directory(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path)
    assert "expected a scenario file, found a directory" in str(caught.value)


def test_scenario_invalid_topology_names_topology(lab_dir: Path) -> None:
    (lab_dir / "mini.clab.yml").write_text("name: mini\n", encoding="utf-8")
    with pytest.raises(TopologyError) as caught:
        load_scenario(write_scenario(lab_dir, VALID))
    assert str(caught.value).startswith(f"{lab_dir / 'mini.clab.yml'}:1: missing required field 'topology'")
