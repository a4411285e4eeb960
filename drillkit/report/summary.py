"""``summary.json`` and ``junit.xml`` from a run's analysis."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..engine.analysis import Analysis


def summary(analysis: Analysis, run_dir: Path) -> dict[str, Any]:
    """Return the machine-readable summary of a run."""
    run = analysis.run
    return {
        "run_id": run.get("run_id"),
        "scenario": run.get("scenario", {}).get("name"),
        "scenario_file": run.get("scenario", {}).get("path"),
        "lab": run.get("lab", {}).get("name"),
        "started": run.get("wall"),
        "status": analysis.status,
        "exit_code": analysis.exit_code,
        "passed": analysis.passed,
        "stop_reason": analysis.stop_reason,
        "error": analysis.error,
        "measurements": {k: asdict(v) for k, v in analysis.measurements.items()},
        "sla": [asdict(s) for s in analysis.slas],
        "missed_sla": [s.name for s in analysis.missed_slas],
        "failures": analysis.failures,
        "violations": analysis.violations,
        "findings": analysis.findings,
        "oob_access_per_node": analysis.oob_access_per_node,
        "phases": [{"phase": w.label, "start": w.start, "end": w.end, "ok": w.ok} for w in analysis.phases],
        "faults": [{"fault": w.label, "injected": w.start, "restored": w.end, "restore_ok": w.ok}
                   for w in analysis.fault_windows],
        "stale_windows": {k: [{"start": w.start, "end": w.end} for w in v] for k, v in analysis.stale_windows.items()},
        "silent_windows": {k: [{"start": w.start, "end": w.end} for w in v]
                           for k, v in analysis.silent_windows.items()},
        "run_dir": str(run_dir),
        "report": str(run_dir / "report.html"),
    }


def write_summary(analysis: Analysis, run_dir: Path) -> Path:
    path = run_dir / "summary.json"
    path.write_text(json.dumps(summary(analysis, run_dir), indent=2) + "\n", encoding="utf-8")
    return path


def write_junit(analysis: Analysis, run_dir: Path) -> Path:
    """Write one test suite per run, one test case per SLA plus one for the drill's checks."""
    name = analysis.run.get("scenario", {}).get("name", "drill")
    duration = analysis.end_t
    cases: list[ET.Element] = []

    def case(case_name: str, failure: str | None = None, error: str | None = None, skipped: str | None = None,
             seconds: float = 0.0) -> None:
        el = ET.Element("testcase", classname=f"drillkit.{name}", name=case_name, time=f"{seconds:.3f}")
        if failure:
            ET.SubElement(el, "failure", message=failure).text = failure
        if error:
            ET.SubElement(el, "error", message=error).text = error
        if skipped:
            ET.SubElement(el, "skipped", message=skipped)
        cases.append(el)

    if analysis.status == "error":
        case("drill", error=analysis.error or "the drill could not run")
    elif analysis.status == "aborted":
        case("drill", failure=f"aborted by a stop condition: {analysis.stop_reason}")
    else:
        case("drill", failure="; ".join(analysis.failures) or None)
    for sla in analysis.slas:
        measured = "not reached" if sla.measured is None else f"{sla.measured:.3f} s"
        msg = None if sla.met else f"SLA {sla.name} missed: {measured}, target {sla.target:g} s"
        case(f"sla.{sla.name}", failure=msg, seconds=sla.measured or 0.0)

    suite = ET.Element("testsuite", name=f"drillkit.{name}", tests=str(len(cases)),
                       failures=str(sum(1 for c in cases if c.find("failure") is not None)),
                       errors=str(sum(1 for c in cases if c.find("error") is not None)),
                       skipped="0", time=f"{duration:.3f}", timestamp=str(analysis.run.get("wall", "")))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="report", value=str(run_dir / "report.html"))
    ET.SubElement(props, "property", name="status", value=analysis.status)
    for key, m in analysis.measurements.items():
        ET.SubElement(props, "property", name=f"measured.{key}", value="" if m.value is None else f"{m.value:.6f}")
    suite.extend(cases)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    path = run_dir / "junit.xml"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
