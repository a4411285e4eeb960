"""The audit report as a terminal table and as JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .analysis import AuditReport, Failure
from .mgmt import Connection, MgmtAccess

log = logging.getLogger(__name__)

#: Nodes listed in the terminal's node section before the rest are only counted.
MAX_TERMINAL_NODES = 200


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Format rows as left-aligned columns, two spaces apart."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return lines


def _failure_text(report: AuditReport, failure: Failure) -> str:
    return " + ".join(f"{report.elements[name].kind} {name}" for name in failure.elements)


def _mgmt_text(failure: Failure) -> str:
    if not failure.management:
        return "no managed node touched"
    return "; ".join(access.describe() for access in failure.management)


def _connection_text(connection: Connection) -> str:
    if connection.independent:
        return f"{connection.way} OOB"
    fails = f", fails with {', '.join(connection.fails_with)}" if connection.fails_with else ""
    return f"{connection.way} SHARED ({connection.via}{fails})"


def render_text(report: AuditReport) -> str:
    """Return the terminal report: management connections, workload findings, node findings, verdict."""
    lines = [f"audit of lab {report.lab} ({report.topology}), depth {report.depth}, {report.duration_s:.3f} s",
             f"reference node: {report.reference} ({report.reference_reason}); "
             f"management from: {report.managed_from}", ""]

    lines.append("Management connections")
    rows = []
    for node in report.nodes:
        if not node.connections:
            verdict = "NO MANAGEMENT"
        elif all(c.independent for c in node.connections):
            verdict = "independent"
        elif node.independent:
            verdict = "PARTLY SHARED (an OOB way remains)"
        else:
            verdict = "SHARED FATE (no OOB way)"
        vantage = node.connections[0].vantage if node.connections else "-"
        rows.append([node.node, vantage, "; ".join(_connection_text(c) for c in node.connections) or "none",
                     verdict])
    lines += table(["node", "from", "connections", "verdict"], rows)
    lines.append("")

    lines.append("Workloads: failures that cut a dependency off")
    rows = []
    for result in report.workloads:
        wl = result.workload
        for dep in result.dependencies:
            needs = f"{dep.dependency}"
            if not dep.reachable:
                rows.append([wl.name, wl.node, needs, "UNREACHABLE before any failure", "-"])
                continue
            for failure in dep.single + dep.pairs:
                rows.append([wl.name, wl.node, needs, _failure_text(report, failure), _mgmt_text(failure)])
            if report.depth == 2 and dep.pair_count > len(dep.pairs):
                rows.append([wl.name, wl.node, needs, f"... {dep.pair_count - len(dep.pairs)} more pairs "
                             f"({dep.pair_count} in all)", "see --json"])
        if not result.dependencies:
            rows.append([wl.name, wl.node, "-", "no dependencies", "-"])
    lines += table(["workload", "runs on", "needs", "failure", "management of the touched nodes"], rows) \
        if rows else ["  no workloads: add drillkit.workload labels or an --audit-file"]
    lines.append("")

    lines.append(f"Nodes: failures that cut a node off from {report.reference}")
    rows = []
    quiet = 0
    for node in report.nodes:
        if node.node == report.reference:
            continue
        if not node.reachable:
            rows.append([node.node, "UNREACHABLE before any failure", "-", "-"])
            continue
        if not node.single and not node.pair_count:
            quiet += 1
            continue
        survives = all(f.mgmt_survives for f in node.single + node.pairs)
        names = ", ".join(name for f in node.single for name in f.elements)
        pairs = str(node.pair_count) if report.depth == 2 else "-"
        rows.append([node.node, f"{len(node.single)}: {names}" if node.single else "0", pairs,
                     "survives over OOB" if survives else "LOST or shared for some failures"])
    listed_rows = rows[:MAX_TERMINAL_NODES]
    if listed_rows:
        lines += table(["node", "single failures", "pairs", "management of the touched nodes"], listed_rows)
    if len(rows) > len(listed_rows):
        lines.append(f"... {len(rows) - len(listed_rows)} more nodes with findings: see --json or --html")
    lines.append(f"{quiet} other nodes: no single failure{' or pair' if report.depth == 2 else ''} cuts them off")
    lines.append("")

    shared = report.shared_fate
    if shared:
        lines.append(f"verdict: {len(shared)} management connections share fate with the data plane "
                     f"(exit {report.exit_code})")
        for connection in shared:
            lines.append(f"  {connection.node} {_connection_text(connection)}")
    else:
        lines.append(f"verdict: management is independent of the data plane (exit {report.exit_code})")
    return "\n".join(lines)


def _access_json(access: MgmtAccess) -> dict[str, Any]:
    return {"node": access.node, "from": access.vantage, "status": access.status, "oob": list(access.oob),
            "shared": list(access.shared)}


def _failure_json(failure: Failure) -> dict[str, Any]:
    return {"elements": list(failure.elements), "management_survives_oob": failure.mgmt_survives,
            "management": [_access_json(a) for a in failure.management]}


def _connection_json(connection: Connection) -> dict[str, Any]:
    return {"way": connection.way, "from": connection.vantage, "independent": connection.independent,
            "reachable": connection.reachable,
            "via": connection.via, "fails_with": list(connection.fails_with), "path": list(connection.path)}


def to_json(report: AuditReport) -> dict[str, Any]:
    """Return the report as JSON-ready data."""
    return {
        "lab": report.lab,
        "topology": report.topology,
        "depth": report.depth,
        "max_pairs": report.max_pairs,
        "reference": {"node": report.reference, "reason": report.reference_reason},
        "managed_from": report.managed_from,
        "duration_s": round(report.duration_s, 6),
        "elements": {name: {"kind": e.kind, "ends": list(e.ends)} for name, e in report.elements.items()},
        "workloads": [{
            "name": r.workload.name,
            "node": r.workload.node,
            "managed_from": r.workload.managed_from,
            "tolerance_s": r.workload.tolerance_s,
            "origin": r.workload.origin,
            "dependencies": [{
                "node": d.dependency.node,
                "port": d.dependency.port,
                "address": d.dependency.address,
                "reachable": d.reachable,
                "single": [_failure_json(f) for f in d.single],
                "pair_count": d.pair_count,
                "pairs": [_failure_json(f) for f in d.pairs],
            } for d in r.dependencies],
        } for r in report.workloads],
        "nodes": [{
            "node": n.node,
            "reachable": n.reachable,
            "independent_management": n.independent,
            "connections": [_connection_json(c) for c in n.connections],
            "single": [_failure_json(f) for f in n.single],
            "pair_count": n.pair_count,
            "pairs": [_failure_json(f) for f in n.pairs],
        } for n in report.nodes],
        "shared_fate": [{"node": c.node, **_connection_json(c)} for c in report.shared_fate],
        "exit_code": report.exit_code,
    }


def write_json(report: AuditReport, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(to_json(report), indent=2) + "\n", encoding="utf-8")
    return target
