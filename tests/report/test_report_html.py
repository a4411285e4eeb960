"""Tests of the HTML after-action report, rendered from synthetic journals.

The journals are written with the real Journal on a FakeClock, with the event
fields DrillRunner writes, then analyzed and rendered the way ``drillkit report``
does it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.clock import NS_PER_S, FakeClock
from drillkit.engine.analysis import analyze
from drillkit.engine.journal import Journal, read_journal
from drillkit.report import render_all
from drillkit.report.html import LABEL_WIDTH, SVG_WIDTH, RIGHT_PAD, build_timeline, nice_tick_step, render_html

CHROMIUM = Path("/usr/bin/chromium")

PROBES = [
    {"name": "noc-ping", "kind": "ping", "role": "detect", "vantage": "noc", "interval_s": 0.5, "timeout_s": 0.4,
     "failure_threshold": 2, "success_threshold": 1, "tolerance_s": None, "target": "10.1.1.10"},
    {"name": "site2-guard", "kind": "tcp", "role": "guard", "vantage": "noc", "interval_s": 0.5, "timeout_s": 0.4,
     "failure_threshold": 3, "success_threshold": 1, "tolerance_s": None, "target": "10.2.1.10:8080"},
    {"name": "inf1-liveness", "kind": "http", "role": "observe", "vantage": "inf1", "interval_s": 0.5,
     "timeout_s": 0.4, "failure_threshold": 2, "success_threshold": 1, "tolerance_s": None,
     "target": "http://127.0.0.1:8080/health"},
    {"name": "inf1-fresh", "kind": "freshness", "role": "detect", "vantage": "inf1", "interval_s": 0.5,
     "timeout_s": 0.4, "failure_threshold": 2, "success_threshold": 1, "tolerance_s": 2.0,
     "target": "http://127.0.0.1:8080/infer"},
]
STEPS = [
    {"name": "oob-login", "kind": "ssh", "oob": True, "continue_on_error": False, "node": "core"},
    {"name": "restore-link", "kind": "jail", "oob": True, "continue_on_error": False, "node": None},
    {"name": "wait-service", "kind": "wait", "oob": False, "continue_on_error": False, "node": None},
]
SLA = {"detect": 2.0, "oob_access": 5.0, "recover": 10.0, "stale_data": 5.0, "outage": 10.0}
INJECT_T = 2.0
# The feed's last update before the cut; the freshness probe reads the age since then.
LAST_FEED_T = 1.9


class DrillJournal:
    """Writer of a run's journal with the events and fields DrillRunner writes."""

    def __init__(self, run_dir: Path, *, probes: list[dict[str, Any]] | None = None,
                 description: str = "Site 1 loses its uplink.", sla: dict[str, float] | None = None,
                 steps: list[dict[str, Any]] | None = None) -> None:
        self.clock = FakeClock()
        self.journal = Journal(run_dir, self.clock)
        self.probes = probes if probes is not None else PROBES
        self.journal.write(
            "run.start", run_id=f"uplink-cut-{run_dir.name}",
            scenario={"name": "uplink-cut", "path": "scenarios/uplink-cut.yaml", "description": description,
                      "tags": ["edge"]},
            lab={"name": "edge-ai", "topology": "labs/edge-ai/edge-ai.clab.yml", "backend": "netns"},
            sla=dict(SLA if sla is None else sla),
            timing={"baseline_s": 2.0, "settle_s": 1.0, "detect_timeout_s": 10.0, "recover_timeout_s": 30.0,
                    "steps_start": "on_detect"},
            stop_conditions={"max_outage_s": 60.0, "guard_probes": ["site2-guard"]},
            faults=[{"name": "site1-uplink", "kind": "link_down", "description": "set core:eth2, edge1:eth1 down"}],
            probes=self.probes, steps=STEPS if steps is None else steps)

    def now(self) -> float:
        return self.journal.rel(self.clock.monotonic_ns())

    def at(self, t: float) -> None:
        """Move the clock to ``t`` seconds from the start of the run."""
        self.clock.advance(t - self.now())

    def write(self, type_: str, **fields: Any) -> None:
        self.journal.write(type_, **fields)

    def phase(self, phase: str, state: str, ok: bool | None = None) -> None:
        fields: dict[str, Any] = {"phase": phase, "state": state}
        if ok is not None:
            fields["ok"] = ok
        self.write("phase", **fields)

    def sample(self, probe: str, ok: bool, detail: str, value: float | None = None) -> None:
        self.write("probe.sample", probe=probe, ok=ok, detail=detail, latency_s=0.002, value=value)

    def transition(self, probe: str, state: str) -> None:
        self.write("probe.transition", probe=probe, state=state, streak_start=self.now(), last_opposite=None)

    def mark(self, name: str, uncertainty_s: float, note: str, **fields: Any) -> None:
        self.write("mark", name=name, at=self.now(), uncertainty_s=uncertainty_s, note=note, **fields)

    def step(self, name: str, kind: str, via: str, seconds: float, *, ok: bool = True, exit_code: int | None = 0,
             output: str = "", error: str | None = None) -> None:
        self.write("step.start", step=name, kind=kind, via=via)
        self.at(self.now() + seconds)
        self.write("step.end", step=name, kind=kind, ok=ok, exit=exit_code, output=output[-4000:], error=error)

    def close(self) -> None:
        analysis = analyze(read_journal(self.journal.path))
        self.write("run.end", status=analysis.status, exit_code=analysis.exit_code)
        self.journal.close()


