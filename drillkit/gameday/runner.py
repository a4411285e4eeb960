"""Run a game day: check the window, collect approvals, run each drill, record everything.

Drills of the sequence run one after the other in the main thread, so each
``DrillRunner`` handles Ctrl-C itself (it restores the faults and reports the
run as aborted), and the game day then stops. Drills of a parallel group run
in threads, one per lab; Ctrl-C there aborts every running drill, and each
restores its faults. The labs of a parallel group are built one after the other before
the group starts, because building two labs at the same time was never tested.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from ..errors import DrillkitError
from . import history
from .approvals import Approval, ApprovalGate
from .errors import GamedayRefused, HistoryError
from .live import LiveView
from .plan import GamedayPlan, PlanDrill, PlanStage

log = logging.getLogger(__name__)

# Outcomes of a drill that did not run.
DECLINED = "declined"
SKIPPED = "skipped"


class DrillExecutor(Protocol):
    """Runs the drills of a game day; tests replace it with a fake."""

    def run(self, drill: PlanDrill, progress: Callable[[str], None], *, labs_ready: bool = False) -> Any:
        """Run one drill and return its ``DrillResult``; raise DrillkitError when it cannot start.

        ``labs_ready`` is True inside ``labs_up``, whose labs the drill must not build or remove.
        """

    def abort_all(self, reason: str) -> None:
        """Ask every running drill to stop and restore."""

    def labs_up(self, drills: tuple[PlanDrill, ...]) -> Any:
        """Return a context manager that builds the drills' labs and removes them on exit."""


class RunnerExecutor:
    """Run drills with ``DrillRunner`` on the real labs.

    Args:
        reports_dir: parent folder of the run folders.
        lab_up: build each drill's lab if it is not up, and remove it afterwards.
    """

    def __init__(self, *, reports_dir: str | Path, lab_up: bool) -> None:
        self.reports_dir = Path(reports_dir)
        self.lab_up = lab_up
        self._active: list[Any] = []
        self._lock = threading.Lock()

    def run(self, drill: PlanDrill, progress: Callable[[str], None], *, labs_ready: bool = False) -> Any:
        from ..engine.runner import DrillRunner

        runner = DrillRunner(drill.scenario, reports_dir=self.reports_dir, lab_up=self.lab_up and not labs_ready,
                             progress=progress)
        with self._lock:
            self._active.append(runner)
        try:
            return runner.run()
        finally:
            with self._lock:
                self._active.remove(runner)

    def abort_all(self, reason: str) -> None:
        with self._lock:
            for runner in self._active:
                runner.abort(reason)

    @contextmanager
    def labs_up(self, drills: tuple[PlanDrill, ...]) -> Iterator[None]:
        if not self.lab_up:
            yield
            return
        from ..engine.runner import ensure_lab
        from ..lab import get_backend
        from ..lab.topology import load_topology

        with ExitStack() as stack:
            for drill in drills:
                topo = load_topology(drill.scenario.lab.topology)
                state, brought_up = ensure_lab(topo, bring_up=True, backend=drill.scenario.lab.backend)
                if brought_up:
                    stack.callback(get_backend(state.backend).down, topo.name, topo=topo)
            yield


@dataclass
class DrillOutcome:
    """Outcome of one drill of the plan."""

    drill: PlanDrill
    status: str
    exit_code: int
    run_id: str | None = None
    report_path: str | None = None
    detail: str = ""
    approvals: list[Approval] = field(default_factory=list)


@dataclass
class GamedayOutcome:
    """Result of a game day: its history id, status, exit status and each drill's outcome."""

    gameday_id: int
    status: str
    exit_code: int
    outcomes: list[DrillOutcome]


def combine_exit_codes(codes: list[int]) -> int:
    """Return the game day's exit status: the highest drill status (0 passed, 1 failed, 2 error, 3 aborted)."""
    return max(codes, default=0)


