"""Renderers of a run's journal: HTML after-action report, summary.json, junit.xml."""

from __future__ import annotations

from pathlib import Path

from ..engine.analysis import Analysis, analyze
from ..engine.journal import JOURNAL_NAME, read_journal
from ..errors import DrillkitError
from .html import write_html
from .summary import write_junit, write_summary

__all__ = ["render_all", "load_analysis"]


def load_analysis(run_dir: Path) -> Analysis:
    """Analyze the journal in ``run_dir``.

    Raises:
        DrillkitError: the folder has no journal.
    """
    path = Path(run_dir) / JOURNAL_NAME
    if not path.is_file():
        raise DrillkitError(f"{run_dir}: no {JOURNAL_NAME} found; give the folder of a run "
                            "(reports/<scenario>/<timestamp>)")
    return analyze(read_journal(path))


def render_all(run_dir: Path) -> dict[str, Path]:
    """Render every report of a run from its journal; return report kind to path.

    The summary and JUnit files are written first, so a failure in the HTML
    renderer cannot lose them; the error is raised after the others are written.
    """
    run_dir = Path(run_dir)
    analysis = load_analysis(run_dir)
    paths = {"json": write_summary(analysis, run_dir), "junit": write_junit(analysis, run_dir)}
    paths["html"] = write_html(analysis, run_dir)
    return {"html": paths["html"], "json": paths["json"], "junit": paths["junit"]}
