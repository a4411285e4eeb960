"""The result of a drill run, shaped like the work: phases, measurements, verdicts, report paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .analysis import Analysis, Measurement, SlaVerdict


@dataclass(frozen=True)
class DrillResult:
    """What ``drillkit run`` and the Python API return.

    Attributes:
        run_id: unique id of the run.
        scenario: scenario name.
        run_dir: folder with the journal and reports.
        status: ``passed``, ``failed``, ``aborted`` or ``error``.
        exit_code: 0 passed, 1 SLA missed or a check failed, 2 could not run, 3 aborted.
        measurements: detect, oob_access, recover, outage, stale_data.
        slas: one verdict per SLA target.
        failures: failed steps, checks and restores.
        stop_reason: why a stop condition fired, if one did.
        error: why the drill could not run, if it could not.
        reports: report kind (html, json, junit) to path.
    """

    run_id: str
    scenario: str
    run_dir: Path
    status: str
    exit_code: int
    measurements: dict[str, Measurement]
    slas: tuple[SlaVerdict, ...]
    failures: tuple[str, ...] = ()
    violations: tuple[dict, ...] = ()
    stop_reason: str | None = None
    error: str | None = None
    reports: dict[str, Path] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def missed_slas(self) -> tuple[SlaVerdict, ...]:
        return tuple(s for s in self.slas if not s.met)

    @property
    def report_path(self) -> Path | None:
        return self.reports.get("html")

    @classmethod
    def from_analysis(cls, analysis: Analysis, run_dir: Path, reports: dict[str, Path]) -> DrillResult:
        return cls(run_id=analysis.run.get("run_id", run_dir.name), scenario=analysis.run.get("scenario", {}).get("name", "?"),
                   run_dir=run_dir, status=analysis.status, exit_code=analysis.exit_code,
                   measurements=dict(analysis.measurements), slas=tuple(analysis.slas),
                   failures=tuple(analysis.failures), violations=tuple(analysis.violations),
                   stop_reason=analysis.stop_reason, error=analysis.error, reports=reports)

    def summary_line(self) -> str:
        parts = [f"{self.scenario}: {self.status.upper()} (exit {self.exit_code})"]
        for sla in self.slas:
            measured = "not reached" if sla.measured is None else f"{sla.measured:.2f}s"
            parts.append(f"{sla.name} {measured}/{sla.target:g}s {'ok' if sla.met else 'MISSED'}")
        return "; ".join(parts)
