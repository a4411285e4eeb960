"""Layout of the report's timeline: lanes, bars and markers in SVG user units.

The geometry is computed here, server-side, so that the template only draws it
and the page needs no script to show the timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..engine.analysis import Analysis, Window
from .formatting import format_seconds
from .oob_sections import describe_violation, operator_sessions, violation_instant


@dataclass(frozen=True)
class Segment:
    """A bar in the timeline, in SVG user units."""

    x: float
    width: float
    css: str
    title: str
    text: str = ""


@dataclass
class Lane:
    """One row of the timeline: a label on the left and bars on the time axis."""

    y: float
    height: float
    label: str
    tag: str = ""
    tag_css: str = ""
    title: str = ""
    css: str = ""
    segments: list[Segment] = field(default_factory=list)
    empty_text: str = ""


@dataclass(frozen=True)
class Marker:
    """A vertical line across all lanes at an instant, with an optional uncertainty band before it."""

    x: float
    label: str
    label_x: float
    label_y: float
    row: int
    anchor: str
    css: str
    title: str
    band_x: float = 0.0
    band_width: float = 0.0


@dataclass
class Timeline:
    """Geometry of the timeline SVG, computed here so that the template only draws it."""

    width: float
    height: float
    plot_left: float
    plot_right: float
    lanes_top: float
    lanes_bottom: float
    axis_y: float
    end_t: float
    ticks: list[tuple[float, str]] = field(default_factory=list)
    fault_bands: list[Segment] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)
    headings: list[tuple[float, str]] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)


SVG_WIDTH = 1200.0
LABEL_WIDTH = 250.0
RIGHT_PAD = 16.0
LANE_HEIGHT = 20.0
LANE_GAP = 6.0
HEADING_HEIGHT = 20.0
MARKER_ROW_HEIGHT = 14.0
MAX_MARKER_ROWS = 4
AXIS_HEIGHT = 40.0
# Rough width of one character of the 11-12 px sans-serif labels, to decide
# whether a label fits inside a bar or collides with another.
CHAR_WIDTH = 6.6
TAG_CHAR_WIDTH = 5.8
MIN_SEGMENT_WIDTH = 1.5
# Width of the tick that marks an instant inside a lane (an in-band attempt, a console prompt reached).
TICK_WIDTH = 3.0

_MARK_CSS = {"inject": "mark-inject", "detect": "mark-detect", "oob_access": "mark-oob", "recover": "mark-recover",
             "stop": "mark-stop", "error": "mark-stop"}


def nice_tick_step(span: float, target_ticks: int = 10) -> float:
    """Return a tick step of 1, 2 or 5 times a power of ten giving about ``target_ticks`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


class _Scale:
    def __init__(self, end_t: float) -> None:
        self.end_t = end_t
        self.left = LABEL_WIDTH
        self.right = SVG_WIDTH - RIGHT_PAD

    def x(self, t: float) -> float:
        t = min(max(t, 0.0), self.end_t)
        return round(self.left + t / self.end_t * (self.right - self.left), 2)

    def span(self, start: float, end: float | None) -> tuple[float, float]:
        x0 = self.x(start)
        x1 = self.x(self.end_t if end is None else end)
        return x0, max(round(x1 - x0, 2), MIN_SEGMENT_WIDTH)

    def tick(self, t: float) -> tuple[float, float]:
        """Return the x and width of a tick centred on ``t``, kept inside the plot."""
        x = min(max(self.x(t) - TICK_WIDTH / 2, self.left), self.right - TICK_WIDTH)
        return round(x, 2), TICK_WIDTH


def _timeline_end(analysis: Analysis) -> float:
    ends = [analysis.end_t]
    for windows in (analysis.phases, analysis.fault_windows):
        ends += [w.end for w in windows if w.end is not None]
    ends += [float(e["at"]) for e in analysis.events if e["type"] == "mark" and e.get("at") is not None]
    end = max(ends)
    # A journal with only run.start still gets a readable one-second axis.
    return end if end > 0 else 1.0


def _window_title(window: Window, what: str) -> str:
    end = "the end of the run" if window.end is None else format_seconds(window.end)
    text = f"{what} from {format_seconds(window.start)} to {end}"
    if window.duration is not None:
        text += f" ({format_seconds(window.duration)})"
    if window.detail:
        text += f": {window.detail}"
    return text


def _fits(text: str, width: float) -> bool:
    return len(text) * CHAR_WIDTH + 8 <= width


class _LaneStack:
    """Place lanes and headings top to bottom."""

    def __init__(self, top: float) -> None:
        self.y = top
        self.lanes: list[Lane] = []
        self.headings: list[tuple[float, str]] = []

    def heading(self, text: str) -> None:
        self.headings.append((self.y + HEADING_HEIGHT - 6, text))
        self.y += HEADING_HEIGHT

    def lane(self, label: str, **kwargs: Any) -> Lane:
        tag_width = len(kwargs.get("tag", "")) * TAG_CHAR_WIDTH
        max_chars = max(int((LABEL_WIDTH - 24 - tag_width) / CHAR_WIDTH), 4)
        if len(label) > max_chars:
            label = label[: max_chars - 1] + "\u2026"
        lane = Lane(y=self.y, height=LANE_HEIGHT, label=label, **kwargs)
        self.lanes.append(lane)
        self.y += LANE_HEIGHT + LANE_GAP
        return lane


def _fault_lane(stack: _LaneStack, scale: _Scale, analysis: Analysis) -> list[Segment]:
    lane = stack.lane("faults", css="lane-faults", empty_text="no fault injected")
    bands = []
    for window in analysis.fault_windows:
        x, width = scale.span(window.start, window.end)
        if window.end is None:
            restored = "not restored"
        elif window.ok:
            restored = "restored"
        else:
            restored = "restore failed"
        title = _window_title(window, f"fault {window.label} ({restored})")
        text = window.label if _fits(window.label, width) else ""
        css = "fault" if window.end is not None and window.ok else "fault fault-open"
        lane.segments.append(Segment(x, width, css, title, text))
        bands.append(Segment(x, width, "fault-band", title))
    return bands


def _phase_lane(stack: _LaneStack, scale: _Scale, analysis: Analysis) -> None:
    lane = stack.lane("phases", css="lane-phases", empty_text="no phase recorded")
    for window in analysis.phases:
        x, width = scale.span(window.start, window.end)
        css = f"phase phase-{window.label}" if window.label.replace("_", "").isalnum() else "phase"
        if window.ok is False:
            css += " phase-failed"
        title = f"phase {window.label}"
        if window.ok is not None:
            title += ", ok" if window.ok else ", failed"
        title = _window_title(window, title)
        lane.segments.append(Segment(x, width, css, title, window.label if _fits(window.label, width) else ""))


def _violation_lane(stack: _LaneStack, scale: _Scale, analysis: Analysis) -> None:
    """Draw one tick per in-band attempt, with its uncertainty as a band on both sides."""
    if not analysis.violations:
        return
    count = len(analysis.violations)
    lane = stack.lane("in-band attempts", tag="violation", tag_css="role role-violation",
                      title=f"{count} in-band access attempt{'s' if count != 1 else ''} recorded during the drill")
    for event in analysis.violations:
        at, uncertainty = violation_instant(event)
        title = describe_violation(event)
        if uncertainty > 0:
            x, width = scale.span(at - uncertainty, at + uncertainty)
            lane.segments.append(Segment(x, width, "violation-band", title))
        x, width = scale.tick(at)
        css = "violation-tick violation-open" if event.get("blocked") is False else "violation-tick"
        lane.segments.append(Segment(x, width, css, title))


def _probe_lanes(stack: _LaneStack, scale: _Scale, analysis: Analysis) -> None:
    probes = analysis.run.get("probes", [])
    if not probes:
        return
    stack.heading("Probes")
    for probe in probes:
        name = probe.get("name", "")
        role = str(probe.get("role", ""))
        title = (f"{name}: {probe.get('kind', '')} probe from {probe.get('vantage', '')} "
                 f"to {probe.get('target') or '?'}, every {probe.get('interval_s', 0):g} s")
        lane = stack.lane(name, tag=role, tag_css=f"role role-{role}" if role.isalpha() else "role",
                          title=title, empty_text="no samples")
        for window in analysis.probe_lanes.get(name, []):
            x, width = scale.span(window.start, window.end)
            state = "ok" if window.ok else "failing"
            lane.segments.append(Segment(x, width, "probe-ok" if window.ok else "probe-fail",
                                         _window_title(window, f"{name} {state}")))
        if name in analysis.stale_windows:
            _freshness_lanes(stack, scale, analysis, name)


def _freshness_lanes(stack: _LaneStack, scale: _Scale, analysis: Analysis, name: str) -> None:
    stale = stack.lane("\u21b3 stale data", tag="revalidate", tag_css="role role-stale", css="lane-sub",
                       title=f"{name}: data older than its tolerance, so outputs computed from it need revalidation",
                       empty_text="data never stale")
    for window in analysis.stale_windows[name]:
        x, width = scale.span(window.start, window.end)
        stale.segments.append(Segment(x, width, "stale" if window.end is not None else "stale stale-open",
                                      _window_title(window, f"{name}: stale data, outputs need revalidation")))
    if name not in analysis.silent_windows:
        return
    silent = stack.lane("\u21b3 live but stale", tag="revalidate", tag_css="role role-silent",
                        css="lane-sub",
                        title=(f"{name}: the service looked healthy to its liveness probes while its data was "
                               "stale, so nothing flagged the outputs it served; they need revalidation"),
                        empty_text="no silent window")
    for window in analysis.silent_windows[name]:
        x, width = scale.span(window.start, window.end)
        silent.segments.append(Segment(x, width, "silent",
                                       _window_title(window, f"{name}: liveness ok while data stale")))


def _step_lanes(stack: _LaneStack, scale: _Scale, analysis: Analysis) -> None:
    specs = {s["name"]: s for s in analysis.run.get("steps", [])}
    names = list(specs) + [n for n in analysis.step_lanes if n not in specs]
    if not names:
        return
    accesses: dict[str, list[dict[str, Any]]] = {}
    for event in analysis.events:
        if event["type"] == "oob.access":
            accesses.setdefault(str(event.get("step")), []).append(event)
    stack.heading("Recovery steps")
    for name in names:
        spec = specs.get(name, {})
        kind = str(spec.get("kind", ""))
        tag = f"{kind} \u00b7 OOB" if spec.get("oob") else kind
        lane = stack.lane(name, tag=tag, tag_css="role role-step", title=f"step {name} ({tag})",
                          empty_text="not run")
        for window in analysis.step_lanes.get(name, []):
            x, width = scale.span(window.start, window.end)
            state = "ok" if window.ok else "failed"
            lane.segments.append(Segment(x, width, "step-ok" if window.ok else "step-fail",
                                         _window_title(window, f"step {name} {state}")))
        for event in accesses.get(name, []):
            at = float(event.get("at", event["t"]))
            x, width = scale.tick(at)
            title = f"console of {event.get('node')} reached its prompt at {format_seconds(at)}"
            if event.get("since_inject") is not None:
                title += f", {format_seconds(float(event['since_inject']))} after inject"
            lane.segments.append(Segment(x, width, "access-tick", title))


def _operator_lanes(stack: _LaneStack, scale: _Scale, analysis: Analysis) -> None:
    """Draw one lane per node and operator with the interactive console sessions recorded in the journal."""
    sessions = operator_sessions(analysis)
    if not sessions:
        return
    stack.heading("Operator sessions")
    lanes: dict[tuple[str, str], Lane] = {}
    for session in sessions:
        key = (session.node, session.operator)
        if key not in lanes:
            lanes[key] = stack.lane(f"{session.node} console", tag=session.operator, tag_css="role role-operator",
                                    title=f"{session.operator} on the console of {session.node}")
        if session.start is None:
            continue
        x, width = scale.span(session.start, session.end)
        end = "the end of the run, with no end event" if session.end is None else format_seconds(session.end)
        title = f"{session.operator} on the console of {session.node} from {format_seconds(session.start)} to {end}"
        if session.exit is not None:
            title += f", exit {session.exit}"
        css = "operator" if session.ended else "operator operator-open"
        lanes[key].segments.append(Segment(x, width, css, title))


def _marker_events(analysis: Analysis) -> list[tuple[float, str, float, str]]:
    """Return (instant, name, uncertainty, note) for every marker the timeline draws."""
    found: list[tuple[float, str, float, str]] = []
    if analysis.inject_t is not None:
        found.append((analysis.inject_t, "inject", 0.0, "first fault's inject call started"))
    for event in analysis.events:
        if event["type"] == "mark" and event.get("at") is not None:
            found.append((float(event["at"]), str(event.get("name", "mark")),
                          float(event.get("uncertainty_s") or 0.0), str(event.get("note", ""))))
        elif event["type"] == "stop":
            found.append((float(event["t"]), "stop", 0.0, str(event.get("reason", ""))))
        elif event["type"] == "error":
            found.append((float(event["t"]), "error", 0.0, str(event.get("message", ""))))
    return sorted(found, key=lambda item: item[0])


def _place_markers(scale: _Scale, analysis: Analysis) -> list[Marker]:
    """Place marker labels in up to MAX_MARKER_ROWS rows so close instants do not overprint."""
    row_ends = [-math.inf] * MAX_MARKER_ROWS
    markers = []
    for at, name, uncertainty, note in _marker_events(analysis):
        x = scale.x(at)
        label = name
        width = len(label) * CHAR_WIDTH + 6
        right_aligned = x + width > SVG_WIDTH
        left_edge = x - width if right_aligned else x
        row = next((i for i, end in enumerate(row_ends) if end < left_edge), MAX_MARKER_ROWS - 1)
        row_ends[row] = left_edge + width
        band_x, band_width = 0.0, 0.0
        if uncertainty > 0:
            band_x = scale.x(at - uncertainty)
            band_width = round(x - band_x, 2)
        title = f"{name} at {format_seconds(at)}"
        if uncertainty > 0:
            title += f" (uncertainty {format_seconds(uncertainty)})"
        if note:
            title += f": {note}"
        markers.append(Marker(
            x=x, label=label, label_x=x - 3 if right_aligned else x + 3,
            label_y=(row + 1) * MARKER_ROW_HEIGHT - 3, row=row, anchor="end" if right_aligned else "start",
            css=_MARK_CSS.get(name, "mark-other"), title=title, band_x=band_x, band_width=band_width))
    return markers


def build_timeline(analysis: Analysis) -> Timeline:
    """Lay out the timeline: fault, phase and violation lanes, a lane per probe, step and operator, and markers.

    Coordinates are SVG user units in a viewBox ``SVG_WIDTH`` wide. The time axis
    runs from the start of the run to its last event.
    """
    end_t = _timeline_end(analysis)
    scale = _Scale(end_t)
    markers = _place_markers(scale, analysis)
    label_rows = max((m.row + 1 for m in markers), default=1)
    lanes_top = label_rows * MARKER_ROW_HEIGHT + 6
    stack = _LaneStack(lanes_top)

    fault_bands = _fault_lane(stack, scale, analysis)
    _phase_lane(stack, scale, analysis)
    _violation_lane(stack, scale, analysis)
    _probe_lanes(stack, scale, analysis)
    _step_lanes(stack, scale, analysis)
    _operator_lanes(stack, scale, analysis)
    lanes_bottom = stack.y

    step = nice_tick_step(end_t)
    ticks = []
    for i in range(int(end_t / step + 1e-9) + 1):
        t = round(i * step, 9)
        ticks.append((scale.x(t), f"{t:g}"))

    return Timeline(
        width=SVG_WIDTH, height=lanes_bottom + AXIS_HEIGHT, plot_left=scale.left, plot_right=scale.right,
        lanes_top=lanes_top, lanes_bottom=lanes_bottom, axis_y=lanes_bottom + 4, end_t=end_t, ticks=ticks,
        lanes=stack.lanes, headings=stack.headings, fault_bands=fault_bands, markers=markers)
