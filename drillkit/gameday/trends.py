"""Trends across runs: phase times per scenario against their SLA targets, with regressions marked.

``write_trends`` renders one self-contained HTML page: inline CSS and SVG, no
script, and a Content-Security-Policy that blocks every network fetch, so the
page opens offline.

A run is marked as a regression for a phase when

- its time is more than ``SLOWER_FACTOR`` times the median of the same phase
  over the previous ``MEDIAN_WINDOW`` runs that measured it (and at least
  ``MIN_PREVIOUS`` such runs exist), or
- it missed the phase's SLA target: slower than the target, or the phase was
  never reached in a run that injected its fault.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .history import RunRecord, runs_by_scenario

METRICS = ("detect", "oob_access", "recover")
METRIC_LABELS = {"detect": "time to detect", "oob_access": "time to OOB access", "recover": "time to recover"}
SLOWER_FACTOR = 1.25
MEDIAN_WINDOW = 5
# NOTE: three is a judgement call: a median of fewer earlier runs is too noisy to call a run slower.
MIN_PREVIOUS = 3

STATUS_COLORS = {"passed": "#1a7f37", "failed": "#cf222e", "aborted": "#8250df", "error": "#6e7781"}
CHART_WIDTH = 760
CHART_HEIGHT = 230
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 80, 18, 46


@dataclass
class TrendPoint:
    """One run's time for one phase, with the run's target and the reasons it is a regression."""

    run_id: str
    started: str
    status: str
    value: float | None
    target: float | None
    report_path: str | None
    reasons: list[str] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        return bool(self.reasons)


@dataclass
class ScenarioTrend:
    """The runs of one scenario, oldest first, and one series of points per phase."""

    scenario: str
    runs: list[RunRecord]
    series: dict[str, list[TrendPoint]]

    @property
    def regressions(self) -> list[tuple[str, TrendPoint]]:
        return [(metric, p) for metric, points in self.series.items() for p in points if p.regression]


def _fmt(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.2f} s"


def build_series(runs: list[RunRecord], metric: str) -> list[TrendPoint]:
    """Return one point per run for ``metric``, with regressions marked; runs in start order.

    Runs that ended in an error before their fault was injected carry no
    measurement and are left out.
    """
    points: list[TrendPoint] = []
    for run in runs:
        value = run.measurements.get(metric)
        sla = run.slas.get(metric)
        target = sla.target if sla is not None else None
        if value is None and run.status == "error":
            continue
        point = TrendPoint(run.run_id, run.started, run.status, value, target, run.report_path)
        earlier = [p.value for p in points if p.value is not None][-MEDIAN_WINDOW:]
        if value is not None and len(earlier) >= MIN_PREVIOUS:
            median = statistics.median(earlier)
            if median > 0 and value > SLOWER_FACTOR * median:
                slower = (value / median - 1) * 100
                point.reasons.append(f"{slower:.0f} % slower than the median {median:.2f} s "
                                     f"of the previous {len(earlier)} runs")
        if target is not None and (value is None or value > target):
            point.reasons.append(f"SLA missed: {_fmt(value)}, target {target:g} s")
        points.append(point)
    return points


def build_trends(*, scenario: str | None = None, db: str | Path | None = None) -> list[ScenarioTrend]:
    """Read the history and return the trend of each scenario (or only ``scenario``)."""
    out = []
    for name, runs in runs_by_scenario(scenario=scenario, db=db).items():
        out.append(ScenarioTrend(name, runs, {m: build_series(runs, m) for m in METRICS}))
    return out


# -- rendering ----------------------------------------------------------------


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _date(started: str) -> str:
    try:
        moment = _dt.datetime.fromisoformat(started)
    except ValueError:
        return started
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _href(report: str | None, out_dir: Path) -> str | None:
    """Return a link to a report: relative to the page when possible, else a file URI."""
    if not report:
        return None
    path = Path(report)
    try:
        return Path(os.path.relpath(path, out_dir)).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def render_chart(metric: str, points: list[TrendPoint], out_dir: Path) -> str:
    """Return the inline SVG of one phase's times across runs, with the SLA target line."""
    label = METRIC_LABELS.get(metric, metric)
    if not points:
        return f'<p class="empty">No run measured {_esc(label)}.</p>'
    values = [p.value for p in points if p.value is not None] + [p.target for p in points if p.target is not None]
    top = _nice_max(max(values, default=1.0) * 1.1)
    plot_w = CHART_WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = CHART_HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return PAD_LEFT + (i * step if len(points) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + plot_h - min(v, top) / top * plot_h

    parts = [f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" width="{CHART_WIDTH}" '
             f'height="{CHART_HEIGHT}" role="img" aria-label="{_esc(label)} per run">']
    for k in range(6):
        v = top * k / 5
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{CHART_WIDTH - PAD_RIGHT}" y1="{y(v):.1f}" '
                     f'y2="{y(v):.1f}"/>')
        parts.append(f'<text class="tick" x="{PAD_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g} s</text>')
    label_every = max(1, len(points) // 6)
    for i, p in enumerate(points):
        if i % label_every == 0 or i == len(points) - 1:
            parts.append(f'<text class="tick" x="{x(i):.1f}" y="{CHART_HEIGHT - PAD_BOTTOM + 16}" '
                         f'text-anchor="middle">{_esc(_date(p.started)[:10])}</text>')

    # The target may change between runs (a game day can override it), so the line steps.
    target_path: list[str] = []
    for i, p in enumerate(points):
        if p.target is None:
            continue
        left = x(i) - (step / 2 if i > 0 else 0)
        right = x(i) + (step / 2 if i < len(points) - 1 else 0)
        command = "M" if not target_path or points[i - 1].target is None else "L"
        target_path.append(f"{command}{left:.1f},{y(p.target):.1f} L{right:.1f},{y(p.target):.1f}")
    if target_path:
        parts.append(f'<path class="target" d="{" ".join(target_path)}"><title>SLA target</title></path>')
        last_target = next(p.target for p in reversed(points) if p.target is not None)
        parts.append(f'<text class="target-label" x="{CHART_WIDTH - PAD_RIGHT + 8}" y="{y(last_target) + 4:.1f}" '
                     f'text-anchor="start">SLA {last_target:g} s</text>')

    line = [f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points) if p.value is not None]
    if len(line) > 1:
        parts.append(f'<polyline class="series" points="{" ".join(line)}"/>')
    for i, p in enumerate(points):
        color = STATUS_COLORS.get(p.status, "#57606a")
        tip = f"{p.run_id} ({_date(p.started)} UTC): {_fmt(p.value)}, {p.status}"
        if p.target is not None:
            tip += f", target {p.target:g} s"
        if p.reasons:
            tip += "; REGRESSION: " + "; ".join(p.reasons)
        href = _href(p.report_path, out_dir)
        if href:
            parts.append(f'<a href="{_esc(href)}">')
        if p.value is None:
            # Never reached: a cross at the top edge of the plot.
            cx, cy = x(i), float(PAD_TOP + 6)
            parts.append(f'<path class="unreached" data-run="{_esc(p.run_id)}" d="M{cx - 5:.1f},{cy - 5:.1f} '
                         f'L{cx + 5:.1f},{cy + 5:.1f} M{cx - 5:.1f},{cy + 5:.1f} L{cx + 5:.1f},{cy - 5:.1f}" '
                         f'stroke="{color}"><title>{_esc(tip)}</title></path>')
        else:
            cx, cy = x(i), y(p.value)
            css = "point regression" if p.regression else "point"
            parts.append(f'<circle class="{css}" data-run="{_esc(p.run_id)}" cx="{cx:.1f}" cy="{cy:.1f}" r="5" '
                         f'fill="{color}"><title>{_esc(tip)}</title></circle>')
        if p.regression:
            cy = float(PAD_TOP + 6) if p.value is None else y(p.value)
            parts.append(f'<path class="regression-mark" d="M{x(i):.1f},{cy - 16:.1f} l-6,-10 h12 z">'
                         f'<title>{_esc(tip)}</title></path>')
        if href:
            parts.append("</a>")
    parts.append("</svg>")
    return "\n".join(parts)


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #1f2328; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 36px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 18px 0 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status-passed { color: #1a7f37; } .status-failed { color: #cf222e; }
.status-aborted { color: #8250df; } .status-error { color: #6e7781; }
tr.regression td { background: #fff1f0; }
.chart .grid { stroke: #eaeef2; } .chart .tick { font-size: 11px; fill: #57606a; }
.chart .target { stroke: #cf222e; stroke-width: 1.5; stroke-dasharray: 6 4; fill: none; }
.chart .target-label { font-size: 11px; fill: #cf222e; }
.chart .series { stroke: #0969da; stroke-width: 1.5; fill: none; }
.chart .point.regression { stroke: #cf222e; stroke-width: 3; }
.chart .regression-mark { fill: #cf222e; }
.chart .unreached { stroke-width: 2.5; fill: none; }
.legend span { margin-right: 14px; } .empty { color: #57606a; }
"""


def _run_rows(trend: ScenarioTrend, out_dir: Path) -> str:
    flagged = {p.run_id for _metric, p in trend.regressions}
    rows = []
    for run in reversed(trend.runs):
        cells = [f"<td>{_esc(_date(run.started))}</td>",
                 f'<td class="status-{_esc(run.status)}">{_esc(run.status)}</td>']
        for metric in METRICS:
            value = run.measurements.get(metric)
            sla = run.slas.get(metric)
            target = f" / {sla.target:g} s" if sla is not None else ""
            shown = "—" if value is None and run.status == "error" else _fmt(value)
            cells.append(f'<td class="num">{_esc(shown)}{_esc(target)}</td>')
        href = _href(run.report_path, out_dir)
        link = f'<a href="{_esc(href)}">{_esc(run.run_id)}</a>' if href else _esc(run.run_id)
        cells.append(f"<td>{link}</td>")
        css = ' class="regression"' if run.run_id in flagged else ""
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    head = "".join(f"<th>{_esc(METRIC_LABELS[m])} / target</th>" for m in METRICS)
    return (f"<table class=\"runs\"><tr><th>started (UTC)</th><th>status</th>{head}<th>run</th></tr>"
            + "".join(rows) + "</table>")


def _regression_rows(trends: list[ScenarioTrend], out_dir: Path) -> str:
    rows = []
    for trend in trends:
        for metric, p in trend.regressions:
            href = _href(p.report_path, out_dir)
            link = f'<a href="{_esc(href)}">{_esc(p.run_id)}</a>' if href else _esc(p.run_id)
            rows.append(f'<tr class="regression"><td>{_esc(trend.scenario)}</td><td>{_esc(_date(p.started))}</td>'
                        f"<td>{_esc(METRIC_LABELS[metric])}</td><td class=\"num\">{_esc(_fmt(p.value))}</td>"
                        f"<td>{_esc('; '.join(p.reasons))}</td><td>{link}</td></tr>")
    if not rows:
        return "<p>No regressions.</p>"
    return ("<table class=\"regressions\"><tr><th>scenario</th><th>started (UTC)</th><th>phase</th><th>time</th>"
            "<th>why</th><th>run</th></tr>" + "".join(rows) + "</table>")


def render_trends_html(trends: list[ScenarioTrend], out_dir: Path, *, title: str = "drillkit trends") -> str:
    """Return the trends page; report links are relative to ``out_dir``, where the page is written."""
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{_esc(title)}</h1>",
            f"<p>{sum(len(t.runs) for t in trends)} runs of {len(trends)} scenarios, generated {generated}. "
            f"A run is a regression for a phase when it is more than {(SLOWER_FACTOR - 1) * 100:.0f} % slower than "
            f"the median of the previous {MEDIAN_WINDOW} runs (once {MIN_PREVIOUS} exist), or when it misses the "
            "phase's SLA target. Each point links to its after-action report.</p>",
            '<p class="legend">' + "".join(f'<span style="color:{c}">● {s}</span>' for s, c in STATUS_COLORS.items())
            + '<span style="color:#cf222e">▼ regression</span><span style="color:#cf222e">- - SLA target</span>'
              "<span>✕ not reached</span></p>",
            "<h2>Regressions</h2>", _regression_rows(trends, out_dir)]
    if not trends:
        body.append("<p>The history has no runs yet. Record runs with drillkit run, drillkit gameday, or "
                    "drillkit history --import reports/.</p>")
    for trend in trends:
        body.append(f'<h2 id="{_esc(trend.scenario)}">{_esc(trend.scenario)}</h2>')
        for metric in METRICS:
            body.append(f"<h3>{_esc(METRIC_LABELS[metric])}</h3>")
            body.append(render_chart(metric, trend.series[metric], out_dir))
        body.append("<h3>Runs</h3>")
        body.append(_run_rows(trend, out_dir))
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_trends(out: str | Path, *, scenario: str | None = None, db: str | Path | None = None) -> list[ScenarioTrend]:
    """Write the trends page to ``out`` and return the trends it shows."""
    out_path = Path(out)
    trends = build_trends(scenario=scenario, db=db)
    title = f"drillkit trends: {scenario}" if scenario else "drillkit trends"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_trends_html(trends, out_path.parent.resolve(), title=title), encoding="utf-8")
    return trends
