"""Analysis of synthetic journals written on a fake clock: measurements, windows, verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.clock import FakeClock
from drillkit.engine.analysis import analyze
from drillkit.engine.journal import Journal, read_journal

RUN_START = {
    "run_id": "r1", "scenario": {"name": "s"}, "lab": {"name": "lab"},
    "sla": {"detect": 2.0, "oob_access": 5.0, "recover": 10.0, "stale_data": 3.0, "outage": 10.0},
    "probes": [
        {"name": "tcp", "kind": "tcp", "role": "detect", "vantage": "noc", "interval_s": 0.5},
        {"name": "live", "kind": "http", "role": "observe", "vantage": "inf", "interval_s": 0.5},
        {"name": "fresh", "kind": "freshness", "role": "detect", "vantage": "inf", "interval_s": 0.5,
         "tolerance_s": 1.0},
    ],
    "steps": [{"name": "fix", "kind": "jail", "oob": True}],
}


class Drill:
    """Write a journal the way the runner does, on a fake clock."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.journal = Journal(tmp_path, self.clock, frozenset({"s3cret"}))
        self.journal.write("run.start", **RUN_START)

    def at(self, seconds: float) -> int:
        return self.journal.start_ns + int(seconds * 1e9)

    def event(self, seconds: float, type_: str, **fields) -> None:
        self.clock._now = max(self.clock._now, self.at(seconds))
        self.journal.write(type_, mono_ns=self.at(seconds), **fields)

    def analyze(self):
        self.journal.close()
        return analyze(read_journal(self.journal.path))


def passing_drill(tmp_path: Path, recover_at: float = 6.0) -> Drill:
    d = Drill(tmp_path)
    d.event(0.0, "phase", phase="baseline", state="start")
    for t in (0.0, 0.5, 1.0, 1.5):
        d.event(t, "probe.sample", probe="tcp", ok=True, detail="connected")
        d.event(t, "probe.sample", probe="live", ok=True, detail="HTTP 200")
        d.event(t, "probe.sample", probe="fresh", ok=True, detail="fresh", value=0.2)
    d.event(2.0, "phase", phase="baseline", state="end", ok=True)
    d.event(2.0, "fault.inject", fault="cut", kind="link_down", ok=True, t_start=2.0)
    d.event(2.5, "probe.sample", probe="tcp", ok=False, detail="unreachable")
    d.event(3.0, "probe.sample", probe="tcp", ok=False, detail="unreachable")
    d.event(3.0, "mark", name="detect", at=3.0, uncertainty_s=0.5)
    d.event(3.2, "step.start", step="fix", kind="jail")
    d.event(4.0, "step.end", step="fix", kind="jail", ok=True, exit=0, output="token s3cret")
    d.event(4.0, "mark", name="oob_access", at=4.0, uncertainty_s=0.0)
    # freshness: data arrived at 1.8 s, so stale from 2.8 s; new data at 5.4 s.
    d.event(3.5, "probe.sample", probe="fresh", ok=False, detail="stale", value=1.7)
    d.event(4.5, "probe.sample", probe="fresh", ok=False, detail="stale", value=2.7)
    d.event(5.5, "probe.sample", probe="fresh", ok=True, detail="fresh", value=0.1)
    for t in (3.5, 4.5, 5.5):
        d.event(t, "probe.sample", probe="live", ok=True, detail="HTTP 200")
    d.event(recover_at, "probe.sample", probe="tcp", ok=True, detail="connected")
    d.event(recover_at + 1, "mark", name="recover", at=recover_at, uncertainty_s=0.5)
    d.event(recover_at + 1.1, "fault.restore", fault="cut", ok=True)
    return d


def test_analysis_measures_from_inject(tmp_path):
    a = passing_drill(tmp_path).analyze()
    assert a.inject_t == pytest.approx(2.0)
    assert a.measurements["detect"].value == pytest.approx(1.0)
    assert a.measurements["detect"].uncertainty == 0.5
    assert a.measurements["oob_access"].value == pytest.approx(2.0)
    assert a.measurements["recover"].value == pytest.approx(4.0)
    assert a.measurements["outage"].value == pytest.approx(4.0)


def test_analysis_stale_window_from_ages(tmp_path):
    a = passing_drill(tmp_path).analyze()
    window = a.stale_windows["fresh"][0]
    assert window.start == pytest.approx(2.8)
    assert window.end == pytest.approx(5.4)
    assert a.measurements["stale_data"].value == pytest.approx(2.6)


def test_analysis_silent_window_needs_green_liveness(tmp_path):
    a = passing_drill(tmp_path).analyze()
    silent = a.silent_windows["fresh"]
    assert silent
    assert silent[0].start == pytest.approx(2.8)


def test_analysis_passing_verdict(tmp_path):
    a = passing_drill(tmp_path).analyze()
    assert a.status == "passed"
    assert a.exit_code == 0
    assert all(s.met for s in a.slas)


def test_analysis_missed_recover(tmp_path):
    a = passing_drill(tmp_path, recover_at=15.0).analyze()
    missed = {s.name: s for s in a.missed_slas}
    assert a.exit_code == 1
    assert missed["recover"].measured == pytest.approx(13.0)
    assert missed["recover"].target == 10.0


def test_analysis_stop_is_exit_3(tmp_path):
    d = passing_drill(tmp_path)
    d.event(8.0, "stop", reason="guard probe site2 failed")
    a = d.analyze()
    assert a.status == "aborted"
    assert a.exit_code == 3
    assert a.stop_reason == "guard probe site2 failed"


def test_analysis_failed_baseline_is_exit_2(tmp_path):
    d = Drill(tmp_path)
    d.event(1.0, "baseline", ok=False, failures=["tcp is failing (refused)"])
    a = d.analyze()
    assert a.exit_code == 2
    assert "steady state" in (a.error or "")


def test_analysis_failed_step_fails_drill(tmp_path):
    d = passing_drill(tmp_path)
    d.event(9.0, "step.end", step="fix", kind="jail", ok=False, exit=1, error="exit 1: denied")
    a = d.analyze()
    assert a.exit_code == 1
    assert any("fix" in f for f in a.failures)


def test_analysis_unrestored_fault_fails(tmp_path):
    d = passing_drill(tmp_path)
    d.event(9.0, "fault.restore", fault="cut", ok=False, error="namespace gone")
    a = d.analyze()
    assert a.exit_code == 1


def test_journal_masks_secrets(tmp_path):
    d = passing_drill(tmp_path)
    d.journal.close()
    text = d.journal.path.read_text()
    assert "s3cret" not in text
    assert "token ***" in text


def test_journal_skips_torn_last_line(tmp_path):
    d = passing_drill(tmp_path)
    d.journal.close()
    with open(d.journal.path, "a") as fh:
        fh.write('{"seq": 999, "type": "probe.sam')
    events = list(read_journal(d.journal.path))
    assert events[-1]["type"] == "fault.restore"
