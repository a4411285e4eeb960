"""pytest plugin: drill scenarios as test items, and fixtures for Python drill tests.

Registered through the ``pytest11`` entry point, so ``pytest drills/`` works once
drillkit is installed. Scenario files matching ``drillkit_glob`` (default
``drill_*.yaml``) become test items; each runs the drill and fails with every
missed SLA (measured against target), the failed checks and the report path.

Fixtures:
    drill_lab: the lab of the module's scenarios (``pytestmark = pytest.mark.drillkit(lab=...)``),
        brought up once per session and torn down at the end, even when tests fail.
    drill_runner: a function ``run(scenario_path) -> DrillResult``.
    oob_console: a function ``console(node, commands) -> ConsoleOutcome`` over the OOB path.

Plugin state lives in ``config.stash``; the JUnit XML gets the phase timings and
the report path as properties of each drill test case.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from .engine.result import DrillResult
from .errors import DrillkitError

DEFAULT_GLOB = "drill_*.yaml"


@dataclass
class _PluginState:
    """Per-session state: labs this session brought up, and results to summarize."""

    reports: Path
    lab_up: bool
    labs_up: dict[str, Any] = field(default_factory=dict)
    results: list[tuple[str, DrillResult]] = field(default_factory=list)


_STATE = pytest.StashKey[_PluginState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drillkit", "recovery drills")
    group.addoption("--drillkit-reports", default=None, metavar="DIR",
                    help="folder for drill run folders (default: reports)")
    group.addoption("--drillkit-lab-up", action="store_true", default=None,
                    help="build labs that are not up, once per session, and remove them at the end")
    group.addoption("--drillkit-backend", default=None, choices=("netns", "containerlab"),
                    help="lab backend for scenarios that do not name one")
    parser.addini("drillkit_glob", "glob of scenario files collected as drills", default=DEFAULT_GLOB)
    parser.addini("drillkit_reports", "folder for drill run folders", default="reports")
    parser.addini("drillkit_lab_up", "build labs that are not up (true/false)", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "drillkit(lab=None, tags=(), sla_class=None): drill metadata "
                                       "(lab topology, tags, SLA class) used for selection and lab fixtures")
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): run in one pytest-xdist worker")
    reports = config.getoption("--drillkit-reports") or config.getini("drillkit_reports")
    lab_up = config.getoption("--drillkit-lab-up")
    if lab_up is None:
        lab_up = config.getini("drillkit_lab_up")
    config.stash[_STATE] = _PluginState(reports=Path(reports).resolve(), lab_up=bool(lab_up))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    from .lab import get_backend

    for lab, (backend, topo) in list(state.labs_up.items()):
        get_backend(backend).down(lab, topo=topo)
    state.labs_up.clear()


def _ensure_lab(config: pytest.Config, topology: str, backend: str) -> None:
    """Bring a lab up once per session when allowed; record it for teardown."""
    from .engine.runner import ensure_lab
    from .lab.topology import load_topology

    state = config.stash[_STATE]
    if backend == "physical":
        return
    topo = load_topology(topology)
    if topo.name in state.labs_up:
        return
    _lab_state, brought_up = ensure_lab(topo, bring_up=state.lab_up, backend=backend)
    if brought_up:
        state.labs_up[topo.name] = (backend, topo)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    pattern = parent.config.getini("drillkit_glob")
    if file_path.suffix in (".yaml", ".yml") and fnmatch.fnmatch(file_path.name, pattern):
        return DrillFile.from_parent(parent, path=file_path)
    return None


class DrillFile(pytest.File):
    """A scenario file: one drill item."""

    def collect(self):
        from .scenario.load import load_scenario

        try:
            scenario = load_scenario(self.path)
        except DrillkitError as exc:
            raise self.CollectError(str(exc)) from None
        item = DrillItem.from_parent(self, name=scenario.name, scenario=scenario)
        lab = Path(scenario.lab.topology).stem.removesuffix(".clab")
        sla_class = _sla_class(scenario.sla)
        item.add_marker(pytest.mark.drillkit(lab=scenario.lab.topology, tags=scenario.tags, sla_class=sla_class))
        # Drills that share a lab must run in one xdist worker (--dist loadgroup).
        item.add_marker(pytest.mark.xdist_group(name=f"drillkit-lab-{lab}"))
        marks = [f"lab_{lab}", f"sla_{sla_class}"] + [f"tag_{tag}" for tag in scenario.tags]
        for mark in marks:
            name = mark.replace("-", "_").replace(".", "_")
            self.config.addinivalue_line("markers", f"{name}: drillkit drill selector")
            item.add_marker(getattr(pytest.mark, name))
        yield item


def _sla_class(sla: dict[str, float]) -> str:
    """Classify a drill by its tightest recover-type target: seconds, minutes or none."""
    targets = [v for k, v in sla.items() if k in ("recover", "outage")]
    if not targets:
        return "none"
    return "seconds" if min(targets) < 60 else "minutes"


class DrillFailed(Exception):
    """A drill missed an SLA, failed a check, or was aborted."""


class DrillItem(pytest.Item):
    """One drill run as a test."""

    def __init__(self, *, scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        from .engine.runner import DrillRunner

        state = self.config.stash[_STATE]
        backend = self.config.getoption("--drillkit-backend") or self.scenario.lab.backend
        _ensure_lab(self.config, self.scenario.lab.topology, backend)
        result = DrillRunner(self.scenario, reports_dir=state.reports, progress=None).run()
        _record_history(result)
        state.results.append((self.nodeid, result))
        _record_properties(self, result)
        if not result.passed:
            raise DrillFailed(failure_message(result))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (DrillFailed, DrillkitError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"drill {self.scenario.name}"


def _record_history(result: DrillResult) -> None:
    from .gameday.history import after_run

    after_run(result)


def failure_message(result: DrillResult) -> str:
    """Describe why a drill did not pass: each missed SLA, failures, stop reason, report."""
    lines = [f"drill {result.scenario} {result.status.upper()} (exit {result.exit_code})"]
    for sla in result.missed_slas:
        measured = "never reached" if sla.measured is None else f"{sla.measured:.2f} s"
        lines.append(f"  SLA {sla.name} missed: measured {measured}, target {sla.target:g} s")
    for failure in result.failures:
        lines.append(f"  failed: {failure}")
    if result.stop_reason:
        lines.append(f"  aborted: {result.stop_reason}")
    if result.error:
        lines.append(f"  error: {result.error}")
    lines.append(f"  report: {result.report_path or result.run_dir}")
    return "\n".join(lines)


def _record_properties(item: pytest.Item, result: DrillResult) -> None:
    item.user_properties.append(("drillkit.status", result.status))
    item.user_properties.append(("drillkit.report", str(result.report_path or result.run_dir)))
    for name, measurement in result.measurements.items():
        if measurement.value is not None:
            item.user_properties.append((f"drillkit.measured.{name}", f"{measurement.value:.3f}"))
    for sla in result.slas:
        item.user_properties.append((f"drillkit.sla.{sla.name}", "met" if sla.met else "missed"))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.results:
        return
    terminalreporter.section("drillkit verdicts")
    for nodeid, result in state.results:
        terminalreporter.write_line(f"{result.summary_line()}  [{nodeid}]")
        terminalreporter.write_line(f"    report: {result.report_path or result.run_dir}")


# -- fixtures for Python drill tests ------------------------------------------

def _marker_lab(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("drillkit")
    lab = marker.kwargs.get("lab") if marker else None
    if not lab:
        raise pytest.UsageError("drill_lab needs pytest.mark.drillkit(lab='path/to/lab.clab.yml') on the "
                                "module or test")
    path = Path(lab)
    if not path.is_absolute():
        path = Path(str(request.node.path)).parent / path
    return str(path.resolve())


@pytest.fixture(scope="module")
def drill_lab(request: pytest.FixtureRequest):
    """Bring up (once per session) the lab named by ``pytest.mark.drillkit(lab=...)``; return its topology and state."""
    __tracebackhide__ = True
    from .lab.state import LabState
    from .lab.topology import load_topology

    topology = _marker_lab(request)
    backend = request.config.getoption("--drillkit-backend") or "netns"
    _ensure_lab(request.config, topology, backend)
    topo = load_topology(topology)
    return topo, LabState.load(topo.name)


@pytest.fixture
def drill_runner(request: pytest.FixtureRequest) -> Callable[..., DrillResult]:
    """Return ``run(scenario_path, **overrides) -> DrillResult``; results land in the session summary."""
    from .engine.runner import DrillRunner
    from .scenario.load import load_scenario

    state = request.config.stash[_STATE]

    def run(scenario: str | os.PathLike[str]) -> DrillResult:
        path = Path(scenario)
        if not path.is_absolute():
            path = Path(str(request.node.path)).parent / path
        loaded = load_scenario(path)
        backend = request.config.getoption("--drillkit-backend") or loaded.lab.backend
        _ensure_lab(request.config, loaded.lab.topology, backend)
        result = DrillRunner(loaded, reports_dir=state.reports, progress=None).run()
        _record_history(result)
        state.results.append((request.node.nodeid, result))
        _record_properties(request.node, result)
        return result

    return run


@pytest.fixture
def oob_console(drill_lab):
    """Return ``console(node, commands, transport="ssh") -> ConsoleOutcome`` for the module's lab."""
    from .engine.runner import lab_context
    from .lab.console import load_plan
    from .oob.console_step import ConsoleCommand, run_console_step

    topo, state = drill_lab
    ctx = lab_context(topo, state)
    plan = load_plan(topo.name)

    def console(node: str, commands: list[str], transport: str = "ssh"):
        if plan is None:
            raise pytest.UsageError(f"lab {topo.name} has no console server")
        return run_console_step(plan, ctx, node, [ConsoleCommand(c) for c in commands], transport=transport)

    return console