@dataclass
class Outcome:
    """How a synthetic drill goes after the fault is injected."""

    recovered: bool = True
    baseline_ok: bool = True
    stop_reason: str | None = None
    restore_ok: bool = True
    step_output: str = "eth2@if3  DOWN  <BROADCAST,MULTICAST>\n"
    violations: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = True
    description: str = "Site 1 loses its uplink."


def probe_round(drill: DrillJournal, *, link_up: bool, feed_age: float) -> None:
    """Write one sample of every probe, as the scheduler does each interval."""
    drill.sample("noc-ping", link_up, "reply in 0.4 ms" if link_up else "timed out after 0.4 s")
    drill.sample("site2-guard", True, "connected")
    drill.sample("inf1-liveness", True, "HTTP 200")
    fresh = feed_age <= 2.0
    drill.sample("inf1-fresh", fresh, f"data age {feed_age:.2f} s", value=round(feed_age, 3))


def write_drill(run_dir: Path, outcome: Outcome | None = None) -> Path:
    """Write the journal of an uplink-cut drill on the edge-ai lab and return the run folder.

    The uplink is cut at 2.0 s. The ping fails from 2.5 s and is detected at 3.0 s,
    and the feed goes stale at 3.9 s. With ``recovered`` the link is back at 5.0 s, the
    feed at 5.2 s, and recovery is marked at 5.0 s.
    """
    outcome = outcome or Outcome()
    drill = DrillJournal(run_dir, description=outcome.description)

    drill.phase("baseline", "start")
    for i in range(5):
        drill.at(i * 0.5)
        probe_round(drill, link_up=outcome.baseline_ok or i < 2, feed_age=0.1)
    drill.at(INJECT_T)
    failures = [] if outcome.baseline_ok else ["noc-ping is failing (timed out after 0.4 s)"]
    drill.write("baseline", ok=outcome.baseline_ok, failures=failures)
    drill.phase("baseline", "end", ok=outcome.baseline_ok)
    if not outcome.baseline_ok:
        drill.close()
        return run_dir

    drill.phase("inject", "start")
    drill.at(INJECT_T + 0.01)
    drill.write("fault.inject", fault="site1-uplink", kind="link_down", ok=True,
                description="set core:eth2, edge1:eth1 down", t_start=INJECT_T)
    drill.phase("inject", "end", ok=True)
    drill.phase("detect", "start")

    def round_at(t: float) -> None:
        drill.at(t)
        link_up = outcome.recovered and t >= 5.0
        feed_age = 0.3 if (outcome.recovered and t >= 5.5) else t - LAST_FEED_T
        probe_round(drill, link_up=link_up, feed_age=feed_age)

    round_at(2.5)
    round_at(3.0)
    drill.transition("noc-ping", "failing")
    drill.mark("detect", 0.5, "noc-ping past its failure threshold", probe="noc-ping")
    drill.phase("detect", "end", ok=True)

    drill.phase("oob_access", "start")
    if outcome.stop_reason:
        drill.write("stop", reason=outcome.stop_reason)
    else:
        drill.step("oob-login", "ssh", "ssh over OOB to core (172.20.20.11)", 0.4, output=outcome.step_output)
        drill.mark("oob_access", 0.0, "step oob-login succeeded over the OOB path", step="oob-login")
        drill.phase("oob_access", "end", ok=True)
        drill.phase("recover", "start")
        drill.step("restore-link", "jail", "OOB jail dk-edge-ai-jail", 0.5, output="== core: eth2 up\n")
        drill.write("step.start", step="wait-service", kind="wait", via="probes")
        for t in (3.5, 4.0, 4.5, 5.0, 5.5, 6.0):
            round_at(t)
            if t == 5.0 and outcome.recovered:
                drill.transition("noc-ping", "healthy")
        for violation in outcome.violations:
            drill.write("violation", **violation)
        if outcome.recovered:
            drill.write("step.end", step="wait-service", kind="wait", ok=True, exit=None, output="", error=None)
            drill.journal.write("mark", name="recover", at=5.0, uncertainty_s=0.5, probe="noc-ping",
                                note="all detect probes healthy for 1 s; noc-ping was the last to recover")
            drill.phase("recover", "end", ok=True)
        else:
            drill.write("step.end", step="wait-service", kind="wait", ok=False, exit=None, output="",
                        error="probes not healthy within 3 s: noc-ping, inf1-fresh")

    if not outcome.finished:
        drill.journal.close()
        return run_dir

    drill.at(6.1)
    drill.phase("restore", "start")
    drill.at(6.15)
    error = None if outcome.restore_ok else "RTNETLINK answers: No such device"
    drill.write("fault.restore", fault="site1-uplink", ok=outcome.restore_ok, error=error)
    drill.phase("restore", "end", ok=outcome.restore_ok)
    drill.close()
    return run_dir