class GamedayRunner:
    """Run a validated plan.

    Args:
        plan: the plan.
        gate: collects approvals before each drill.
        executor: runs the drills.
        db: the history database (default: ``history.default_db_path()``).
        now: the current time, aware (tests pass a fixed clock).
        view: returns a fresh LiveView for each step of the sequence.
        say: prints a line for the people running the game day.
    """

    def __init__(self, plan: GamedayPlan, *, gate: ApprovalGate, executor: DrillExecutor,
                 db: str | Path | None = None, now: Callable[[], _dt.datetime] | None = None,
                 view: Callable[[], LiveView] | None = None, say: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.gate = gate
        self.executor = executor
        self.db = db
        self.now = now or history.utc_now
        self.view = view or (lambda: LiveView())
        self.say = say or (lambda text: print(text, flush=True))
        self.gameday_id: int | None = None

    def check_window(self) -> None:
        """Raise GamedayRefused unless now is inside the plan's window."""
        now = self.now()
        window = self.plan.window
        if not window.contains(now):
            when = "has not started yet" if now < window.start else "is over"
            raise GamedayRefused(f"game day {self.plan.name}: the window {window.describe()} {when} "
                                 f"(now {now.astimezone(window.start.tzinfo):%Y-%m-%d %H:%M}); "
                                 "nothing was disrupted. Run it inside the window, or change the window in "
                                 f"{self.plan.path}")

    def run(self) -> GamedayOutcome:
        """Run every stage of the plan and record the game day in the history.

        Raises:
            GamedayRefused: now is outside the window, or an approval is needed
                and standard input is not a terminal.
            KeyboardInterrupt: the game day was interrupted between drills; what
                ran so far is recorded.
        """
        self.check_window()
        plan = self.plan
        self.gameday_id = history.start_gameday(
            name=plan.name, plan_path=str(Path(plan.path).resolve()), window_start=history.iso_utc(plan.window.start),
            window_end=history.iso_utc(plan.window.end), timezone=plan.window.timezone, notes=plan.notes, db=self.db)
        self.say(f"game day {plan.name} started (history id {self.gameday_id}), window {plan.window.describe()}")
        outcomes: list[DrillOutcome] = []
        stop_reason: str | None = None
        status = "completed"
        try:
            for stage in plan.stages:
                if stop_reason is None and not plan.window.contains(self.now()):
                    stop_reason = f"the window ended at {plan.window.describe().split(' to ')[1]}"
                if stop_reason is not None:
                    outcomes += [self._skip(d, f"not run: {stop_reason}") for d in stage.drills]
                    continue
                stage_outcomes = self._run_stage(stage)
                outcomes += stage_outcomes
                interrupted = next((o for o in stage_outcomes if o.detail.startswith("interrupted")), None)
                if interrupted is not None:
                    stop_reason = interrupted.detail
                elif plan.stop_on_failure and any(o.exit_code != 0 for o in stage_outcomes):
                    stop_reason = "stop_on_failure: a drill did not pass"
            if stop_reason is not None:
                status = "stopped"
        except GamedayRefused:
            status = "refused"
            raise
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception:
            status = "error"
            raise
        finally:
            exit_code = combine_exit_codes([o.exit_code for o in outcomes])
            history.finish_gameday(self.gameday_id, status=status, exit_code=exit_code, db=self.db)
        self._print_summary(outcomes, status, stop_reason)
        return GamedayOutcome(self.gameday_id, status, exit_code, outcomes)

    # -- one stage ------------------------------------------------------------

    def _run_stage(self, stage: PlanStage) -> list[DrillOutcome]:
        heading = f"parallel group {stage.label} {stage.name}" if stage.parallel else \
            f"drill {stage.label} {stage.name}"
        self.say(f"--- {heading}")
        if stage.notes:
            self.say(f"notes: {stage.notes}")
        declined: list[DrillOutcome] = []
        approved: list[tuple[PlanDrill, list[Approval]]] = []
        for drill in stage.drills:
            decisions = self.gate.request(drill)
            for decision in decisions:
                self._record_approval(decision)
            refusal = next((d for d in decisions if not d.approved), None)
            if refusal is None:
                approved.append((drill, decisions))
                continue
            detail = f"declined by role {refusal.role} ({refusal.method})"
            self.say(f"drill {drill.label} {drill.name} {detail}: not run")
            declined.append(self._record_item(DrillOutcome(drill, DECLINED, 1, detail=detail, approvals=decisions)))
        if not approved:
            return declined
        if not self.plan.window.contains(self.now()):
            # The approvals took the game day past its window.
            return declined + [self._skip(d, "not run: the window ended while approvals were collected")
                               for d, _ in approved]
        if stage.parallel and len(approved) > 1:
            results = self._run_parallel(approved)
        else:
            results = [self._run_one(drill, decisions) for drill, decisions in approved]
        return declined + results

    def _run_one(self, drill: PlanDrill, approvals: list[Approval]) -> DrillOutcome:
        view = self.view()
        with view:
            try:
                result = self.executor.run(drill, view.progress)
            except DrillkitError as exc:
                return self._record_item(DrillOutcome(drill, "error", exc.exit_code, detail=str(exc),
                                                      approvals=approvals))
            view.finish(result)
        return self._record_result(drill, result, approvals)

    def _run_parallel(self, approved: list[tuple[PlanDrill, list[Approval]]]) -> list[DrillOutcome]:
        drills = tuple(d for d, _ in approved)
        labs = self.executor.labs_up(drills)
        try:
            labs.__enter__()
        except DrillkitError as exc:
            self.say(f"ERROR: building the labs of the group failed: {exc}")
            return [self._record_item(DrillOutcome(d, "error", exc.exit_code, detail=f"lab not built: {exc}",
                                                   approvals=a)) for d, a in approved]
        try:
            return self._run_threads(approved)
        finally:
            # The drills are recorded by now, so a lab that fails to come down changes no verdict.
            try:
                labs.__exit__(None, None, None)
            except DrillkitError as exc:
                log.error("removing the labs %s failed: %s", ", ".join(d.lab for d in drills), exc)
                self.say(f"ERROR: removing the labs of the group failed: {exc}; remove them with "
                         "'drillkit lab down LAB'")

    def _run_threads(self, approved: list[tuple[PlanDrill, list[Approval]]]) -> list[DrillOutcome]:
        view = self.view()
        results: dict[str, Any] = {}

        def work(drill: PlanDrill) -> None:
            try:
                results[drill.label] = self.executor.run(drill, view.channel(drill.label), labs_ready=True)
            except DrillkitError as exc:
                results[drill.label] = exc
            except Exception as exc:  # a thread must hand every failure back to the game day
                log.exception("drill %s: unexpected error", drill.label)
                results[drill.label] = exc

        threads = [threading.Thread(target=work, args=(d,), name=f"gameday-{d.label}") for d, _ in approved]
        interrupted = False
        with view:
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                try:
                    for thread in threads:
                        thread.join(timeout=0.5)
                except KeyboardInterrupt:
                    interrupted = True
                    self.say("interrupted: stopping every drill of the group and restoring")
                    self.executor.abort_all("interrupted by SIGINT")
            for drill, _ in approved:
                result = results.get(drill.label)
                if result is not None and not isinstance(result, Exception):
                    view.finish(result, drill.label)
        outcomes = []
        for drill, approvals in approved:
            result = results.get(drill.label)
            if isinstance(result, DrillkitError):
                outcomes.append(self._record_item(DrillOutcome(drill, "error", result.exit_code, detail=str(result),
                                                               approvals=approvals)))
            elif result is None and interrupted:
                # The interrupt came before this drill's thread produced a result.
                outcomes.append(self._record_item(DrillOutcome(drill, "aborted", 3, detail="interrupted by SIGINT",
                                                               approvals=approvals)))
            elif isinstance(result, Exception) or result is None:
                outcomes.append(self._record_item(DrillOutcome(drill, "error", 2, detail=f"unexpected error: {result}",
                                                               approvals=approvals)))
            else:
                outcomes.append(self._record_result(drill, result, approvals))
        if interrupted:
            for outcome in outcomes:
                if not outcome.detail.startswith("interrupted"):
                    outcome.detail = "interrupted by SIGINT" + (f"; {outcome.detail}" if outcome.detail else "")
        return outcomes

    # -- records --------------------------------------------------------------

    def _record_result(self, drill: PlanDrill, result: Any, approvals: list[Approval]) -> DrillOutcome:
        report = getattr(result, "report_path", None)
        detail = getattr(result, "stop_reason", None) or getattr(result, "error", None) or ""
        outcome = DrillOutcome(drill, result.status, result.exit_code, run_id=result.run_id,
                               report_path=str(report) if report else None, detail=detail, approvals=approvals)
        summary = Path(result.run_dir) / "summary.json"
        try:
            history.record_run(summary, operators=self.plan.people, db=self.db, gameday_id=self.gameday_id,
                               source="gameday")
        except HistoryError as exc:
            log.warning("run %s was not recorded in the history: %s", result.run_id, exc)
            self.say(f"WARNING: run {result.run_id} was not recorded in the history: {exc}")
        return self._record_item(outcome)

    def _record_item(self, outcome: DrillOutcome) -> DrillOutcome:
        assert self.gameday_id is not None
        drill = outcome.drill
        history.record_gameday_item(self.gameday_id, label=drill.label, scenario=drill.scenario.name, lab=drill.lab,
                                    status=outcome.status, exit_code=outcome.exit_code, run_id=outcome.run_id,
                                    detail=outcome.detail, db=self.db)
        if outcome.run_id:
            history.link_approvals(self.gameday_id, label=drill.label, run_id=outcome.run_id, db=self.db)
        return outcome

    def _record_approval(self, decision: Approval) -> None:
        assert self.gameday_id is not None
        history.record_approval(self.gameday_id, label=decision.label, scenario=decision.scenario,
                                role=decision.role, approver=decision.approver, decision=decision.decision,
                                at=decision.at, method=decision.method, db=self.db)

    def _skip(self, drill: PlanDrill, detail: str) -> DrillOutcome:
        self.say(f"drill {drill.label} {drill.name}: {detail}")
        return self._record_item(DrillOutcome(drill, SKIPPED, 1, detail=detail))

    def _print_summary(self, outcomes: list[DrillOutcome], status: str, stop_reason: str | None) -> None:
        self.say(f"=== game day {self.plan.name}: {status}" + (f" ({stop_reason})" if stop_reason else ""))
        for o in outcomes:
            line = f"{o.drill.label:>5} {o.drill.name:<28} lab {o.drill.lab:<14} {o.status.upper():<9} exit {o.exit_code}"
            if o.report_path:
                line += f"  report: {o.report_path}"
            elif o.detail:
                line += f"  {o.detail}"
            self.say(line)
        self.say(f"recorded in the history as game day {self.gameday_id}")
