"""The audit report as one self-contained HTML page with an inline SVG drawing of the lab.

The page loads nothing from the network: styles are inline and there is no script.
The drawing puts the reference node at the top and each further row one hop
further away in the production network. It marks:

- red: links and nodes whose failure alone cuts a workload off from a dependency;
- pink: links and nodes whose failure alone cuts a node off from the reference only;
- orange, dashed: production links and nodes that a management connection rides
  (shared fate), and the uplink of a console server that rides a production node;
- badges under each node: ``e`` for eth0, ``c`` for the console and ``ib`` for in-band
  management. A badge is green when the way is independent of production, else orange.
"""

from __future__ import annotations

import html
import logging
from collections import deque
from pathlib import Path

import networkx as nx

from ..lab.topology import Topology
from .analysis import AuditReport
from .graph import CONSOLE_SERVER
from .spec import AuditSpec

log = logging.getLogger(__name__)

#: Labs with more nodes than this get no drawing: it would be unreadable.
MAX_DRAWN_NODES = 150
RED, PINK, ORANGE, GREEN, GREY = "#c62828", "#d81b60", "#ef6c00", "#2e7d32", "#8a8a8a"
ROW_HEIGHT, COLUMN_WIDTH, MARGIN = 96, 112, 56


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _layers(topo: Topology, reference: str) -> list[list[str]]:
    """Return rows of node names: the reference, then each hop further, then unreachable nodes."""
    graph = nx.Graph()
    graph.add_nodes_from(topo.nodes)
    graph.add_edges_from((link.a.node, link.b.node) for link in topo.links)
    distance = {reference: 0}
    queue = deque([reference])
    while queue:
        node = queue.popleft()
        for neighbour in graph.neighbors(node):
            if neighbour not in distance:
                distance[neighbour] = distance[node] + 1
                queue.append(neighbour)
    rows: list[list[str]] = [[] for _ in range(max(distance.values()) + 1)]
    for node in topo.nodes:
        if node in distance:
            rows[distance[node]].append(node)
    unreachable = [n for n in topo.nodes if n not in distance]
    if unreachable:
        rows.append(unreachable)
    # One barycentre pass: order each row by the mean position of its neighbours in the row above.
    for index in range(1, len(rows)):
        above = {name: i for i, name in enumerate(rows[index - 1])}

        def weight(name: str) -> float:
            positions = [above[n] for n in graph.neighbors(name) if n in above]
            return sum(positions) / len(positions) if positions else float(len(above))

        rows[index].sort(key=weight)
    return rows


def _marks(report: AuditReport) -> tuple[set[str], set[str], set[str]]:
    """Return the workload single points of failure, node-only cuts, and shared-fate elements."""
    workload = {name for r in report.workloads for d in r.dependencies for f in d.single for name in f.elements}
    node_only = {name for n in report.nodes for f in n.single for name in f.elements} - workload
    shared = {name for c in report.shared_fate for name in c.fails_with}
    return workload, node_only, shared


