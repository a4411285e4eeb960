"""The plan of a drill, as ``drillkit run --dry-run`` prints it: what would be cut, probed and run."""

from __future__ import annotations

import shlex

from ..lab.topology import Topology
from ..scenario.model import Scenario


def describe_plan(scenario: Scenario, topo: Topology) -> list[str]:
    """Return the lines of ``drillkit run --dry-run``: what would be cut, probed and run."""
    lines = [f"drill {scenario.name} on lab {topo.name} ({scenario.lab.topology})"]
    if scenario.description:
        lines.append(f"  {scenario.description}")
    lines.append("faults (injected in order, restored in reverse):")
    for f in scenario.faults:
        target = f.link or (f"{f.node} prefix {f.prefix}" if f.prefix else f.node)
        if f.kind == "toxiproxy":
            params = getattr(f, "params", {}) or {}
            target = f"{params.get('toxic')} on proxy {params.get('proxy')} at {params.get('server')}"
        elif f.kind in ("external", "manual"):
            target = f.inject
        extra = f" ends={','.join(f.ends)}" if f.kind == "link_down" else ""
        lines.append(f"  - {f.name}: {f.kind} {target}{extra}")
    lines.append("probes:")
    for p in scenario.probes:
        role = "guard" if p.name in scenario.guard_names else p.role
        what = p.target or p.url or p.command
        tol = f", tolerance {p.tolerance_s:g}s" if p.tolerance_s else ""
        lines.append(f"  - {p.name} [{role}]: {p.kind} {what} from {p.vantage}, every {p.interval_s:g}s, "
                     f"timeout {p.timeout_s:g}s, fail after {p.failure_threshold}, ok after {p.success_threshold}{tol}")
    lines.append(f"recovery steps (over OOB only, start {scenario.timing.steps_start}):")
    for st in scenario.steps:
        if st.kind == "jail":
            what = st.command or shlex.join([st.script or "", *st.args])
            lines.append(f"  - {st.name}: in the OOB jail: {what}")
        elif st.kind == "ssh":
            lines.append(f"  - {st.name}: ssh {st.user}@{st.node} (management address): {st.command}")
        elif st.kind == "python":
            lines.append(f"  - {st.name}: Python in the OOB jail: {st.command}")
        elif st.kind == "operator":
            lines.append(f"  - {st.name}: a person: {st.command}")
        elif st.kind == "console":
            sent = "; ".join("********" if c.hide else c.send for c in st.console_lines)
            lines.append(f"  - {st.name}: console of {st.node} over {st.transport}: {sent}")
        elif st.kind == "wait":
            lines.append(f"  - {st.name}: wait up to {st.timeout_s:g}s for {', '.join(st.probes)} healthy")
        else:
            lines.append(f"  - {st.name}: wait {st.duration_s:g}s")
    if scenario.hardening:
        lines.append("OOB hardening checks before the fault: " + ", ".join(scenario.hardening))
    lines.append("in-band guard: management ports on production interfaces are dropped and recorded "
                 "while faults are active")
    if scenario.sla:
        lines.append("SLA targets: " + ", ".join(f"{k} {v:g}s" for k, v in scenario.sla.items()))
    stop = []
    if scenario.stop.max_outage_s:
        stop.append(f"max outage {scenario.stop.max_outage_s:g}s")
    if scenario.guard_names:
        stop.append("guard probes " + ", ".join(sorted(scenario.guard_names)))
    lines.append("stop conditions: " + (", ".join(stop) if stop else "none"))
    lines.append("nothing was changed (dry run)")
    return lines
