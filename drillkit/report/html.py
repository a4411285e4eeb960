"""The self-contained HTML after-action report.

The page is rendered with Jinja2 from ``templates/report.html.j2``. Everything it
needs is inline: the CSS, the timeline (an SVG laid out server-side in ``timeline.py``) and one
small script that filters the event log. A Content-Security-Policy meta tag
blocks every network fetch, so the report opens offline and from a mail
attachment without reaching out anywhere.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import logging
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..engine.analysis import Analysis
from . import oob_sections
from .formatting import format_seconds, format_signed, summary_fields
from .timeline import LABEL_WIDTH, RIGHT_PAD, SVG_WIDTH, Timeline, build_timeline, nice_tick_step

__all__ = ["LABEL_WIDTH", "RIGHT_PAD", "SVG_WIDTH", "Timeline", "build_timeline", "format_seconds",
           "nice_tick_step", "render_html", "write_html"]

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
TEMPLATE_NAME = "report.html.j2"

STATUS_LABELS = {"passed": "PASSED", "failed": "FAILED", "aborted": "ABORTED", "error": "ERROR"}

SLA_DESCRIPTIONS = {
    "detect": "from inject until the first detect probe crossed its failure threshold",
    "oob_access": "from inject until the first recovery step over the out-of-band path succeeded",
    "recover": "from inject until every detect probe was healthy and stayed healthy for the settle time",
    "outage": "from inject until recovered",
    "stale_data": "longest time the workload's data was older than its tolerance",
}
MEASUREMENT_ORDER = ("detect", "oob_access", "recover", "outage", "stale_data")

# Fields every journal line has, which the event log shows in their own columns.
_ENVELOPE_FIELDS = frozenset({"seq", "type", "t", "mono_ns", "wall"})
# Event types whose rows the log highlights because they change the verdict. A finding
# row is highlighted too when its check failed.
_ALERT_TYPES = frozenset({"error", "stop", "violation"})

# The page's only script. It is kept here, not in the template, so that its
# SHA-256 can go into the Content-Security-Policy and no other script can run.
# It records script errors and sets data-rendered on <body> so a headless
# browser test can tell that the page loaded cleanly.
_PAGE_SCRIPT = """
(function () {
  "use strict";
  var errors = [];
  function record(message) {
    errors.push(String(message));
    if (document.body) { document.body.dataset.errors = errors.join("\\n"); }
  }
  window.addEventListener("error", function (event) { record(event.message || "script error"); });
  window.addEventListener("unhandledrejection", function (event) { record("unhandled rejection: " + event.reason); });

  function setupEventLog() {
    var log = document.getElementById("event-log");
    if (!log) { return; }
    var search = document.getElementById("log-search");
    var count = document.getElementById("log-count");
    var rows = log.querySelectorAll("tbody tr");
    function update() {
      var needle = search ? search.value.trim().toLowerCase() : "";
      var shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i];
        var matches = !needle || row.textContent.toLowerCase().indexOf(needle) !== -1;
        row.classList.toggle("no-match", !matches);
        if (row.getClientRects().length > 0) { shown++; }
      }
      if (count) { count.textContent = "showing " + shown + " of " + rows.length + " events"; }
    }
    log.addEventListener("change", update);
    if (search) { search.addEventListener("input", update); }
    update();
  }

  function setupPrinting() {
    // Closed <details> do not print, so open them all for the printout.
    var opened = [];
    window.addEventListener("beforeprint", function () {
      var all = document.querySelectorAll("details:not([open])");
      for (var i = 0; i < all.length; i++) { all[i].open = true; opened.push(all[i]); }
    });
    window.addEventListener("afterprint", function () {
      while (opened.length) { opened.pop().open = false; }
    });
  }

  window.addEventListener("load", function () {
    try {
      setupEventLog();
      setupPrinting();
    } catch (err) {
      record(err && err.message ? err.message : err);
    }
    document.body.dataset.errors = errors.join("\\n");
    document.body.dataset.rendered = "yes";
  });
})();
"""


# -- formatting ----------------------------------------------------------------


def _format_wall(wall: str | None) -> str:
    if not wall:
        return "unknown"
    try:
        stamp = _dt.datetime.fromisoformat(wall)
    except ValueError:
        return wall
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(_dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


# -- page sections ----------------------------------------------------------------


def _verdict(analysis: Analysis) -> dict[str, Any]:
    lines: list[str] = []
    if analysis.error:
        lines.append(f"Error: {analysis.error}")
    if analysis.stop_reason:
        lines.append(f"Stopped by a stop condition: {analysis.stop_reason}")
    missed = analysis.missed_slas
    if missed:
        lines.append("Missed SLA: " + ", ".join(s.name for s in missed))
    if analysis.violations:
        count = len(analysis.violations)
        lines.append(f"{count} in-band access attempt{'s' if count != 1 else ''} during the drill, "
                     "listed under Violations")
    hardening = oob_sections.hardening_summary(analysis)
    if hardening["failed"]:
        lines.append(f"{hardening['failed']} of {hardening['total']} OOB hardening checks failed "
                     f"({', '.join(hardening['failed_checks'])}), listed under Hardening findings")
    if analysis.failures:
        count = len(analysis.failures)
        lines.append(f"{count} failure{'s' if count != 1 else ''}, listed under Failures")
    if analysis.status == "passed" and analysis.slas:
        lines.append(f"All {len(analysis.slas)} SLA targets met, with no failures.")
    elif analysis.status == "passed":
        lines.append("No SLA targets set, and no failures.")
    return {
        "status": analysis.status,
        "label": STATUS_LABELS.get(analysis.status, analysis.status.upper()),
        "exit_code": analysis.exit_code,
        "lines": lines,
    }


def _sla_rows(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for sla in analysis.slas:
        measurement = analysis.measurements.get(sla.name)
        margin = sla.margin
        rows.append({
            "name": sla.name,
            "description": SLA_DESCRIPTIONS.get(sla.name, ""),
            "measured": None if sla.measured is None else format_seconds(sla.measured),
            "uncertainty": format_seconds(sla.uncertainty) if sla.uncertainty else "",
            "target": f"{sla.target:g} s",
            "margin": None if margin is None else format_signed(margin),
            "met": sla.met,
            # A margin smaller than the uncertainty could flip the verdict on a rerun.
            "close_call": margin is not None and sla.uncertainty > 0 and abs(margin) <= sla.uncertainty,
            "note": measurement.note if measurement else "",
        })
    return rows


def _untargeted_measurements(analysis: Analysis) -> list[dict[str, Any]]:
    targeted = {s.name for s in analysis.slas}
    names = [n for n in MEASUREMENT_ORDER if n in analysis.measurements]
    names += [n for n in analysis.measurements if n not in MEASUREMENT_ORDER]
    rows = []
    for name in names:
        if name in targeted:
            continue
        measurement = analysis.measurements[name]
        rows.append({
            "name": name,
            "description": SLA_DESCRIPTIONS.get(name, ""),
            "measured": None if measurement.value is None else format_seconds(measurement.value),
            "uncertainty": format_seconds(measurement.uncertainty) if measurement.uncertainty else "",
            "note": measurement.note,
        })
    return rows


def _phase_rows(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for phase in analysis.phases:
        if phase.end is None:
            result = "no end event"
        elif phase.ok is None:
            result = "\u2014"
        else:
            result = "ok" if phase.ok else "failed"
        rows.append({"name": phase.label, "start": format_seconds(phase.start), "end": format_seconds(phase.end),
                     "duration": format_seconds(phase.duration), "result": result, "ok": phase.ok})
    return rows


def _fault_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """Build one row per fault from run.start and its inject and restore events."""
    specs = {f["name"]: f for f in analysis.run.get("faults", [])}
    injects: dict[str, dict[str, Any]] = {}
    restores: dict[str, dict[str, Any]] = {}
    for event in analysis.events:
        if event["type"] == "fault.inject":
            injects.setdefault(event["fault"], event)
            specs.setdefault(event["fault"], {"name": event["fault"], "kind": event.get("kind", "")})
        elif event["type"] == "fault.restore":
            restores[event["fault"]] = event
            specs.setdefault(event["fault"], {"name": event["fault"], "kind": ""})

    rows = []
    for name, spec in specs.items():
        inject = injects.get(name)
        restore = restores.get(name)
        injected_at = float(inject.get("t_start", inject["t"])) if inject else None
        restored_at = float(restore["t"]) if restore else None
        if inject is None:
            inject_state = "not injected"
        elif inject.get("ok"):
            inject_state = "ok"
        else:
            inject_state = f"failed: {inject.get('error')}"
        if restore is None:
            restore_state = "not restored" if inject is not None else "\u2014"
        else:
            restore_state = "ok" if restore.get("ok") else f"failed: {restore.get('error')}"
        duration = None
        if injected_at is not None and restored_at is not None:
            duration = restored_at - injected_at
        rows.append({
            "name": name,
            "kind": spec.get("kind", ""),
            "description": spec.get("description") or (inject or {}).get("description", ""),
            "injected": format_seconds(injected_at),
            "inject_state": inject_state,
            "inject_ok": bool(inject and inject.get("ok")),
            "restored": format_seconds(restored_at),
            "restore_state": restore_state,
            "restore_ok": bool(restore and restore.get("ok")),
            # A fault whose inject was attempted has changed the lab until a restore succeeds.
            "left_in_lab": inject is not None and not (restore and restore.get("ok")),
            "duration": format_seconds(duration),
        })
    return rows


def _verify_rows(analysis: Analysis) -> list[dict[str, Any]]:
    return [{"check": e.get("check", ""), "ok": bool(e.get("ok")), "detail": e.get("detail", ""),
             "t": format_seconds(e.get("t"))}
            for e in analysis.events if e["type"] == "verify"]


def _step_transcripts(analysis: Analysis) -> tuple[list[dict[str, Any]], list[str]]:
    """Pair step.start with step.end events, and list the scenario's steps that never started."""
    specs = {s["name"]: s for s in analysis.run.get("steps", [])}
    notes: dict[str, list[str]] = {}
    accesses: dict[str, list[str]] = {}
    for event in analysis.events:
        if event["type"] == "console.note":
            notes.setdefault(str(event.get("step")), []).append(str(event.get("note") or ""))
        elif event["type"] == "oob.access":
            accesses.setdefault(str(event.get("step")), []).append(_access_text(event))

    started: dict[str, dict[str, Any]] = {}
    transcripts = []
    for event in analysis.events:
        if event["type"] == "step.start":
            started[event["step"]] = event
        elif event["type"] == "step.end":
            start = started.pop(event["step"], None)
            spec = specs.get(event["step"], {})
            begin = float(start["t"]) if start else float(event["t"])
            output = event.get("output") or ""
            transcripts.append({
                "name": event["step"],
                "kind": event.get("kind") or spec.get("kind", ""),
                "via": (start or {}).get("via", ""),
                "oob": bool(spec.get("oob")),
                "continue_on_error": bool(spec.get("continue_on_error")),
                "ok": bool(event.get("ok")),
                "exit": event.get("exit"),
                "error": event.get("error") or "",
                "output": output,
                "start": format_seconds(begin),
                "duration": format_seconds(float(event["t"]) - begin),
                "notes": notes.get(event["step"], []),
                "accesses": accesses.get(event["step"], []),
            })
    for name, event in started.items():
        transcripts.append({
            "name": name, "kind": event.get("kind", ""), "via": event.get("via", ""),
            "oob": bool(specs.get(name, {}).get("oob")), "continue_on_error": False, "ok": False, "exit": None,
            "error": "no step.end event, so the run ended or was killed while this step was running", "output": "",
            "start": format_seconds(event.get("t")), "duration": "\u2014",
            "notes": notes.get(name, []), "accesses": accesses.get(name, []),
        })
    ran = {t["name"] for t in transcripts}
    not_run = [name for name in specs if name not in ran]
    return transcripts, not_run


