"""Python drill tests on the edge-ai lab, using drillkit's pytest fixtures.

Run with: pytest drills/ --drillkit-lab-up
"""

import pytest

pytestmark = pytest.mark.drillkit(lab="../labs/edge-ai/edge-ai.clab.yml", tags=("edge",))


def test_uplink_cut_recovers_within_sla(drill_runner):
    result = drill_runner("../scenarios/edge-uplink-cut.yaml")
    assert result.passed, result.summary_line()
    assert result.measurements["recover"].value < 15


def test_stale_window_is_bounded(drill_runner):
    result = drill_runner("../scenarios/edge-uplink-cut.yaml")
    stale = result.measurements["stale_data"].value
    assert stale is not None
    assert stale < 10


def test_core_console_reachable_over_oob(oob_console):
    outcome = oob_console("core", ["ip -br addr show eth2"])
    assert outcome.ok, outcome.error
    assert "10.0.1.1/30" in outcome.transcript
