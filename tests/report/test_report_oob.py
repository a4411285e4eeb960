"""Tests of the report's out-of-band sections, rendered from synthetic journals.

The journal is a console-recovery drill written with the real Journal on a
FakeClock, with the events and fields that DrillRunner and ``drillkit console``
write: hardening findings, the in-band guard and its violations, console steps
with notes and prompt access, a python step refused by the OOB API, and
operator sessions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from drillkit.engine.analysis import analyze
from drillkit.engine.journal import read_journal
from drillkit.report import render_all
from drillkit.report.html import build_timeline, render_html
from test_report_html import CHROMIUM, PROBES, DrillJournal, parse, run_chromium, verdict_box, write_drill

OOB_STEPS = [
    {"name": "console-core", "kind": "console", "oob": True, "continue_on_error": False, "node": "core"},
    {"name": "console-edge1", "kind": "console", "oob": True, "continue_on_error": True, "node": "edge1"},
    {"name": "api-fix", "kind": "python", "oob": True, "continue_on_error": False, "node": None},
    {"name": "console-edge2", "kind": "console", "oob": True, "continue_on_error": False, "node": "edge2"},
]
INJECT_T = 2.0
FINDINGS = [
    {"check": "console_auth", "ok": True, "target": "ssh nobody@172.20.20.2",
     "detail": "login without credentials rejected"},
    {"check": "default_passwords", "ok": False, "target": "ssh admin@172.20.20.2",
     "detail": "the console server accepted admin/admin"},
    {"check": "prod_to_oob", "ok": True, "target": "core:eth2 -> 172.20.20.2:22", "detail": "no route"},
    {"check": "telnet_exposure", "ok": False, "target": "172.20.20.2:7001",
     "detail": "line 1 answers telnet without a login"},
]
GUARD_VIOLATIONS = [
    {"at": 5.2, "uncertainty_s": 1.0, "where": "core", "source": "10.1.1.2", "destination": "10.1.1.1",
     "protocol": "tcp", "port": 22, "packets": 3, "blocked": True,
     "detail": "in-band attempt tcp/22 10.1.1.2 -> 10.1.1.1 (seen at core)"},
    {"at": 4.4, "uncertainty_s": 1.0, "where": "jail", "source": "172.20.20.254", "destination": "10.1.1.1",
     "protocol": "icmp", "port": 0, "packets": 1, "blocked": True,
     "detail": "in-band attempt icmp/0 172.20.20.254 -> 10.1.1.1 (seen at jail)"},
]
OPERATOR_TRANSCRIPT = "core# ip link set eth2 up\ncore# exit\n"


def write_oob_drill(run_dir: Path, *, findings: list[dict[str, Any]] | None = None,
                    violations: list[dict[str, Any]] | None = None, console_note: str = "line 1 was held by "
                    "another session: cleared it", operator: str = "alice",
                    transcript: str = OPERATOR_TRANSCRIPT) -> Path:
    """Write the journal of a console-recovery drill and return the run folder.

    The fault is injected at 2.0 s and detected at 3.0 s. The console of core
    reaches its prompt at 3.6 s, edge1's console step fails, and edge2's never
    runs. The python step is refused an in-band SSH at 6.1 s. alice's session on
    core runs from 4.5 s to 7.5 s, and bob's on edge1 starts at 8.0 s and never
    ends. The guard's attempts are recorded at the restore, at 8.5 s.
    """
    drill = DrillJournal(run_dir, probes=[PROBES[0]], sla={"detect": 2.0, "oob_access": 5.0}, steps=OOB_STEPS)
    drill.phase("baseline", "start")
    for i in range(4):
        drill.at(i * 0.5)
        drill.sample("noc-ping", True, "reply in 0.4 ms")
    drill.at(1.9)
    for finding in FINDINGS if findings is None else findings:
        drill.write("finding", **finding)
    drill.write("baseline", ok=True, failures=[])
    drill.phase("baseline", "end", ok=True)
    drill.write("guard.start", description="drop and record in-band management attempts on 5 nodes")

    drill.at(INJECT_T)
    drill.phase("inject", "start")
    drill.write("fault.inject", fault="site1-uplink", kind="link_down", ok=True,
                description="set core:eth2, edge1:eth1 down", t_start=INJECT_T)
    drill.phase("inject", "end", ok=True)
    drill.phase("detect", "start")
    drill.at(3.0)
    drill.sample("noc-ping", False, "timed out after 0.4 s")
    drill.mark("detect", 0.5, "noc-ping past its failure threshold", probe="noc-ping")
    drill.phase("detect", "end", ok=True)

    drill.phase("oob_access", "start")
    drill.at(3.1)
    drill.write("step.start", step="console-core", kind="console",
                via="console of core (ssh through the console server)")
    drill.at(3.3)
    drill.write("console.note", step="console-core", node="core", note=console_note)
    drill.at(3.6)
    drill.write("oob.access", node="core", step="console-core", via="ssh", at=3.6, since_inject=3.6 - INJECT_T)
    drill.at(4.0)
    drill.write("step.end", step="console-core", kind="console", ok=True, exit=None,
                output="core# ip link show eth2\n2: eth2: <BROADCAST> state DOWN\n", error=None)
    drill.journal.write("mark", name="oob_access", at=3.6, uncertainty_s=0.0, step="console-core", node="core",
                        note="console of core reached a prompt")
    drill.phase("oob_access", "end", ok=True)
    drill.phase("recover", "start")

    drill.step("console-edge1", "console", "console of edge1 (ssh through the console server)", 2.0, ok=False,
               exit_code=None, error="no prompt within 2 s")
    drill.write("step.start", step="api-fix", kind="python", via="Python in the OOB jail: playbooks/fix.py:run")
    drill.at(4.5)
    drill.write("operator.session", state="start", node="core", operator=operator)
    drill.at(6.1)
    drill.write("violation", at=6.1, uncertainty_s=0.0, where="api", source="step api-fix", destination="core",
                protocol="api", port=0, packets=1, blocked=True,
                detail="SSH to core over the in-band path was requested during the outage window")
    drill.at(6.2)
    drill.write("step.end", step="api-fix", kind="python", ok=True, exit=None, output="restored", error=None)
    drill.at(7.0)
    drill.sample("noc-ping", True, "reply in 0.4 ms")
    drill.mark("recover", 0.5, "all detect probes healthy for 1 s; noc-ping was the last to recover",
               probe="noc-ping")
    drill.phase("recover", "end", ok=True)
    drill.at(7.5)
    drill.write("operator.session", state="end", node="core", operator=operator, exit=0, transcript=transcript,
                duration_s=3.0)
    drill.at(8.0)
    drill.write("operator.session", state="start", node="edge1", operator="bob")

    drill.at(8.5)
    for violation in GUARD_VIOLATIONS if violations is None else violations:
        drill.write("violation", **violation)
    drill.phase("restore", "start")
    drill.write("fault.restore", fault="site1-uplink", ok=True, error=None)
    drill.phase("restore", "end", ok=True)
    drill.close()
    return run_dir


def render_oob(tmp_path: Path, **kwargs: Any) -> str:
    run_dir = write_oob_drill(tmp_path / "run", **kwargs)
    return render_all(run_dir)["html"].read_text(encoding="utf-8")


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">.*?</section>', page, re.S)
    assert match, f"no section {section_id} in the report"
    return match.group(0)


def table_rows(html: str, row_class: str) -> list[str]:
    return re.findall(rf'<tr class="{row_class}[^"]*"[^>]*>(.*?)</tr>', html, re.S)


def lanes(page: str) -> dict[str, str]:
    return dict(re.findall(r'<g class="lane[^"]*" data-lane="([^"]+)">(.*?)</g>', page, re.S))


# -- violations -----------------------------------------------------------------


def test_violations_table_in_time_order(tmp_path: Path) -> None:
    rows = table_rows(section(render_oob(tmp_path), "failures"), "violation-row")

    assert len(rows) == 3
    assert "4.400 s" in rows[0]
    assert "5.200 s" in rows[1]
    assert "6.100 s" in rows[2]


def test_violation_row_columns(tmp_path: Path) -> None:
    rows = table_rows(section(render_oob(tmp_path), "failures"), "violation-row")
    guard_row = rows[1]

    assert "5.200 s" in guard_row
    assert "± 1.000 s" in guard_row
    assert "3.200 s after inject" in guard_row
    assert "guard on node core" in guard_row
    assert '<span class="address">10.1.1.2</span> → <span class="address">10.1.1.1</span>' in guard_row
    assert ">tcp/22<" in guard_row
    assert ">3<" in guard_row
    assert '<span class="badge badge-warn">blocked</span>' in guard_row
    assert "in-band attempt tcp/22 10.1.1.2 -&gt; 10.1.1.1 (seen at core)" in guard_row


def test_violation_without_port_or_uncertainty(tmp_path: Path) -> None:
    rows = table_rows(section(render_oob(tmp_path), "failures"), "violation-row")

    assert "guard on the OOB jail" in rows[0]
    assert ">icmp<" in rows[0]
    assert "OOB API of a python step" in rows[2]
    assert ">api<" in rows[2]
    assert '<span class="address">step api-fix</span> → <span class="address">core</span>' in rows[2]
    assert "±" not in rows[2]


def test_violation_before_inject(tmp_path: Path) -> None:
    early = dict(GUARD_VIOLATIONS[1], at=1.95, uncertainty_s=0.0)
    rows = table_rows(section(render_oob(tmp_path, violations=[early]), "failures"), "violation-row")

    assert "1.950 s" in rows[0]
    assert "0.050 s before inject" in rows[0]


def test_violation_without_at_uses_event_time(tmp_path: Path) -> None:
    undated = {k: v for k, v in GUARD_VIOLATIONS[0].items() if k != "at"}
    rows = table_rows(section(render_oob(tmp_path, violations=[undated]), "failures"), "violation-row")

    assert "8.500 s" in rows[1]  # written at the restore
    assert "6.500 s after inject" in rows[1]


def test_violation_not_blocked(tmp_path: Path) -> None:
    open_attempt = dict(GUARD_VIOLATIONS[0], blocked=False)
    page = render_oob(tmp_path, violations=[open_attempt])
    rows = table_rows(section(page, "failures"), "violation-row")
    found = lanes(page)

    assert '<span class="badge badge-fail">not blocked</span>' in rows[0]
    assert 'class="violation-tick violation-open"' in found["in-band attempts"]
    assert "in-band attempt, not blocked" in page


def test_guard_description_shown(tmp_path: Path) -> None:
    failures = section(render_oob(tmp_path), "failures")

    assert "In-band guard: drop and record in-band management attempts on 5 nodes." in failures


def test_violation_lane_on_timeline(tmp_path: Path) -> None:
    run_dir = write_oob_drill(tmp_path / "run")
    analysis = analyze(read_journal(run_dir / "journal.jsonl"))
    timeline = build_timeline(analysis)
    lane = next(lane for lane in timeline.lanes if lane.label == "in-band attempts")
    ticks = [s for s in lane.segments if s.css.startswith("violation-tick")]
    bands = [s for s in lane.segments if s.css == "violation-band"]
    plot_width = timeline.plot_right - timeline.plot_left

    assert [lane.label for lane in timeline.lanes][:3] == ["faults", "phases", "in-band attempts"]
    assert lane.tag == "violation"
    assert len(ticks) == 3
    assert len(bands) == 2  # the API's attempt has no uncertainty
    for band in bands:
        assert band.width == pytest.approx(2.0 / timeline.end_t * plot_width, abs=0.02)
    for tick in ticks:
        assert timeline.plot_left <= tick.x
        assert tick.x + tick.width <= timeline.plot_right
    tick_at_5_2 = timeline.plot_left + 5.2 / timeline.end_t * plot_width
    assert any(abs(t.x + t.width / 2 - tick_at_5_2) < 0.02 for t in ticks)
    assert any("10.1.1.2 \u2192 10.1.1.1" in t.title and "\u00b1 1.000 s" in t.title for t in ticks)


def test_violation_lane_api_attempt_only(tmp_path: Path) -> None:
    found = lanes(render_oob(tmp_path, violations=[]))

    # The python step's refused in-band request is an attempt even without guard records.
    assert found["in-band attempts"].count('class="violation-tick"') == 1
    assert 'class="violation-band"' not in found["in-band attempts"]


def test_violation_lane_absent_without_attempts(tmp_path: Path) -> None:
    page = render_all(write_drill(tmp_path / "run"))["html"].read_text(encoding="utf-8")

    assert "in-band attempts" not in lanes(page)
    assert "in-band attempt, blocked" not in page


# -- verdict ----------------------------------------------------------------------


def test_verdict_counts_violations_and_findings(tmp_path: Path) -> None:
    box = verdict_box(render_oob(tmp_path))

    assert "FAILED" in box
    assert "3 in-band access attempts during the drill, listed under Violations" in box
    assert ("2 of 4 OOB hardening checks failed (default_passwords, telnet_exposure), "
            "listed under Hardening findings") in box


def test_verdict_quiet_when_hardening_passes(tmp_path: Path) -> None:
    passing = [dict(f, ok=True) for f in FINDINGS]
    box = verdict_box(render_oob(tmp_path, findings=passing))

    assert "hardening" not in box
    assert "1 in-band access attempt during the drill" not in box


# -- hardening ----------------------------------------------------------------------


def test_hardening_findings_table(tmp_path: Path) -> None:
    hardening = section(render_oob(tmp_path), "hardening")
    rows = table_rows(hardening, "finding-row")

    assert "2 of 4 checks failed" in hardening
    assert len(rows) == 4
    assert "console_auth" in rows[0]
    assert "ssh nobody@172.20.20.2" in rows[0]
    assert '<span class="badge badge-ok">ok</span>' in rows[0]
    assert "login without credentials rejected" in rows[0]
    assert "default_passwords" in rows[1]
    assert '<span class="badge badge-fail">failed</span>' in rows[1]
    assert "the console server accepted admin/admin" in rows[1]
    assert "rejects well-known default passwords" in rows[1]
    assert "172.20.20.2:7001" in rows[3]


def test_hardening_failed_rows_highlighted(tmp_path: Path) -> None:
    hardening = section(render_oob(tmp_path), "hardening")
    highlighted = re.findall(r'<tr class="finding-row finding-failed">.*?<strong>([^<]+)</strong>', hardening, re.S)

    assert highlighted == ["default_passwords", "telnet_exposure"]


def test_hardening_all_passed(tmp_path: Path) -> None:
    hardening = section(render_oob(tmp_path, findings=[dict(f, ok=True) for f in FINDINGS]), "hardening")

    assert "All 4 checks passed" in hardening
    assert "finding-failed" not in hardening


def test_hardening_without_findings(tmp_path: Path) -> None:
    hardening = section(render_oob(tmp_path, findings=[]), "hardening")

    assert "No hardening check ran" in hardening
    assert "<table" not in hardening


# -- OOB access --------------------------------------------------------------------


def test_oob_access_per_node(tmp_path: Path) -> None:
    access = section(render_oob(tmp_path), "oob-access")
    rows = dict(re.findall(r'<tr class="access-row" data-node="([^"]+)">(.*?)</tr>', access, re.S))

    assert list(rows) == ["core", "edge1", "edge2"]
    assert "1.600 s" in rows["core"]
    assert "3.600 s" in rows["core"]
    assert "step console-core" in rows["core"]
    assert "over ssh" in rows["core"]
    assert "not reached" in rows["edge1"]
    assert "step console-edge1 failed: no prompt within 2 s" in rows["edge1"]
    assert "not reached" in rows["edge2"]
    assert "step console-edge2 did not run" in rows["edge2"]


def test_oob_access_step_unfinished(tmp_path: Path) -> None:
    run_dir = write_oob_drill(tmp_path / "run")
    events = [e for e in read_journal(run_dir / "journal.jsonl")
              if not (e["type"] == "step.end" and e["step"] == "console-edge1")]
    access = section(render_html(analyze(events)), "oob-access")

    assert "step console-edge1 did not finish" in access


def test_oob_access_before_any_inject(tmp_path: Path) -> None:
    run_dir = write_oob_drill(tmp_path / "run")
    events = [dict(e, since_inject=None) if e["type"] == "oob.access" else e
              for e in read_journal(run_dir / "journal.jsonl")]
    analysis = analyze(events)
    row = re.search(r'<tr class="access-row" data-node="core">(.*?)</tr>', render_html(analysis), re.S).group(1)

    assert analysis.oob_access_per_node == {}
    assert "no inject was recorded before this access" in row
    assert "3.600 s" in row


def test_oob_access_first_session_counts(tmp_path: Path) -> None:
    run_dir = write_oob_drill(tmp_path / "run")
    drill_events = list(read_journal(run_dir / "journal.jsonl"))
    later = dict(next(e for e in drill_events if e["type"] == "oob.access"), seq=999, t=9.0, at=9.0,
                 since_inject=7.0, step="console-core-again")
    analysis = analyze(drill_events + [later])
    access = section(render_html(analysis), "oob-access")

    assert analysis.oob_access_per_node["core"] == pytest.approx(1.6)
    assert "1.600 s" in access
    assert "7.000 s" not in access
    assert "console-core-again" not in access


def test_oob_access_tick_on_step_lane(tmp_path: Path) -> None:
    found = lanes(render_oob(tmp_path))

    assert 'class="access-tick"' in found["console-core"]
    assert "console of core reached its prompt at 3.600 s, 1.600 s after inject" in found["console-core"]
    assert 'class="access-tick"' not in found["console-edge1"]
    assert ">console \u00b7 OOB</text>" in found["console-core"]
    assert ">python \u00b7 OOB</text>" in found["api-fix"]


def test_oob_access_without_console_steps(tmp_path: Path) -> None:
    page = render_all(write_drill(tmp_path / "run"))["html"].read_text(encoding="utf-8")
    access = section(page, "oob-access")

    assert "No console session was recorded." in access
    assert "Console notes" not in access


# -- console notes -----------------------------------------------------------------


def test_console_notes_listed(tmp_path: Path) -> None:
    page = render_oob(tmp_path)
    access = section(page, "oob-access")
    steps = section(page, "steps")
    core_step = re.search(r'<details class="step"( open)?>\s*<summary>.*?<strong>console-core</strong>.*?</details>',
                          steps, re.S).group(0)

    assert "Console notes" in access
    assert "line 1 was held by another session: cleared it" in access
    assert "3.300 s" in access
    assert "console note: line 1 was held by another session: cleared it" in core_step
    assert "reached the console prompt of core at 3.600 s, 1.600 s after inject" in core_step


# -- operator sessions -------------------------------------------------------------


def operator_details(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<details class="step operator-session"( open)?>(.*?)</details>', section(page, "operators"),
                      re.S)


def test_operator_sessions_listed(tmp_path: Path) -> None:
    sessions = operator_details(render_oob(tmp_path))

    assert len(sessions) == 2
    opened, body = sessions[0]
    assert opened == ""
    assert "<strong>alice</strong>" in body
    assert "on the console of core" in body
    assert "started 4.500 s" in body
    assert "took 3.000 s" in body
    assert '<span class="badge badge-ok">exit 0</span>' in body
    assert "<pre>core# ip link set eth2 up\ncore# exit\n</pre>" in body


def test_operator_session_without_end(tmp_path: Path) -> None:
    opened, body = operator_details(render_oob(tmp_path))[1]

    assert opened == " open"
    assert "<strong>bob</strong>" in body
    assert "on the console of edge1" in body
    assert "started 8.000 s" in body
    assert '<span class="badge badge-warn">no end</span>' in body
    assert "No end event" in body
    assert "(no transcript)" in body


def test_operator_session_end_without_start(tmp_path: Path) -> None:
    run_dir = write_oob_drill(tmp_path / "run")
    events = [e for e in read_journal(run_dir / "journal.jsonl")
              if not (e["type"] == "operator.session" and e["state"] == "start")]
    sessions = operator_details(render_html(analyze(events)))

    assert len(sessions) == 1
    assert "started 4.500 s" in sessions[0][1]  # the end at 7.5 s minus duration_s
    assert "took 3.000 s" in sessions[0][1]


def test_operator_session_failed_exit(tmp_path: Path) -> None:
    run_dir = write_oob_drill(tmp_path / "run")
    events = [dict(e, exit=255) if e["type"] == "operator.session" and e["state"] == "end" else e
              for e in read_journal(run_dir / "journal.jsonl")]
    opened, body = operator_details(render_html(analyze(events)))[0]

    assert opened == " open"
    assert '<span class="badge badge-fail">exit 255</span>' in body


def test_operator_lanes_on_timeline(tmp_path: Path) -> None:
    run_dir = write_oob_drill(tmp_path / "run")
    timeline = build_timeline(analyze(read_journal(run_dir / "journal.jsonl")))
    by_label = {lane.label: lane for lane in timeline.lanes}

    assert "Operator sessions" in [text for _y, text in timeline.headings]
    assert by_label["core console"].tag == "alice"
    assert [s.css for s in by_label["core console"].segments] == ["operator"]
    assert by_label["edge1 console"].tag == "bob"
    assert [s.css for s in by_label["edge1 console"].segments] == ["operator operator-open"]
    segment = by_label["edge1 console"].segments[0]
    assert segment.x + segment.width == pytest.approx(timeline.plot_right, abs=0.01)


def test_no_operator_sessions(tmp_path: Path) -> None:
    page = render_all(write_drill(tmp_path / "run"))["html"].read_text(encoding="utf-8")

    assert "No operator session was recorded." in section(page, "operators")
    assert "Operator sessions</text>" not in page


# -- event log and safety --------------------------------------------------------


def test_event_log_summarizes_transcript(tmp_path: Path) -> None:
    page = render_oob(tmp_path)

    assert "2 lines, shown under Operator sessions" in page
    assert "core# ip link set eth2 up" not in section(page, "events")


def test_event_log_highlights_failed_findings(tmp_path: Path) -> None:
    page = render_oob(tmp_path)
    finding_rows = re.findall(r'<tr class="evt-\d+( alert)?" data-type="finding">(.*?)</tr>', page, re.S)

    assert [bool(alert) for alert, _body in finding_rows] == [False, True, False, True]


def test_oob_text_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    findings = [dict(FINDINGS[0], target=hostile, detail=hostile)]
    violations = [dict(GUARD_VIOLATIONS[0], source=hostile, where=hostile, detail=hostile)]
    page = render_oob(tmp_path, findings=findings, violations=violations, console_note=hostile, operator=hostile,
                      transcript=hostile)
    parsed = parse(page)

    assert hostile not in page
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 6
    assert len(parsed.scripts) == 1
    assert not [tag for tag, _attrs in parsed.elements if tag == "img"]
    assert not [attrs for _tag, attrs in parsed.elements if "onerror" in attrs]


def test_toc_links_new_sections(tmp_path: Path) -> None:
    page = render_oob(tmp_path)
    targets = re.findall(r'<nav class="toc"[^>]*>(.*?)</nav>', page, re.S)[0]

    for anchor in ("hardening", "oob-access", "operators"):
        assert f'href="#{anchor}"' in targets, anchor
        assert f'<section id="{anchor}">' in page, anchor


# -- browser ------------------------------------------------------------------------


@pytest.mark.browser
def test_oob_report_loads_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM}; install the Debian package 'chromium'")
    report = render_all(write_oob_drill(tmp_path / "run"))["html"]
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
    assert "FAILED" in dom
    assert 'data-lane="in-band attempts"' in dom
    assert "2 of 4 checks failed" in dom
