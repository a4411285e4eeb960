"""Game-day plan files: what a valid plan gives, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, SCENARIOS
from drillkit.gameday.errors import OptionError, PlanError
from drillkit.gameday.plan import describe_plan, load_plan, parse_approvals
from gameday_support import drillkit, utc

UPLINK = SCENARIOS / "edge-uplink-cut.yaml"
SLA_MISS = SCENARIOS / "edge-sla-miss.yaml"
FRR = SCENARIOS / "frr-primary-cut.yaml"

VALID = f"""\
name: test-day
window: {{start: "2026-03-02 09:00", end: "2026-03-02 12:00", timezone: Europe/Berlin}}
roles:
  facilitator: alice
  noc: [bob, carol]
  network-owner: dave
approvals: [network-owner]
sequence:
  - scenario: {UPLINK}
    approvals: [network-owner, noc]
    sla: {{recover: 5s}}
    notes: warm-up
  - name: both
    parallel:
      - scenario: {SLA_MISS}
      - scenario: {FRR}
        approvals: facilitator
notes: review at noon
"""

WINDOW_BLOCK = VALID.replace('window: {start: "2026-03-02 09:00", end: "2026-03-02 12:00", timezone: Europe/Berlin}',
                             'window:\n  start: "2026-03-02 09:00"\n  end: "2026-03-02 12:00"\n'
                             '  timezone: Europe/Berlin')


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_valid_plan(tmp_path):
    plan = load_plan(write(tmp_path, VALID))

    assert plan.name == "test-day"
    assert plan.window.start == utc(2026, 3, 2, 8, 0)
    assert plan.window.end == utc(2026, 3, 2, 11, 0)
    assert plan.roles["noc"].people == ("bob", "carol")
    assert plan.roles["facilitator"].people == ("alice",)
    assert [s.label for s in plan.stages] == ["1", "2"]
    assert plan.stages[1].parallel is True
    assert [d.label for d in plan.drills] == ["1", "2.1", "2.2"]
    assert [d.lab for d in plan.drills] == ["edge-ai", "edge-ai", "frr-triangle"]
    assert [d.approvals for d in plan.drills] == [("network-owner", "noc"), ("network-owner",), ("facilitator",)]
    assert plan.drills[0].scenario.sla["recover"] == 5.0
    assert plan.drills[0].scenario.sla["detect"] == 2.0
    assert plan.drills[0].sla_override == {"recover": 5.0}
    assert plan.drills[0].notes == "warm-up"
    assert plan.notes == "review at noon"
    assert ("carol", "noc") in plan.people


def test_window_contains_half_open(tmp_path):
    window = load_plan(write(tmp_path, VALID)).window

    assert window.contains(utc(2026, 3, 2, 8, 0))
    assert window.contains(utc(2026, 3, 2, 10, 59))
    assert not window.contains(utc(2026, 3, 2, 11, 0))
    assert not window.contains(utc(2026, 3, 2, 7, 59))


def test_window_with_offsets_and_yaml_timestamps(tmp_path):
    text = VALID.replace('{start: "2026-03-02 09:00", end: "2026-03-02 12:00", timezone: Europe/Berlin}',
                         '{start: 2026-03-02T09:00:00+02:00, end: "2026-03-02T12:00+00:00", timezone: UTC}')

    window = load_plan(write(tmp_path, text)).window

    assert window.start == utc(2026, 3, 2, 7, 0)
    assert window.end == utc(2026, 3, 2, 12, 0)


def test_describe_plan_lines(tmp_path):
    plan = load_plan(write(tmp_path, VALID))

    lines = describe_plan(plan, utc(2026, 3, 2, 9, 0))

    assert "window: 2026-03-02 09:00 to 2026-03-02 12:00 Europe/Berlin (now inside the window)" in lines
    assert "1. edge-uplink-cut: scenario edge-uplink-cut on lab edge-ai; cuts site1-uplink (link_down core:eth2)" \
        in lines
    assert "   approvals: network-owner, noc" in lines
    assert "2. parallel group both:" in lines
    assert any(line.startswith("   SLA: detect 2s, oob_access 10s, recover 5s (plan)") for line in lines)
    assert lines[-1] == "nothing was changed (dry run)"


# Each case: the plan text with the offending line marked by a "# <-" comment, and words of the message.
ERROR_CASES = [
    pytest.param(VALID.replace("window: {", "windw: {").replace("Europe/Berlin}", "Europe/Berlin}  # <-"), "unknown field 'windw'; did you mean 'window'?",
                 id="unknown-key"),
    pytest.param(WINDOW_BLOCK.replace('end: "2026-03-02 12:00"', 'end: "2026-03-02 08:00"  # <-'),
                 "the window ends before it starts", id="end-before-start"),
    pytest.param(WINDOW_BLOCK.replace('start: "2026-03-02 09:00"', "start: next monday  # <-"),
                 "invalid date and time", id="bad-start"),
    pytest.param(WINDOW_BLOCK.replace('start: "2026-03-02 09:00"', "start: 2026-03-02  # <-"),
                 "a date without a time", id="date-only"),
    pytest.param(WINDOW_BLOCK.replace('start: "2026-03-02 09:00"', "start: 2026-02-30 09:00:00  # <-"),
                 "invalid date '2026-02-30'", id="impossible-date"),
    pytest.param(VALID.replace("timezone: Europe/Berlin}", "timezone: Mars/Olympus}  # <-"), "unknown timezone",
                 id="timezone"),
    pytest.param(VALID.replace("approvals: [network-owner, noc]", "approvals: [network-owner, nco]  # <-"),
                 "unknown role", id="unknown-role"),
    pytest.param(VALID.replace(f"  - scenario: {UPLINK}", "  - scenario: missing.yaml  # <-"),
                 "scenario file not found", id="missing-scenario"),
    pytest.param(VALID.replace(f"      - scenario: {FRR}", f"      - scenario: {UPLINK}  # <-"),
                 "drills in one parallel group must use different labs", id="same-lab-parallel"),
    pytest.param(VALID.replace("sla: {recover: 5s}", "sla: {recovery: 5s}  # <-"),
                 "unknown field 'recovery'; did you mean 'recover'?", id="sla-key"),
    pytest.param(VALID.replace("sla: {recover: 5s}", "sla: {recover: soon}  # <-"), "write a duration",
                 id="sla-duration"),
    pytest.param(VALID.replace("        approvals: facilitator", "        approvals: facilitator\n"
                                                                 "        sla: {stale_data: 5s}  # <-"),
                 "has no freshness probe", id="stale-data-without-freshness"),
    pytest.param(VALID.replace("  noc: [bob, carol]", "  noc: []  # <-"), "role 'noc' has nobody", id="empty-role"),
    pytest.param(VALID.replace("      - scenario: " + str(SLA_MISS) + "\n", "").replace(
        "    parallel:", "    parallel:  # <-"), "a parallel group needs at least two scenarios", id="group-of-one"),
    pytest.param(VALID.replace("notes: warm-up", "notes: warm-up\n    parallel: []").replace(
        f"  - scenario: {UPLINK}", f"  - scenario: {UPLINK}  # <-"), "either scenario or parallel",
        id="scenario-and-parallel"),
    pytest.param(VALID.replace("  facilitator: alice", "  facilitator: alice: bob  # <-"), "invalid YAML",
                 id="yaml-syntax"),
]


@pytest.mark.parametrize(("text", "message"), ERROR_CASES)
def test_plan_error_names_line(tmp_path, text, message):
    path = write(tmp_path, text)
    marked = [n for n, line in enumerate(text.splitlines(), start=1) if "# <-" in line]

    with pytest.raises(PlanError) as caught:
        load_plan(path)

    assert len(marked) == 1
    assert str(caught.value).startswith(f"{path}:{marked[0]}:"), str(caught.value)
    assert message in str(caught.value)


def test_empty_sequence(tmp_path):
    text = VALID[:VALID.index("sequence:")] + "sequence: []\n"

    with pytest.raises(PlanError, match="the sequence is empty"):
        load_plan(write(tmp_path, text))


def test_missing_window(tmp_path):
    text = "\n".join(line for line in VALID.splitlines() if not line.startswith("window:"))

    with pytest.raises(PlanError, match="missing required field 'window'"):
        load_plan(write(tmp_path, text))


def test_parse_approvals(tmp_path):
    plan = load_plan(write(tmp_path, VALID))

    assert parse_approvals(["noc=Carol", "network-owner = dave"], plan) == {"noc": "carol", "network-owner": "dave"}
    with pytest.raises(OptionError, match="'erin' does not hold role 'noc'; noc is held by bob, carol"):
        parse_approvals(["noc=erin"], plan)
    with pytest.raises(OptionError, match="unknown role 'ops'"):
        parse_approvals(["ops=erin"], plan)
    with pytest.raises(OptionError, match="write --approve ROLE=NAME"):
        parse_approvals(["dave"], plan)


def test_example_plan_valid():
    plan = load_plan(REPO / "gamedays" / "edge-q4.yaml")

    assert [d.label for d in plan.drills] == ["1", "2", "3.1", "3.2"]
    assert plan.lab_up is True


def test_cli_dry_run(tmp_path):
    result = drillkit("gameday", str(write(tmp_path, VALID)), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "(now OUTSIDE the window)" in result.stdout or "(now inside the window)" in result.stdout
    assert result.stdout.rstrip().endswith("nothing was changed (dry run)")


def test_cli_invalid_plan_exit_2(tmp_path):
    path = write(tmp_path, VALID.replace("timezone: Europe/Berlin}", "timezone: Mars/Olympus}"))

    result = drillkit("gameday", str(path), "--dry-run")

    assert result.returncode == 2
    assert f"{path}:2: window.timezone: unknown timezone" in result.stderr

