"""The self-contained HTML after-action report."""

from __future__ import annotations

import html
from pathlib import Path

from ..engine.analysis import Analysis


def write_html(analysis: Analysis, run_dir: Path) -> Path:
    # TODO: placeholder until the full template lands.
    path = run_dir / "report.html"
    rows = "".join(f"<tr><td>{s.name}</td><td>{s.measured}</td><td>{s.target}</td><td>{s.met}</td></tr>"
                   for s in analysis.slas)
    path.write_text(f"<!doctype html><title>drill</title><h1>{html.escape(analysis.status)}</h1><table>{rows}</table>")
    return path
