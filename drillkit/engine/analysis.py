"""Turn a run's journal into measurements, SLA verdicts and the overall verdict.

This is a pure function of the journal's events, so ``drillkit report`` re-renders
a run from its journal alone and gets the same verdict the run printed.

Measurements are seconds from the inject instant (the start of the first fault's
inject call):

- detect: the first detect probe crossing its failure threshold.
- oob_access: the end of the first successful OOB step.
- recover: the first sample of the healthy streak that held for the settle time,
  the latest over all detect probes. The real instant lies up to one probe interval
  earlier, which is reported as the uncertainty.
- outage: from inject to recover.
- stale_data: how long the workload's data was older than its tolerance, from the
  ages freshness probes read; the start and end follow from the age values
  themselves, so they do not depend on the probe interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR, EXIT_ABORTED = 0, 1, 2, 3


@dataclass(frozen=True)
class Measurement:
    """A measured duration in seconds with its uncertainty; ``value`` None if never reached."""

    name: str
    value: float | None
    uncertainty: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class SlaVerdict:
    """One SLA target against its measurement."""

    name: str
    target: float
    measured: float | None
    met: bool
    uncertainty: float = 0.0

    @property
    def margin(self) -> float | None:
        return None if self.measured is None else self.target - self.measured


@dataclass(frozen=True)
class Window:
    start: float
    end: float | None
    label: str = ""
    ok: bool | None = None
    detail: str = ""

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class Analysis:
    """Everything a report shows, derived from the journal."""

    run: dict[str, Any]
    events: list[dict[str, Any]]
    inject_t: float | None = None
    end_t: float = 0.0
    measurements: dict[str, Measurement] = field(default_factory=dict)
    slas: list[SlaVerdict] = field(default_factory=list)
    phases: list[Window] = field(default_factory=list)
    fault_windows: list[Window] = field(default_factory=list)
    probe_lanes: dict[str, list[Window]] = field(default_factory=dict)
    step_lanes: dict[str, list[Window]] = field(default_factory=dict)
    stale_windows: dict[str, list[Window]] = field(default_factory=dict)
    silent_windows: dict[str, list[Window]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    oob_access_per_node: dict[str, float] = field(default_factory=dict)
    status: str = "error"
    exit_code: int = EXIT_ERROR
    stop_reason: str | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASSED

    @property
    def missed_slas(self) -> list[SlaVerdict]:
        return [s for s in self.slas if not s.met]


def _lanes_from_samples(samples: list[dict[str, Any]], end_t: float) -> list[Window]:
    lanes: list[Window] = []
    for sample in samples:
        ok = bool(sample.get("ok"))
        t = float(sample["t"])
        if lanes and lanes[-1].ok == ok:
            continue
        if lanes:
            lanes[-1] = Window(lanes[-1].start, t, lanes[-1].label, lanes[-1].ok, lanes[-1].detail)
        lanes.append(Window(t, None, "ok" if ok else "fail", ok, str(sample.get("detail", ""))))
    if lanes:
        last = lanes[-1]
        lanes[-1] = Window(last.start, max(end_t, last.start), last.label, last.ok, last.detail)
    return lanes


def _stale_windows(samples: list[dict[str, Any]], tolerance: float) -> list[Window]:
    """Find when data was older than ``tolerance`` from the ages the probe read.

    A sample at time t reading age a means the data arrived at t - a, so it went
    stale at t - a + tolerance; the first fresh sample afterwards dates the arrival
    of new data at its own t - a.
    """
    windows: list[Window] = []
    open_start: float | None = None
    for sample in samples:
        t = float(sample["t"])
        age = sample.get("value")
        if age is None:
            if open_start is None and not sample.get("ok"):
                open_start = t  # unreadable: count as stale from here, without a better bound
            continue
        age = float(age)
        if age > tolerance:
            if open_start is None:
                open_start = t - age + tolerance
        elif open_start is not None:
            windows.append(Window(open_start, max(open_start, t - age), "stale"))
            open_start = None
    if open_start is not None:
        last_t = float(samples[-1]["t"]) if samples else open_start
        windows.append(Window(open_start, None, "stale", detail=f"still stale at {last_t:.2f} s"))
    return windows


def _intersect(a: list[Window], b: list[Window], end_t: float) -> list[Window]:
    out = []
    for wa in a:
        for wb in b:
            start = max(wa.start, wb.start)
            stop = min(wa.end if wa.end is not None else end_t, wb.end if wb.end is not None else end_t)
            if stop > start:
                out.append(Window(start, stop, "silent"))
    return out


def analyze(events: Iterable[dict[str, Any]]) -> Analysis:
    """Build the analysis of one run from its journal events."""
    events = list(events)
    run = next((e for e in events if e["type"] == "run.start"), {})
    result = Analysis(run=run, events=events)
    result.end_t = max((float(e.get("t", 0)) for e in events), default=0.0)
    probes = {p["name"]: p for p in run.get("probes", [])}
    steps = {s["name"]: s for s in run.get("steps", [])}

    # Phases.
    open_phases: dict[str, float] = {}
    for e in events:
        if e["type"] == "phase":
            if e["state"] == "start":
                open_phases[e["phase"]] = e["t"]
            else:
                start = open_phases.pop(e["phase"], e["t"])
                result.phases.append(Window(start, e["t"], e["phase"], e.get("ok")))
    for name, start in open_phases.items():
        result.phases.append(Window(start, None, name, None))
    result.phases.sort(key=lambda w: w.start)

    # Faults.
    injected: dict[str, float] = {}
    for e in events:
        if e["type"] == "fault.inject":
            start = float(e.get("t_start", e["t"]))
            if result.inject_t is None:
                result.inject_t = start
            if e.get("ok"):
                injected[e["fault"]] = start
            else:
                result.failures.append(f"fault {e['fault']} failed to inject: {e.get('error')}")
        elif e["type"] == "fault.restore":
            start = injected.pop(e["fault"], None)
            if start is not None:
                result.fault_windows.append(Window(start, e["t"], e["fault"], e.get("ok")))
            if not e.get("ok"):
                result.failures.append(f"fault {e['fault']} failed to restore: {e.get('error')}")
    for name, start in injected.items():
        result.fault_windows.append(Window(start, None, name, None, "not restored"))

    # Probe and step lanes.
    samples: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e["type"] == "probe.sample":
            samples.setdefault(e["probe"], []).append(e)
    for name in probes:
        result.probe_lanes[name] = _lanes_from_samples(samples.get(name, []), result.end_t)
    started_steps: dict[str, float] = {}
    for e in events:
        if e["type"] == "step.start":
            started_steps[e["step"]] = e["t"]
        elif e["type"] == "step.end":
            start = started_steps.pop(e["step"], e["t"])
            result.step_lanes.setdefault(e["step"], []).append(
                Window(start, e["t"], e["step"], e.get("ok"), e.get("error") or ""))
            if not e.get("ok") and not steps.get(e["step"], {}).get("continue_on_error"):
                result.failures.append(f"step {e['step']} failed: {e.get('error') or 'exit ' + str(e.get('exit'))}")
        elif e["type"] == "verify" and not e.get("ok"):
            result.failures.append(f"verify check {e.get('check')} failed: {e.get('detail')}")
        elif e["type"] == "violation":
            result.violations.append(e)
            result.failures.append(f"violation: {e.get('detail') or e.get('destination')}")
        elif e["type"] == "finding":
            result.findings.append(e)
            if not e.get("ok"):
                result.failures.append(f"hardening check {e.get('check')} failed: {e.get('detail')}")
        elif e["type"] == "oob.access" and e.get("since_inject") is not None:
            result.oob_access_per_node.setdefault(e["node"], round(float(e["since_inject"]), 6))
        elif e["type"] == "stop":
            result.stop_reason = e.get("reason")
        elif e["type"] == "error":
            result.error = e.get("message")
        elif e["type"] == "baseline" and not e.get("ok"):
            result.error = "steady state failed before inject: " + "; ".join(e.get("failures", []))

    # Freshness.
    for name, probe in probes.items():
        if probe.get("kind") != "freshness" or probe.get("tolerance_s") is None:
            continue
        result.stale_windows[name] = _stale_windows(samples.get(name, []), float(probe["tolerance_s"]))
        peers = [p for p, spec in probes.items()
                 if spec.get("vantage") == probe.get("vantage") and spec.get("kind") != "freshness"]
        healthy = [w for p in peers for w in result.probe_lanes.get(p, []) if w.ok]
        if peers:
            result.silent_windows[name] = _intersect(result.stale_windows[name], healthy, result.end_t)

    _measure(result, events, probes)
    _verdict(result)
    return result


def _measure(result: Analysis, events: list[dict[str, Any]], probes: dict[str, dict[str, Any]]) -> None:
    inject = result.inject_t
    marks = {e["name"]: e for e in events if e["type"] == "mark"}

    def from_mark(name: str, note: str) -> Measurement:
        mark = marks.get(name)
        if mark is None or inject is None:
            return Measurement(name, None, 0.0, f"{name} not reached")
        return Measurement(name, round(float(mark["at"]) - inject, 6), float(mark.get("uncertainty_s", 0.0)),
                           mark.get("note", note))

    result.measurements["detect"] = from_mark("detect", "first detect probe past its failure threshold")
    result.measurements["oob_access"] = from_mark("oob_access", "first successful OOB step")
    if result.measurements["oob_access"].value is None and inject is not None:
        sessions = [e for e in events if e["type"] == "operator.session" and e.get("state") == "start"
                    and float(e["t"]) >= inject]
        if sessions:
            first = sessions[0]
            result.measurements["oob_access"] = Measurement(
                "oob_access", round(float(first["t"]) - inject, 6), 0.0,
                f"operator console session to {first.get('node')} opened")
    recover = from_mark("recover", "all detect probes healthy, held for the settle time")
    result.measurements["recover"] = recover
    result.measurements["outage"] = Measurement("outage", recover.value, recover.uncertainty,
                                                "from inject until recovered")
    if "operator_reported" in marks:
        result.measurements["operator_reported"] = from_mark(
            "operator_reported", "when the operator reported the recovery (probes measure the real one)")
    stale_total = None
    open_ended = False
    for windows in result.stale_windows.values():
        for w in windows:
            if inject is not None and (w.end is None or w.end >= inject):
                if w.end is None:
                    open_ended = True
                    continue
                stale_total = max(stale_total or 0.0, w.end - w.start)
    if result.stale_windows:
        if open_ended:
            result.measurements["stale_data"] = Measurement("stale_data", None, 0.0, "data still stale at the end")
        else:
            result.measurements["stale_data"] = Measurement("stale_data", round(stale_total or 0.0, 6), 0.0,
                                                            "longest window with data older than its tolerance")

    for name, target in (result.run.get("sla") or {}).items():
        m = result.measurements.get(name)
        measured = m.value if m else None
        met = measured is not None and measured <= float(target)
        result.slas.append(SlaVerdict(name, float(target), measured, met, m.uncertainty if m else 0.0))


def _verdict(result: Analysis) -> None:
    if result.error is not None or result.inject_t is None:
        result.status, result.exit_code = "error", EXIT_ERROR
        if result.error is None:
            result.error = "no fault was injected"
        if result.stop_reason and result.inject_t is not None:
            result.status, result.exit_code = "aborted", EXIT_ABORTED
        return
    if result.stop_reason:
        result.status, result.exit_code = "aborted", EXIT_ABORTED
        return
    if result.missed_slas or result.failures:
        result.status, result.exit_code = "failed", EXIT_FAILED
        return
    result.status, result.exit_code = "passed", EXIT_PASSED
