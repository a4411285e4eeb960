"""Trends: phase times across runs against SLA targets, regressions marked, on a page that opens offline."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import copy_lab, lab_namespaces, needs_root, run_cli
from drillkit.gameday import history
from drillkit.gameday.history import RunRecord, SlaRow
from drillkit.gameday.trends import build_series, build_trends, write_trends
from gameday_support import drillkit, scenario_copy, utc, write_run


def record(index: int, value: float | None, *, target: float | None = 10.0, status: str = "passed") -> RunRecord:
    slas = {} if target is None else {"recover": SlaRow("recover", target, value,
                                                        value is not None and value <= target)}
    return RunRecord(run_id=f"r{index}", scenario="s", lab="lab", started=f"2026-03-{index + 1:02d}T09:00:00+00:00",
                     status=status, exit_code=0, report_path=None, run_dir=None,
                     measurements={"recover": value}, slas=slas)


def test_slower_than_median_marked():
    runs = [record(i, v) for i, v in enumerate([2.0, 2.2, 1.8, 2.1, 2.0, 2.6, 2.4])]

    points = build_series(runs, "recover")

    # Median of the five before r5 is 2.0: 2.6 is 30 % slower, 2.4 after it is 20 % over 2.1.
    assert [p.run_id for p in points if p.regression] == ["r5"]
    assert points[5].reasons == ["30 % slower than the median 2.00 s of the previous 5 runs"]


def test_median_needs_three_earlier_runs():
    runs = [record(i, v) for i, v in enumerate([1.0, 5.0, 9.0])]

    points = build_series(runs, "recover")

    assert [p.regression for p in points] == [False, False, False]


def test_median_uses_previous_five_only():
    # A slow start is outside the window of five by the time of the last run.
    runs = [record(i, v) for i, v in enumerate([9.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2])]

    points = build_series(runs, "recover")

    assert points[-1].regression is False


def test_sla_crossing_marked():
    runs = [record(i, v) for i, v in enumerate([8.0, 9.0, 10.5])]

    points = build_series(runs, "recover")

    assert points[2].reasons == ["SLA missed: 10.50 s, target 10 s"]


def test_not_reached_is_sla_miss_unless_error():
    runs = [record(0, 2.0), record(1, None, status="failed"), record(2, None, status="error")]

    points = build_series(runs, "recover")

    assert [p.run_id for p in points] == ["r0", "r1"]
    assert points[1].reasons == ["SLA missed: not reached, target 10 s"]


def test_no_target_no_sla_mark():
    runs = [record(i, 50.0, target=None) for i in range(2)]

    assert [p.regression for p in build_series(runs, "recover")] == [False, False]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def synthetic_history(tmp_path: Path, db: Path) -> None:
    """Seven runs of one scenario, where run 6 regresses on recover and run 7 misses its detect target."""
    reports = tmp_path / "reports"
    recover = [3.0, 3.2, 2.9, 3.1, 3.0, 4.5, 3.0]
    detect = [0.5, 0.6, 0.5, 0.4, 0.5, 0.5, 2.5]
    for day, (r, d) in enumerate(zip(recover, detect), start=1):
        status = "failed" if d > 2 else "passed"
        history.record_run(write_run(reports, "edge-uplink-cut", utc(2026, 3, day, 3, 0), status=status,
                                     values={"detect": d, "oob_access": 1.0, "recover": r}), db=db)
    history.record_run(write_run(reports, "frr-primary-cut", utc(2026, 3, 1, 4, 0), lab="frr-triangle"), db=db)


def test_page_marks_regressions(tmp_path):
    db = tmp_path / "h.sqlite"
    synthetic_history(tmp_path, db)
    out = tmp_path / "out" / "trends.html"

    trends = write_trends(out, db=db)

    page = out.read_text()
    parser = _Page()
    parser.feed(page)
    circles = [attrs for tag, attrs in parser.tags if tag == "circle"]
    flagged = {attrs["data-run"] for attrs in circles if "regression" in (attrs.get("class") or "")}
    assert [t.scenario for t in trends] == ["edge-uplink-cut", "frr-primary-cut"]
    assert flagged == {"edge-uplink-cut-20260306T030000Z", "edge-uplink-cut-20260307T030000Z"}
    assert page.count("<svg") == 6
    assert "SLA 15 s" in page
    assert "50 % slower than the median 3.00 s of the previous 5 runs" in page
    assert "SLA missed: 2.50 s, target 2 s" in page


def test_page_is_self_contained(tmp_path):
    db = tmp_path / "h.sqlite"
    synthetic_history(tmp_path, db)
    out = tmp_path / "out" / "trends.html"

    write_trends(out, db=db)

    page = out.read_text()
    parser = _Page()
    parser.feed(page)
    csp = next(a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") ==
               "Content-Security-Policy")
    assert "default-src 'none'" in csp
    assert not [t for t, _ in parser.tags if t in ("script", "link", "img", "iframe")]
    assert re.findall(r"https?://", page) == []
    links = [a["href"] for t, a in parser.tags if t == "a"]
    assert "../reports/edge-uplink-cut/20260306T030000Z/report.html" in links
    assert all((out.parent / link).is_file() for link in links)


def test_page_for_one_scenario(tmp_path):
    db = tmp_path / "h.sqlite"
    synthetic_history(tmp_path, db)

    trends = write_trends(tmp_path / "one.html", scenario="frr-primary-cut", db=db)

    assert [t.scenario for t in trends] == ["frr-primary-cut"]
    assert "edge-uplink-cut" not in (tmp_path / "one.html").read_text()


def test_cli_trends_lists_regressions(tmp_path):
    db = tmp_path / "h.sqlite"
    synthetic_history(tmp_path, db)
    out = tmp_path / "t.html"

    result = drillkit("trends", "--out", str(out), "--db", str(db))
    unknown = drillkit("trends", "--scenario", "nope", "--out", str(tmp_path / "n.html"), "--db", str(db))

    assert result.returncode == 0, result.stderr
    assert "8 runs of 2 scenarios, 2 regressions" in result.stdout
    assert "edge-uplink-cut-20260306T030000Z: time to recover: 50 % slower" in result.stdout
    assert out.is_file()
    assert unknown.returncode == 1
    assert "no runs of scenario nope" in unknown.stderr


@pytest.mark.lab
@needs_root
def test_real_run_in_trends(tmp_path):
    """A drill run through the CLI on a lab copy, imported into a history of synthetic runs."""
    topology = copy_lab(tmp_path, "t-gdtr")
    scenario = scenario_copy(tmp_path, topology, name="t-gd-trends")
    db = tmp_path / "h.sqlite"
    reports = tmp_path / "reports"
    for day in range(1, 5):
        history.record_run(write_run(reports, "t-gd-trends", utc(2026, 1, day, 3, 0), lab="t-gdtr",
                                     values={"detect": 0.4, "oob_access": 0.8, "recover": 0.5}), db=db)
    try:
        run = run_cli("run", str(scenario), "--lab-up", "--reports", str(reports))
    finally:
        if lab_namespaces("t-gdtr"):
            run_cli("lab", "down", str(topology))
    assert run.returncode == 0, run.stdout + run.stderr

    imported = drillkit("history", "--import", str(reports), "--db", str(db))
    page = tmp_path / "trends.html"
    trends = drillkit("trends", "--scenario", "t-gd-trends", "--out", str(page), "--db", str(db))

    assert imported.returncode == 0, imported.stderr
    assert "imported 1 runs, 4 already recorded" in imported.stderr
    assert trends.returncode == 0, trends.stderr
    [real] = [t for t in build_trends(scenario="t-gd-trends", db=db)[0].runs if t.started >= "2026-02"]
    summary = json.loads((Path(real.run_dir) / "summary.json").read_text())
    assert real.measurements["recover"] == summary["measurements"]["recover"]["value"]
    # The real recovery takes over a second, far more than 25 % above the synthetic 0.5 s median.
    assert f"{real.run_id}: time to recover:" in trends.stdout
    assert f'data-run="{real.run_id}"' in page.read_text()
    assert lab_namespaces("t-gdtr") == []
