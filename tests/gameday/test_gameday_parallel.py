"""A parallel group of real drills: two copies of the edge-ai lab (t-gdp1, t-gdp2) cut and recovered at once."""

from __future__ import annotations

import datetime as _dt
import io
import json
from pathlib import Path

import pytest

from conftest import copy_lab, lab_namespaces, needs_root, run_cli
from drillkit.gameday import history
from drillkit.gameday.approvals import ApprovalGate
from drillkit.gameday.live import LiveView
from drillkit.gameday.plan import load_plan
from drillkit.gameday.runner import GamedayRunner, RunnerExecutor
from gameday_support import scenario_copy

pytestmark = [pytest.mark.lab, needs_root]


def journal_span(run_dir: Path) -> tuple[str, str]:
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]
    return events[0]["wall"], events[-1]["wall"]


def test_parallel_group_on_two_labs(tmp_path):
    labs = {name: copy_lab(tmp_path, name) for name in ("t-gdp1", "t-gdp2")}
    scenarios = [scenario_copy(tmp_path, topology, name=f"t-gd-{name[-2:]}") for name, topology in labs.items()]
    now = _dt.datetime.now(_dt.timezone.utc)
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(f"""\
name: parallel-day
window: {{start: "{now - _dt.timedelta(minutes=5):%Y-%m-%d %H:%M}", end: "{now + _dt.timedelta(hours=1):%Y-%m-%d %H:%M}", timezone: UTC}}
roles: {{owner: dave}}
approvals: [owner]
sequence:
  - parallel:
      - scenario: {scenarios[0]}
      - scenario: {scenarios[1]}
""")
    plan = load_plan(plan_path)
    out = io.StringIO()
    runner = GamedayRunner(plan, gate=ApprovalGate(plan, {"owner": "dave"}, ask=None, say=lambda _line: None),
                           executor=RunnerExecutor(reports_dir=tmp_path / "reports", lab_up=True),
                           db=tmp_path / "h.sqlite", view=lambda: LiveView(plain=True, stream=out),
                           say=lambda _line: None)
    try:
        outcome = runner.run()
    finally:
        for name, topology in labs.items():
            if lab_namespaces(name):
                run_cli("lab", "down", str(topology))

    assert outcome.exit_code == 0, out.getvalue()
    assert [(o.drill.lab, o.status) for o in outcome.outcomes] == [("t-gdp1", "passed"), ("t-gdp2", "passed")]
    spans = [journal_span(Path(r.run_dir)) for r in history.list_runs(db=tmp_path / "h.sqlite")]
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("[1.1] ") for line in lines)
    assert any(line.startswith("[1.2] ") for line in lines)
    assert lab_namespaces("t-gdp1") == []
    assert lab_namespaces("t-gdp2") == []
