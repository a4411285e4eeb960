"""drillkit: recovery drills for network and edge infrastructure.

Cut the primary paths of a lab, recover over the out-of-band path, and measure
detection, OOB access and recovery against SLA targets.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .engine.result import DrillResult
from .engine.runner import DrillRunner
from .errors import (ConfigError, DrillAborted, DrillkitError, FaultError, LabError, OobError, ScenarioError,
                     SlaMissed, TopologyError)
from .lab.topology import load_topology
from .scenario.load import load_scenario

__all__ = [
    "ConfigError", "DrillAborted", "DrillResult", "DrillRunner", "DrillkitError", "FaultError", "LabError",
    "OobError", "ScenarioError", "SlaMissed", "TopologyError", "__version__", "load_scenario", "load_topology",
    "run_drill",
]


def run_drill(scenario_path: str, *, reports_dir: str = "reports", lab_up: bool = False) -> DrillResult:
    """Load a scenario file and run it; the Python equivalent of ``drillkit run``."""
    return DrillRunner(load_scenario(scenario_path), reports_dir=reports_dir, lab_up=lab_up).run()