def render(tmp_path: Path, outcome: Outcome | None = None) -> str:
    run_dir = write_drill(tmp_path / "run", outcome)
    reports = render_all(run_dir)
    return reports["html"].read_text(encoding="utf-8")


class PageParser(HTMLParser):
    """Collector of the elements, text, styles and scripts of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open and self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        current = self._open[-1] if self._open else ""
        if current == "style":
            self.styles.append(data)
        elif current == "script":
            self.scripts.append(data)
        else:
            self.text.append(data)


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


def sla_rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr class="sla-row" data-sla="([^"]+)">(.*?)</tr>', page, re.S))


def lanes(page: str) -> dict[str, str]:
    return dict(re.findall(r'<g class="lane[^"]*" data-lane="([^"]+)">(.*?)</g>', page, re.S))


def verdict_box(page: str) -> str:
    match = re.search(r'<section class="verdict[^"]*" id="verdict".*?</section>', page, re.S)
    assert match, "no verdict box in the report"
    return match.group(0)


# -- verdicts ---------------------------------------------------------------


def test_passed_run_verdict(tmp_path: Path) -> None:
    page = render(tmp_path)
    box = verdict_box(page)

    assert "verdict-passed" in box
    assert "PASSED" in box
    assert "exit code 0" in box
    assert "<title>PASSED" in page
    assert "uplink-cut" in page
    assert "Site 1 loses its uplink." in page
    assert "edge-ai" in page
    assert "uplink-cut-run" in page
    assert "2026-01-01" in page  # FakeClock's wall clock


def test_passed_run_sla_rows(tmp_path: Path) -> None:
    rows = sla_rows(render(tmp_path))

    assert list(rows) == list(SLA)
    assert "1.000 s" in rows["detect"]
    assert "± 0.500 s" in rows["detect"]
    assert "+1.000 s" in rows["detect"]
    assert "2 s" in rows["detect"]
    assert "1.400 s" in rows["oob_access"]
    assert "3.000 s" in rows["recover"]
    assert "1.300 s" in rows["stale_data"]
    assert "3.000 s" in rows["outage"]
    for name, row in rows.items():
        assert ">met<" in row, name
        assert "not reached" not in row, name


def test_failed_run_not_reached(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(recovered=False))
    box = verdict_box(page)
    rows = sla_rows(page)

    assert "FAILED" in box
    assert "exit code 1" in box
    assert "Missed SLA: recover, stale_data, outage" in box
    for name in ("recover", "stale_data", "outage"):
        assert "not reached" in rows[name], name
        assert ">missed<" in rows[name], name
        assert "\u2014" in rows[name], name  # no margin without a measurement
    assert "data still stale at the end" in rows["stale_data"]
    assert ">met<" in rows["detect"]
    assert "step wait-service failed: probes not healthy within 3 s: noc-ping, inf1-fresh" in page


def test_aborted_run_stop_reason(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(stop_reason="guard probe site2-guard failed: connection refused"))
    box = verdict_box(page)

    assert "ABORTED" in box
    assert "exit code 3" in box
    assert "guard probe site2-guard failed: connection refused" in box
    assert 'data-marker="stop"' in page


def test_error_run_baseline_failure(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(baseline_ok=False))
    box = verdict_box(page)

    assert "ERROR" in box
    assert "exit code 2" in box
    assert "steady state failed before inject: noc-ping is failing (timed out after 0.4 s)" in box
    assert "no fault injected" in page
    assert "not injected" in page
    assert "No step ran." in page
    assert "Not run: oob-login, restore-link, wait-service" in page


def test_sla_without_target_listed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    drill = DrillJournal(run_dir, sla={"detect": 2.0})
    drill.phase("baseline", "start")
    drill.at(1.0)
    drill.write("fault.inject", fault="site1-uplink", kind="link_down", ok=True, description="cut", t_start=1.0)
    drill.at(1.5)
    drill.mark("detect", 0.5, "noc-ping past its failure threshold")
    drill.close()
    page = render_all(run_dir)["html"].read_text(encoding="utf-8")
    rows = sla_rows(page)

    assert ">met<" in rows["detect"]
    assert "no target" in rows["recover"]
    assert "not judged" in rows["outage"]


def test_close_call_flagged(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    drill = DrillJournal(run_dir, sla={"detect": 1.2})
    drill.at(1.0)
    drill.write("fault.inject", fault="site1-uplink", kind="link_down", ok=True, description="cut", t_start=1.0)
    drill.at(2.0)
    drill.mark("detect", 0.5, "noc-ping past its failure threshold")
    drill.close()
    rows = sla_rows(render_all(run_dir)["html"].read_text(encoding="utf-8"))

    assert ">met<" in rows["detect"]
    assert "within the measurement uncertainty" in rows["detect"]


# -- timeline ---------------------------------------------------------------


def test_timeline_probe_lanes_and_roles(tmp_path: Path) -> None:
    found = lanes(render(tmp_path))

    assert ">detect</text>" in found["noc-ping"]
    assert ">guard</text>" in found["site2-guard"]
    assert ">observe</text>" in found["inf1-liveness"]
    assert ">detect</text>" in found["inf1-fresh"]
    assert 'class="probe-ok"' in found["noc-ping"]
    assert 'class="probe-fail"' in found["noc-ping"]
    assert 'class="probe-fail"' not in found["site2-guard"]


def test_timeline_step_lanes(tmp_path: Path) -> None:
    found = lanes(render(tmp_path, Outcome(recovered=False)))

    assert 'class="step-ok"' in found["oob-login"]
    assert ">ssh \u00b7 OOB</text>" in found["oob-login"]
    assert 'class="step-ok"' in found["restore-link"]
    assert 'class="step-fail"' in found["wait-service"]
    assert ">wait</text>" in found["wait-service"]


def test_timeline_faults_phases_markers(tmp_path: Path) -> None:
    page = render(tmp_path)
    found = lanes(page)

    assert "site1-uplink" in found["faults"]
    assert 'class="fault"' in found["faults"]
    assert 'class="fault-band"' in page
    for phase in ("baseline", "inject", "detect", "oob_access", "recover", "restore"):
        assert f"phase phase-{phase}" in found["phases"], phase
    for marker in ("inject", "detect", "oob_access", "recover"):
        assert f'data-marker="{marker}"' in page, marker
    assert "seconds from run start" in page


def test_timeline_stale_and_silent_windows(tmp_path: Path) -> None:
    page = render(tmp_path)
    found = lanes(page)

    assert 'class="stale"' in found["\u21b3 stale data"]
    assert "outputs need revalidation" in found["\u21b3 stale data"]
    assert 'class="silent"' in found["\u21b3 live but stale"]
    assert "liveness ok while data stale" in found["\u21b3 live but stale"]
    assert ">revalidate</text>" in found["\u21b3 stale data"]
    assert "need revalidation" in page


def test_timeline_open_stale_window(tmp_path: Path) -> None:
    found = lanes(render(tmp_path, Outcome(recovered=False)))

    assert 'class="stale stale-open"' in found["\u21b3 stale data"]
    assert "the end of the run" in found["\u21b3 stale data"]


def test_build_timeline_geometry(tmp_path: Path) -> None:
    analysis = analyze(read_journal(write_drill(tmp_path / "run") / "journal.jsonl"))
    timeline = build_timeline(analysis)
    plot_width = SVG_WIDTH - RIGHT_PAD - LABEL_WIDTH
    expected_inject_x = LABEL_WIDTH + INJECT_T / timeline.end_t * plot_width

    assert timeline.end_t == pytest.approx(analysis.end_t)
    assert len(timeline.fault_bands) == 1
    assert timeline.fault_bands[0].x == pytest.approx(expected_inject_x, abs=0.01)
    inject = next(m for m in timeline.markers if m.label == "inject")
    assert inject.x == pytest.approx(expected_inject_x, abs=0.01)
    recover = next(m for m in timeline.markers if m.label == "recover")
    assert recover.band_width == pytest.approx(0.5 / timeline.end_t * plot_width, abs=0.02)
    for lane in timeline.lanes:
        assert timeline.lanes_top <= lane.y < timeline.lanes_bottom, lane.label
        for segment in lane.segments:
            assert segment.x >= timeline.plot_left, lane.label
            assert segment.x + segment.width <= timeline.plot_right + 1.5, lane.label
    labels = [lane.label for lane in timeline.lanes]
    assert labels == ["faults", "phases", "noc-ping", "site2-guard", "inf1-liveness", "inf1-fresh",
                      "\u21b3 stale data", "\u21b3 live but stale", "oob-login", "restore-link", "wait-service"]


def test_timeline_long_names_truncated(tmp_path: Path) -> None:
    long_name = "probe-with-a-very-long-name-that-does-not-fit-the-label-column"
    probe = dict(PROBES[0], name=long_name)
    drill = DrillJournal(tmp_path / "run", probes=[probe])
    drill.at(1.0)
    drill.sample(long_name, True, "ok")
    drill.close()
    timeline = build_timeline(analyze(read_journal(drill.journal.path)))
    lane = next(lane for lane in timeline.lanes if lane.label.startswith("probe-with"))

    assert lane.label.endswith("\u2026")
    assert long_name in lane.title


@pytest.mark.parametrize(("span", "step"), [
    (0.0, 1.0), (1.0, 0.1), (5.0, 0.5), (33.5, 5.0), (60.0, 10.0), (120.0, 20.0), (0.004, 0.0005),
])
def test_nice_tick_step(span: float, step: float) -> None:
    assert nice_tick_step(span) == pytest.approx(step)


@st.composite
def sample_runs(draw: st.DrawFn) -> list[tuple[float, bool]]:
    count = draw(st.integers(min_value=0, max_value=40))
    gaps = draw(st.lists(st.floats(min_value=0.001, max_value=5.0), min_size=count, max_size=count))
    oks = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    t = 0.0
    samples = []
    for gap, ok in zip(gaps, oks):
        t += gap
        samples.append((t, ok))
    return samples


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=sample_runs(), inject_at=st.floats(min_value=0.0, max_value=50.0))
def test_timeline_segments_inside_plot(tmp_path_factory: pytest.TempPathFactory, samples: list[tuple[float, bool]],
                                       inject_at: float) -> None:
    run_dir = tmp_path_factory.mktemp("run")
    drill = DrillJournal(run_dir, probes=[PROBES[0]])
    for t, ok in samples:
        drill.at(t)
        drill.sample("noc-ping", ok, "ok" if ok else "timed out")
    drill.journal.write("fault.inject", mono_ns=drill.journal.start_ns + int(inject_at * NS_PER_S),
                        fault="site1-uplink", kind="link_down", ok=True, description="cut", t_start=inject_at)
    drill.journal.close()
    analysis = analyze(read_journal(drill.journal.path))
    timeline = build_timeline(analysis)

    assert timeline.end_t > 0
    for lane in timeline.lanes:
        for segment in lane.segments:
            assert segment.width > 0
            assert timeline.plot_left <= segment.x <= timeline.plot_right
            assert segment.x + segment.width <= timeline.plot_right + 1.5
    for x, _label in timeline.ticks:
        assert timeline.plot_left <= x <= timeline.plot_right
    assert "<svg" in render_html(analysis)


# -- tables -------------------------------------------------------------------


def test_phase_durations_table(tmp_path: Path) -> None:
    page = render(tmp_path)
    section = re.search(r'<section id="phases">.*?</section>', page, re.S).group(0)

    assert "baseline" in section
    assert "2.000 s" in section  # baseline duration
    assert "oob_access" in section
    assert "badge-ok" in section


def test_faults_table(tmp_path: Path) -> None:
    page = render(tmp_path)
    section = re.search(r'<section id="faults">.*?</section>', page, re.S).group(0)

    assert "site1-uplink" in section
    assert "link_down" in section
    assert "set core:eth2, edge1:eth1 down" in section
    assert "2.000 s" in section  # injected at
    assert "6.150 s" in section  # restored at
    assert "4.150 s" in section  # active for


def test_restore_failure_warns(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(restore_ok=False))

    assert "Faults may still be active in the lab" in page
    assert "drillkit restore" in page
    assert "failed: RTNETLINK answers: No such device" in page
    assert "fault site1-uplink failed to restore" in page


def test_failures_and_violations_none(tmp_path: Path) -> None:
    page = render(tmp_path)
    section = re.search(r'<section id="failures">.*?</section>', page, re.S).group(0)

    assert section.count('<p class="empty">none</p>') == 2


def test_violations_listed(tmp_path: Path) -> None:
    violation = {"rule": "max_stale_s", "probe": "inf1-fresh", "detail": "data 2.6 s old"}
    page = render(tmp_path, Outcome(violations=[violation]))
    section = re.search(r'<section id="failures">.*?</section>', page, re.S).group(0)

    assert "max_stale_s" in section
    assert "data 2.6 s old" in section
    # A violation is also a failure, so neither list is empty.
    assert "violation: data 2.6 s old" in section
    assert '<p class="empty">none</p>' not in section


def test_step_transcripts(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(recovered=False))
    transcripts = re.findall(r'<details class="step"( open)?>(.*?)</details>', page, re.S)
    by_name = {re.search(r"<strong>([^<]+)</strong>", body).group(1): (opened, body) for opened, body in transcripts}

    assert list(by_name) == ["oob-login", "restore-link", "wait-service"]
    assert "eth2@if3  DOWN  &lt;BROADCAST,MULTICAST&gt;" in by_name["oob-login"][1]
    assert "ssh over OOB to core (172.20.20.11)" in by_name["oob-login"][1]
    assert by_name["oob-login"][0] == ""
    assert by_name["wait-service"][0] == " open"
    assert "probes not healthy within 3 s" in by_name["wait-service"][1]
    assert "(no output)" in by_name["wait-service"][1]


def test_unfinished_run_notice(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(finished=False))

    assert "no <code>run.end</code> event" in page
    assert "Faults may still be active in the lab" in page


# -- event log ----------------------------------------------------------------


def test_event_log_rows(tmp_path: Path) -> None:
    run_dir = write_drill(tmp_path / "run")
    events = list(read_journal(run_dir / "journal.jsonl"))
    page = render_all(run_dir)["html"].read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="evt-\d+[^"]*" data-type="([^"]+)">', page)

    assert rows == [e["type"] for e in events]
    assert '<span class="k">step</span>=oob-login' in page
    assert "1 line, shown under Step transcripts" in page


def test_event_log_hides_probe_samples(tmp_path: Path) -> None:
    page = render(tmp_path)
    boxes = {name: checked for checked, name in
             re.findall(r'<input type="checkbox" id="log-type-\d+"( checked)?> <code>([^<]+)</code>', page)}

    assert boxes["probe.sample"] == ""
    assert boxes["phase"] == " checked"
    assert boxes["mark"] == " checked"
    index = re.search(r'id="log-type-(\d+)"> <code>probe.sample</code>', page).group(1)
    assert f"#event-log:has(#log-type-{index}:not(:checked)) tr.evt-{index} {{ display: none; }}" in page


def test_event_log_alert_rows(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(stop_reason="interrupted by SIGINT"))

    assert re.search(r'<tr class="evt-\d+ alert" data-type="stop">', page)


# -- safety -------------------------------------------------------------------

# Attributes through which a browser would load something.
FETCH_ATTRIBUTES = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset", "background",
                    "manifest", "ping"}


def test_no_external_references(tmp_path: Path) -> None:
    page = render(tmp_path, Outcome(description="Runbook: https://wiki.example.test/runbooks/uplink"))
    parsed = parse(page)

    assert "https://wiki.example.test/runbooks/uplink" in "".join(parsed.text)
    for tag, attrs in parsed.elements:
        assert tag not in {"link", "img", "iframe", "object", "embed", "base", "audio", "video", "source"}, tag
        for name, value in attrs.items():
            value = value or ""
            if name in FETCH_ATTRIBUTES:
                assert value.startswith("#"), (tag, name, value)
            if "://" in value:
                assert name == "title", (tag, name, value)
    for css in parsed.styles:
        assert "@import" not in css
        assert "://" not in css
        for reference in re.findall(r"url\(([^)]*)\)", css):
            assert reference.startswith("#"), reference
    for script in parsed.scripts:
        assert "://" not in script
        assert "fetch(" not in script
        assert "XMLHttpRequest" not in script
        assert "import(" not in script


def test_csp_blocks_fetches_and_allows_script(tmp_path: Path) -> None:
    page = render(tmp_path)
    parsed = parse(page)
    policy = next(attrs["content"] for tag, attrs in parsed.elements
                  if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)

    assert "default-src 'none'" in policy
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode("ascii")
    assert f"script-src 'sha256-{digest}'" in policy


def test_journal_text_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    page = render(tmp_path, Outcome(step_output=hostile + "\n", description=hostile,
                                    violations=[{"detail": hostile}]))
    parsed = parse(page)

    assert hostile not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert len(parsed.scripts) == 1
    assert not [tag for tag, _attrs in parsed.elements if tag == "img"]
    assert not [attrs for _tag, attrs in parsed.elements if "onerror" in attrs]


def test_empty_journal_renders() -> None:
    page = render_html(analyze([]))

    assert "ERROR" in verdict_box(page)
    assert "no fault was injected" in page
    assert "no <code>run.start</code> event" in page
    assert "no <code>run.end</code> event" in page
    assert '<svg class="timeline"' in page


def test_render_all_writes_report(tmp_path: Path) -> None:
    run_dir = write_drill(tmp_path / "run")
    reports = render_all(run_dir)

    assert reports["html"] == run_dir / "report.html"
    assert reports["html"].read_text(encoding="utf-8").startswith("<!doctype html>")
    assert json.loads(reports["json"].read_text())["status"] == "passed"


# -- browser ------------------------------------------------------------------


def run_chromium(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run Chromium in its own process group and kill that group if it overruns."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"Chromium did not finish within {timeout_s:g} s: {' '.join(argv)}")
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


@pytest.mark.browser
def test_report_loads_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM}; install the Debian package 'chromium'")
    run_dir = write_drill(tmp_path / "run")
    events = list(read_journal(run_dir / "journal.jsonl"))
    samples = sum(1 for e in events if e["type"] == "probe.sample")
    report = render_all(run_dir)["html"]
    argv = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.as_uri()]

    result = run_chromium(argv, timeout_s=60)
    dom = result.stdout
    body = re.search(r"<body[^>]*>", dom)

    assert result.returncode == 0, result.stderr[-2000:]
    assert body, dom[:2000]
    assert 'data-rendered="yes"' in body.group(0)
    assert 'data-errors=""' in body.group(0)
    assert "PASSED" in dom
    assert '<svg class="timeline"' in dom
    assert f"showing {len(events) - samples} of {len(events)} events" in dom