def render_svg(topo: Topology, spec: AuditSpec, report: AuditReport) -> str:
    """Return the SVG drawing of the lab, or a paragraph saying why there is none."""
    if len(topo.nodes) > MAX_DRAWN_NODES:
        return (f"<p class=note>The lab has {len(topo.nodes)} nodes; drawings are made for "
                f"{MAX_DRAWN_NODES} nodes or fewer. The tables below list every finding.</p>")
    rows = _layers(topo, report.reference)
    widest = max(len(row) for row in rows)
    servers = sorted({m.console_uplink or "" for m in spec.management.values() if m.console})
    width = max(720, widest * COLUMN_WIDTH + 2 * MARGIN, (len(servers) + 2) * 220)
    oob_y = MARGIN + len(rows) * ROW_HEIGHT + 20
    height = oob_y + 130
    position: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        step = (width - 2 * MARGIN) / len(row)
        for i, name in enumerate(row):
            position[name] = (MARGIN + step * (i + 0.5), MARGIN + r * ROW_HEIGHT + 10)
    spof, node_cut, shared = _marks(report)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
             f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="lab {_esc(topo.name)}">',
             '<style>text{font:12px sans-serif;paint-order:stroke;stroke:#fff;stroke-width:3px} .small{font-size:10px} .badge{font:bold 9px sans-serif;fill:#fff;stroke:none}'
             '</style>']

    # Production links, with parallel links offset so that each stays visible.
    seen_pairs: dict[frozenset[str], int] = {}
    for link in topo.links:
        (x1, y1), (x2, y2) = position[link.a.node], position[link.b.node]
        pair = frozenset((link.a.node, link.b.node))
        offset = seen_pairs.get(pair, 0) * 6
        seen_pairs[pair] = seen_pairs.get(pair, 0) + 1
        colour, stroke = (RED, 4) if link.name in spof else (PINK, 3) if link.name in node_cut else (GREY, 2)
        parts.append(f'<line x1="{x1 + offset:.1f}" y1="{y1 + offset:.1f}" x2="{x2 + offset:.1f}" '
                     f'y2="{y2 + offset:.1f}" stroke="{colour}" stroke-width="{stroke}">'
                     f'<title>{_esc(link.name)}</title></line>')
        if link.name in shared:
            # A dashed line beside the link, so that the link's own colour stays visible.
            length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1.0)
            dx, dy = -(y2 - y1) / length * 6, (x2 - x1) / length * 6
            parts.append(f'<line x1="{x1 + offset + dx:.1f}" y1="{y1 + offset + dy:.1f}" '
                         f'x2="{x2 + offset + dx:.1f}" y2="{y2 + offset + dy:.1f}" stroke="{ORANGE}" '
                         f'stroke-width="2" stroke-dasharray="6 4"><title>management rides {_esc(link.name)}'
                         f'</title></line>')

    # The management network, the jail and the console servers.
    parts.append(f'<rect x="{MARGIN}" y="{oob_y}" width="{width - 2 * MARGIN}" height="22" rx="4" '
                 f'fill="#e8f5e9" stroke="{GREEN}"/>')
    parts.append(f'<text x="{MARGIN + 8}" y="{oob_y + 15}">management (OOB) network: eth0 of every node '
                 f'managed out of band</text>')
    boxes = [("OOB jail", "operator side", GREEN, None)]
    for uplink in servers:
        label = CONSOLE_SERVER if not uplink else f"{CONSOLE_SERVER}:{uplink}"
        colour = GREEN if not uplink else ORANGE
        boxes.append((label, "uplink on the OOB network" if not uplink else f"uplink via {uplink}", colour,
                      uplink or None))
    for i, (label, detail, colour, uplink) in enumerate(boxes):
        x = MARGIN + 20 + i * 210
        y = oob_y + 60
        parts.append(f'<line x1="{x + 90}" y1="{oob_y + 22}" x2="{x + 90}" y2="{y}" stroke="{GREEN}" '
                     f'stroke-width="2"/>' if uplink is None else
                     f'<line x1="{x + 90}" y1="{y}" x2="{position[uplink][0]:.1f}" y2="{position[uplink][1]:.1f}" '
                     f'stroke="{ORANGE}" stroke-width="2" stroke-dasharray="6 4"><title>console server uplink '
                     f'rides {_esc(uplink)}</title></line>')
        parts.append(f'<rect x="{x}" y="{y}" width="180" height="40" rx="5" fill="#fff" stroke="{colour}" '
                     f'stroke-width="2"/><text x="{x + 8}" y="{y + 16}">{_esc(label)}</text>'
                     f'<text class=small x="{x + 8}" y="{y + 32}">{_esc(detail)}</text>')

    # Nodes, with a badge per management way.
    connections = {n.node: n.connections for n in report.nodes}
    for name, (x, y) in position.items():
        node = topo.nodes[name]
        colour = "#455a64"
        if name in spof:
            colour = RED
        elif name in node_cut:
            colour = PINK
        ring = f' stroke="{colour}" stroke-width="3"'
        if name in shared:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="22" fill="none" stroke="{ORANGE}" stroke-width="2" '
                         f'stroke-dasharray="4 3"><title>management rides {_esc(name)}</title></circle>')
        if node.kind == "bridge":
            parts.append(f'<rect x="{x - 18:.1f}" y="{y - 12:.1f}" width="36" height="24" fill="#fff"{ring}>'
                         f'<title>bridge {_esc(name)}</title></rect>')
        else:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="16" fill="#fff"{ring}>'
                         f'<title>{_esc(name)}</title></circle>')
        weight = ' font-weight="bold"' if name == report.reference else ""
        parts.append(f'<text x="{x:.1f}" y="{y + 32:.1f}" text-anchor="middle"{weight}>{_esc(name)}</text>')
        for i, connection in enumerate(connections.get(name, ())):
            tag = {"eth0": "e", "console": "c", "in-band": "ib"}[connection.way]
            fill = GREEN if connection.independent else ORANGE
            bx = x - 20 + i * 22
            parts.append(f'<rect x="{bx:.1f}" y="{y + 38:.1f}" width="18" height="12" rx="2" fill="{fill}">'
                         f'<title>{_esc(connection.way)}: {_esc(connection.via)}</title></rect>'
                         f'<text class=badge x="{bx + 9:.1f}" y="{y + 47:.1f}" text-anchor="middle">{tag}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


LEGEND = (f'<ul class=legend><li><b style="color:{RED}">red</b>: its failure alone cuts a workload off from a '
          f'dependency</li><li><b style="color:{PINK}">pink</b>: its failure alone cuts a node off from the '
          f'reference node</li><li><b style="color:{ORANGE}">orange, dashed</b>: a management connection rides it '
          f'(shared fate)</li><li>badges: <b>e</b> eth0, <b>c</b> console, <b>ib</b> in-band; '
          f'<b style="color:{GREEN}">green</b> independent of production, <b style="color:{ORANGE}">orange</b> '
          f'shared</li></ul>')

STYLE = """
body{font:14px/1.4 sans-serif;margin:24px;color:#212121;max-width:1400px}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top} th{background:#f5f5f5}
.bad{color:#c62828;font-weight:bold} .good{color:#2e7d32;font-weight:bold} .note{color:#555}
.legend li{margin:2px 0} svg{border:1px solid #ddd;max-width:100%;height:auto}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Return an HTML table; cells are already escaped."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(topo: Topology, spec: AuditSpec, report: AuditReport) -> str:
    """Return the whole page."""
    shared = report.shared_fate
    verdict = (f'<p class=bad>{len(shared)} management connections share fate with the data plane '
               f'(exit {report.exit_code}).</p>' if shared else
               f'<p class=good>Management is independent of the data plane (exit {report.exit_code}).</p>')
    mgmt_rows = []
    for node in report.nodes:
        for c in node.connections:
            state = '<span class=good>independent</span>' if c.independent else '<span class=bad>SHARED</span>'
            mgmt_rows.append([_esc(node.node), _esc(c.vantage), _esc(c.way), state, _esc(c.via),
                              _esc(", ".join(c.fails_with) or "-")])
    workload_rows = []
    for result in report.workloads:
        wl = result.workload
        for dep in result.dependencies:
            if not dep.reachable:
                workload_rows.append([_esc(wl.name), _esc(wl.node), _esc(dep.dependency),
                                      '<span class=bad>unreachable before any failure</span>', "-"])
            for failure in dep.single + dep.pairs:
                mgmt = "; ".join(_esc(a.describe()) for a in failure.management) or "no managed node touched"
                css = "good" if failure.mgmt_survives else "bad"
                workload_rows.append([_esc(wl.name), _esc(wl.node), _esc(dep.dependency),
                                      _esc(" + ".join(str(report.elements[e]) for e in failure.elements)),
                                      f"<span class={css}>{mgmt}</span>"])
            if dep.pair_count > len(dep.pairs):
                workload_rows.append([_esc(wl.name), _esc(wl.node), _esc(dep.dependency),
                                      _esc(f"{dep.pair_count - len(dep.pairs)} more pairs not listed"), "-"])
    node_rows = []
    for node in report.nodes:
        if node.node == report.reference:
            continue
        cut = ", ".join(name for f in node.single for name in f.elements)
        pairs = str(node.pair_count) if report.depth == 2 else "-"
        state = "-" if not node.single and not node.pairs else (
            '<span class=good>survives over OOB</span>' if all(f.mgmt_survives for f in node.single + node.pairs)
            else '<span class=bad>lost or shared for some failures</span>')
        node_rows.append([_esc(node.node), "yes" if node.reachable else '<span class=bad>no</span>',
                          _esc(cut or "-"), pairs, state])
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>drillkit audit: {_esc(report.lab)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Failure-assumption audit of lab {_esc(report.lab)}</h1>",
        f"<p>Topology {_esc(report.topology)}; depth {report.depth}; reference node {_esc(report.reference)} "
        f"({_esc(report.reference_reason)}); management from {_esc(report.managed_from)}.</p>",
        verdict,
        render_svg(topo, spec, report),
        LEGEND,
        "<h2>Management connections</h2>",
        _table(["node", "from", "way", "state", "via", "fails with"], mgmt_rows),
        "<h2>Workloads: failures that cut a dependency off</h2>",
        _table(["workload", "runs on", "needs", "failure", "management of the touched nodes"], workload_rows)
        if workload_rows else "<p class=note>No workloads: add drillkit.workload labels or an audit file.</p>",
        f"<h2>Nodes: failures that cut a node off from {_esc(report.reference)}</h2>",
        _table(["node", "reachable", "single failures", "pairs", "management"], node_rows),
        "</body></html>",
    ])


def write_html(topo: Topology, spec: AuditSpec, report: AuditReport, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(topo, spec, report), encoding="utf-8")
    return target