def _access_text(event: dict[str, Any]) -> str:
    at = event.get("at", event.get("t"))
    text = f"reached the console prompt of {event.get('node')} at {format_seconds(None if at is None else float(at))}"
    if event.get("since_inject") is not None:
        text += f", {format_seconds(float(event['since_inject']))} after inject"
    return text


def _probe_rows(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for probe in analysis.run.get("probes", []):
        tolerance = probe.get("tolerance_s")
        rows.append({
            "name": probe.get("name", ""), "kind": probe.get("kind", ""), "role": probe.get("role", ""),
            "vantage": probe.get("vantage", ""), "target": probe.get("target") or "",
            "interval": f"{probe.get('interval_s', 0):g} s", "timeout": f"{probe.get('timeout_s', 0):g} s",
            "thresholds": f"fail after {probe.get('failure_threshold')}, ok after {probe.get('success_threshold')}",
            "tolerance": "" if tolerance is None else f"{tolerance:g} s",
        })
    return rows


def _settings(run: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the scenario's timing and stop conditions as (name, formatted value) pairs."""
    rows = []
    for key, value in {**(run.get("timing") or {}), **(run.get("stop_conditions") or {})}.items():
        if value is None or value == []:
            text = "none"
        elif isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key.endswith("_s"):
            text = f"{value:g} s"
        else:
            text = str(value)
        rows.append((key, text))
    return rows


def _event_summary(event: dict[str, Any]) -> list[tuple[str, str]]:
    kind = event["type"]
    if kind == "run.start":
        scenario = event.get("scenario") or {}
        lab = event.get("lab") or {}
        return [("run_id", str(event.get("run_id", ""))), ("scenario", str(scenario.get("name", ""))),
                ("lab", str(lab.get("name", "")))]
    fields = {k: v for k, v in event.items() if k not in _ENVELOPE_FIELDS}
    if kind == "step.end" and fields.get("output"):
        lines = str(fields["output"]).splitlines()
        fields["output"] = f"{len(lines)} line{'s' if len(lines) != 1 else ''}, shown under Step transcripts"
    if kind == "operator.session" and fields.get("transcript"):
        lines = str(fields["transcript"]).splitlines()
        fields["transcript"] = f"{len(lines)} line{'s' if len(lines) != 1 else ''}, shown under Operator sessions"
    return summary_fields(fields)


def _event_log(analysis: Analysis) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Build the event log rows and one filter entry per event type, in order of first use."""
    type_index: dict[str, int] = {}
    counts: dict[str, int] = {}
    rows = []
    for event in analysis.events:
        kind = str(event.get("type", ""))
        index = type_index.setdefault(kind, len(type_index))
        counts[kind] = counts.get(kind, 0) + 1
        rows.append({
            "seq": event.get("seq", ""),
            "t": f"{float(event.get('t', 0.0)):.3f}",
            "wall": str(event.get("wall", "")),
            "type": kind,
            "type_index": index,
            "alert": kind in _ALERT_TYPES or (kind == "finding" and not event.get("ok")),
            "fields": _event_summary(event),
        })
    # probe.sample rows start hidden because a run writes one per probe interval.
    types = [{"name": kind, "index": index, "count": counts[kind], "shown": kind != "probe.sample"}
             for kind, index in type_index.items()]
    return rows, types


# -- rendering ----------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("drillkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = format_seconds
    return env


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render_html(analysis: Analysis) -> str:
    """Render the after-action report of one run as a complete HTML document."""
    run = analysis.run
    scenario = run.get("scenario") or {}
    lab = run.get("lab") or {}
    transcripts, steps_not_run = _step_transcripts(analysis)
    events, event_types = _event_log(analysis)
    context = {
        "scenario": {
            "name": scenario.get("name") or "unknown scenario",
            "description": (scenario.get("description") or "").strip(),
            "path": scenario.get("path") or "",
            "tags": scenario.get("tags") or [],
        },
        "lab": {"name": lab.get("name") or "unknown", "backend": lab.get("backend") or "",
                "topology": lab.get("topology") or ""},
        "run_id": run.get("run_id") or "unknown",
        "started": _format_wall(run.get("wall")),
        "duration": format_seconds(analysis.end_t),
        "finished": any(e["type"] == "run.end" for e in analysis.events),
        "has_run_start": bool(run),
        "verdict": _verdict(analysis),
        "sla_rows": _sla_rows(analysis),
        "other_measurements": _untargeted_measurements(analysis),
        "timeline": build_timeline(analysis),
        "phases": _phase_rows(analysis),
        "faults": _fault_rows(analysis),
        "failures": analysis.failures,
        "violations": oob_sections.violation_rows(analysis),
        "guards": oob_sections.guard_descriptions(analysis),
        "findings": oob_sections.finding_rows(analysis),
        "hardening": oob_sections.hardening_summary(analysis),
        "oob_access": oob_sections.oob_access_rows(analysis),
        "console_notes": oob_sections.console_notes(analysis),
        "operator_sessions": oob_sections.operator_session_rows(analysis),
        "verify": _verify_rows(analysis),
        "transcripts": transcripts,
        "steps_not_run": steps_not_run,
        "probes": _probe_rows(analysis),
        "settings": _settings(run),
        "previous_runs": _previous_runs(scenario.get("name"), run.get("run_id")),
        "events": events,
        "event_types": event_types,
        # Markup keeps the script byte-for-byte, so it matches the hash in the policy.
        "script": Markup(_PAGE_SCRIPT),
        "script_hash": _script_hash(_PAGE_SCRIPT),
    }
    return _environment().get_template(TEMPLATE_NAME).render(context)


def _previous_runs(scenario: str | None, run_id: str | None) -> list[dict[str, str]]:
    """Return earlier runs of the scenario from the run history, newest first (empty without history)."""
    if not scenario:
        return []
    try:
        from ..gameday.history import previous_runs

        runs = previous_runs(scenario, before=run_id, limit=10)
    except Exception as exc:  # a missing or unreadable history must not stop the report
        log.warning("report: previous runs of %s not available: %s", scenario, exc)
        return []
    return [{"run_id": r.run_id, "started": str(r.started), "status": r.status,
             "report": Path(r.report_path).resolve().as_uri() if r.report_path else ""} for r in runs
            if r.run_id != run_id]


def write_html(analysis: Analysis, run_dir: Path) -> Path:
    """Write ``report.html`` for one run into ``run_dir`` and return its path."""
    path = Path(run_dir) / REPORT_NAME
    path.write_text(render_html(analysis), encoding="utf-8")
    log.debug("wrote HTML report %s (%d events)", path, len(analysis.events))
    return path
