"""The drill runner: baseline, inject, detect, OOB access, recover, verify, restore, report.

Faults are restored whatever happens (success, SLA miss, exception, Ctrl-C,
SIGTERM), and each fault's undo record is on disk before it is injected, so
``drillkit restore`` can undo a run that was killed.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..clock import NS_PER_S, Clock
from ..errors import DrillAborted, DrillkitError, LabStateError
from ..faults import LabContext, build_fault
from ..lab import nsexec
from ..lab.state import LabState
from ..lab.topology import Topology, load_topology
from ..probes.kinds import run_check
from ..probes.scheduler import FAILING, ProbeScheduler, Transition
from ..probes.kinds import Sample
from ..scenario.model import ProbeSpec, Scenario
from ..scenario.refs import mask
from .analysis import analyze
from .journal import Journal, read_journal
from .result import DrillResult
from .rollback import UndoLog
from .steps import OOB_STEP_KINDS, StepsMixin

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _BaselineFailed(DrillkitError):
    pass


def lab_context(topo: Topology, state: LabState) -> LabContext:
    """Describe a running lab for faults, probes and steps."""
    return LabContext(
        lab=topo.name,
        namespaces={name: info["namespace"] for name, info in state.nodes.items()},
        mount_pins=dict(state.mount_pins),
        mgmt={name: info["mgmt_ipv4"] for name, info in state.nodes.items() if info.get("mgmt_ipv4")},
        jail=state.jail, mgmt_ns=state.mgmt_ns, ssh_key=state.ssh_key, known_hosts=state.known_hosts,
        backend=state.backend, kinds={name: info.get("kind", "") for name, info in state.nodes.items()},
    )


def ensure_lab(topo: Topology, *, bring_up: bool, backend: str = "netns") -> tuple[LabState, bool]:
    """Return the running lab's state, building the lab first when allowed.

    Returns:
        The state and whether this call brought the lab up.
    """
    state = LabState.load(topo.name)
    running = state is not None and state.status == "up" and all(nsexec.exists(ns) for ns in state.namespaces)
    if running:
        assert state is not None
        return state, False
    if backend == "containerlab" and not bring_up:
        from ..lab.containerlab import ContainerlabBackend

        return ContainerlabBackend().attach(topo), False
    if not bring_up:
        raise LabStateError(f"lab {topo.name!r} is not up; run 'drillkit lab up {topo.path}' first, "
                            "or pass --lab-up to build it for this run")
    from ..lab import get_backend

    if backend == "containerlab":
        from ..lab.containerlab import ContainerlabBackend

        clab = ContainerlabBackend()
        lab_state = clab.up(topo)
        # Only a lab this run deployed is destroyed afterwards; an attached one is the user's.
        return lab_state, clab.deployed
    return get_backend(backend).up(topo), True


class DrillRunner(StepsMixin):
    """Run one scenario on its lab.

    Args:
        scenario: the validated scenario.
        reports_dir: parent folder of run folders (``<reports_dir>/<scenario>/<timestamp>/``).
        lab_up: build the lab if it is not up, and tear it down afterwards.
        clock: the clock (a FakeClock only in unit tests of timing logic).
        progress: where user-facing progress lines go (default: stderr).
    """

    def __init__(self, scenario: Scenario, *, reports_dir: str | Path = "reports", lab_up: bool = False,
                 clock: Clock | None = None, progress: Progress | None = stderr_progress) -> None:
        self.scenario = scenario
        self.reports_dir = Path(reports_dir)
        self.lab_up = lab_up or scenario.lab.manage
        self.clock = clock or Clock()
        self.progress = progress or (lambda _msg: None)
        self._abort = threading.Event()
        self._abort_reason: str | None = None
        self._inject_ns: int | None = None
        self._detected = False
        self._recovered = False
        self._oob_done = False
        self._signals = 0
        self._pid = os.getpid()
        self.journal: Journal | None = None

    # -- helpers -----------------------------------------------------------

    def _say(self, message: str) -> None:
        if self.journal is not None:
            message = f"[{self.journal.rel(self.clock.monotonic_ns()):7.2f}s] {message}"
        self.progress(mask(message, self.scenario.secrets))

    def _phase(self, phase: str, state: str, ok: bool | None = None) -> None:
        assert self.journal is not None
        fields: dict[str, Any] = {"phase": phase, "state": state}
        if ok is not None:
            fields["ok"] = ok
        self.journal.write("phase", **fields)
        if state == "start":
            self._say(f"phase {phase}")

    def abort(self, reason: str) -> None:
        """Ask the run to stop at once and restore (safe from any thread)."""
        if not self._abort.is_set():
            self._abort_reason = reason
            self._abort.set()

    def _check_stop(self) -> None:
        max_outage = self.scenario.stop.max_outage_s
        if (max_outage and self._inject_ns is not None and not self._recovered
                and self.clock.monotonic_ns() - self._inject_ns > max_outage * NS_PER_S):
            self.abort(f"maximum outage of {max_outage:g} s passed without recovery")
        if self._abort.is_set():
            raise DrillAborted(self._abort_reason or "aborted")

    def _wait(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = self.clock.monotonic_ns() + int(timeout_s * NS_PER_S)
        while True:
            self._check_stop()
            if predicate():
                return True
            if self.clock.monotonic_ns() >= deadline:
                return False
            self.clock.sleep(0.02, self._abort)

    # -- signals -----------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        if os.getpid() != self._pid:
            # A forked helper (pyroute2 forks one per namespace it opens) inherits this
            # handler; it must die as it would by default, not unwind a copy of the run.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self._signals += 1
        name = signal.Signals(signum).name
        if signum == signal.SIGUSR1:
            self.abort("emergency stop (SIGUSR1)")
            return
        self.abort(f"interrupted by {name}")
        if self._signals > 1:
            raise KeyboardInterrupt(name)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    # -- the run -----------------------------------------------------------

    def run(self) -> DrillResult:
        """Run the drill and write its reports.

        Raises:
            DrillkitError: the drill could not start (lab missing, no root); once the
                journal exists, errors are recorded in it instead and reported.
        """
        scenario = self.scenario
        nsexec.require_root("drillkit run")
        if scenario.lab.backend == "physical":
            return self._run_physical()
        topo = load_topology(scenario.lab.topology)
        state, brought_up = ensure_lab(topo, bring_up=self.lab_up, backend=scenario.lab.backend)
        try:
            return self._run_on_lab(topo, state)
        finally:
            if brought_up:
                from ..lab import get_backend

                self._say(f"tearing down lab {topo.name}")
                get_backend(state.backend).down(topo.name, topo=topo)

    def _run_physical(self) -> DrillResult:
        """Run on a physical testbed: no namespaces; probes run from the drillkit host."""
        from ..lab.physical import load_testbed

        testbed = load_testbed(self.scenario.lab.topology)
        self._extra_secrets = testbed.secrets
        topo = testbed.topology()
        state = LabState(lab=testbed.name, topology=testbed.path, backend="physical",
                         nodes={name: {"namespace": None, "kind": "physical", "mgmt_ipv4": None}
                                for name in testbed.devices})
        self._testbed = testbed
        return self._run_on_lab(topo, state)

    def _new_run_dir(self) -> tuple[str, Path]:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        base = self.reports_dir / self.scenario.name
        base.mkdir(parents=True, exist_ok=True)
        suffix = 1
        while True:
            run_dir = base / (stamp if suffix == 1 else f"{stamp}-{suffix}")
            try:
                # mkdir without exist_ok claims the name atomically, also across xdist workers.
                run_dir.mkdir()
                return f"{self.scenario.name}-{run_dir.name}", run_dir
            except FileExistsError:
                suffix += 1

    def _run_on_lab(self, topo: Topology, state: LabState) -> DrillResult:
        from ..report import render_all

        scenario = self.scenario
        ctx = lab_context(topo, state)
        self._ctx = ctx
        run_id, run_dir = self._new_run_dir()
        secrets = scenario.secrets | getattr(self, "_extra_secrets", frozenset())
        self.journal = journal = Journal(run_dir, self.clock, secrets)
        faults = [build_fault(spec, topo, ctx) for spec in scenario.faults]
        journal.write("run.start", run_id=run_id, **self._describe(topo, faults))
        self._say(f"drill {scenario.name} on lab {topo.name}: {run_dir}")

        probe_ns = [(p, self._vantage_ns(p, ctx)) for p in scenario.probes]
        pins = {ctx.namespace(n): pin for n, pin in ctx.mount_pins.items() if n in ctx.namespaces}
        scheduler = ProbeScheduler(probe_ns, self._on_sample, self.clock, pins)
        self.scheduler = scheduler
        undo = UndoLog(run_id, topo.name, scenario.name, str(journal.path))
        injected: list[Any] = []
        previous_handlers = self._install_signals()
        try:
            scheduler.start()
            self._baseline(scheduler)
            self._start_guard(ctx, topo, injected, undo)
            self._inject(faults, injected, undo)
            self._detect()
            steps_ok = self._run_steps(ctx)
            if steps_ok:
                self._await_recovery(scheduler)
            elif self._detected or self.scenario.timing.steps_start == "on_inject":
                self._say("a recovery step failed: not waiting for recovery")
                self._phase("recover", "end", ok=False)
            self._verify(ctx)
        except _BaselineFailed:
            pass
        except DrillAborted as exc:
            journal.write("stop", reason=exc.reason, sync=True)
            self._say(f"STOP: {exc.reason}; restoring")
        except KeyboardInterrupt as exc:
            reason = self._abort_reason or f"interrupted ({exc or 'KeyboardInterrupt'})"
            journal.write("stop", reason=reason, sync=True)
            self._say(f"STOP: {reason}; restoring")
        except DrillkitError as exc:
            journal.write("error", message=str(exc), sync=True)
            self._say(f"ERROR: {exc}")
        except Exception as exc:
            log.exception("run %s: unexpected error", run_id)
            journal.write("error", message=f"{type(exc).__name__}: {exc}", sync=True)
            self._say(f"ERROR: {type(exc).__name__}: {exc}")
        finally:
            try:
                self._restore(injected, undo)
            finally:
                scheduler.stop()
                for sig, handler in previous_handlers.items():
                    signal.signal(sig, handler)

        analysis = analyze(read_journal(journal.path))
        journal.write("run.end", status=analysis.status, exit_code=analysis.exit_code)
        journal.close()
        try:
            reports = render_all(run_dir)
        except Exception as exc:  # the journal is intact; the reports can be rendered later
            log.exception("run %s: rendering the reports failed", run_id)
            self._say(f"ERROR: rendering the reports failed ({exc}); retry with 'drillkit report {run_dir}'")
            reports = {}
        result = DrillResult.from_analysis(analysis, run_dir, reports)
        self._say(result.summary_line())
        return result

    def _describe(self, topo: Topology, faults: list[Any]) -> dict[str, Any]:
        s = self.scenario
        return {
            "scenario": {"name": s.name, "path": s.path, "description": s.description, "tags": list(s.tags)},
            "lab": {"name": topo.name, "topology": topo.path, "backend": s.lab.backend},
            "sla": dict(s.sla),
            "timing": {"baseline_s": s.timing.baseline_s, "settle_s": s.timing.settle_s,
                       "detect_timeout_s": s.timing.detect_timeout_s,
                       "recover_timeout_s": s.timing.recover_timeout_s, "steps_start": s.timing.steps_start},
            "stop_conditions": {"max_outage_s": s.stop.max_outage_s, "guard_probes": sorted(s.guard_names)},
            "faults": [{"name": f.name, "kind": f.kind, "description": f.describe()} for f in faults],
            "probes": [{"name": p.name, "kind": p.kind, "role": "guard" if p.name in s.guard_names else p.role,
                        "vantage": p.vantage, "interval_s": p.interval_s, "timeout_s": p.timeout_s,
                        "failure_threshold": p.failure_threshold, "success_threshold": p.success_threshold,
                        "tolerance_s": p.tolerance_s, "target": p.target or p.url or p.command} for p in s.probes],
            "steps": [{"name": st.name, "kind": st.kind, "oob": st.kind in OOB_STEP_KINDS,
                       "continue_on_error": st.continue_on_error, "node": st.node} for st in s.steps],
        }

    @staticmethod
    def _vantage_ns(probe: ProbeSpec, ctx: LabContext) -> str | None:
        if probe.vantage == "jail":
            return ctx.jail
        if probe.vantage == "mgmt":
            return ctx.mgmt_ns
        if probe.vantage == "local":
            return None
        return ctx.namespace(probe.vantage)

    # -- probes ------------------------------------------------------------

    def _on_sample(self, spec: ProbeSpec, t_ns: int, sample: Sample, transition: Transition | None) -> None:
        journal = self.journal
        assert journal is not None
        journal.write("probe.sample", mono_ns=t_ns, probe=spec.name, ok=sample.ok, detail=sample.detail,
                      latency_s=round(sample.latency_s, 6), value=sample.value)
        if transition is None:
            return
        journal.write("probe.transition", mono_ns=t_ns, probe=spec.name, state=transition.state,
                      streak_start=journal.rel(transition.streak_start_ns),
                      last_opposite=None if transition.last_opposite_ns is None
                      else journal.rel(transition.last_opposite_ns))
        if self._inject_ns is None or t_ns < self._inject_ns:
            return
        self._say(f"probe {spec.name}: {transition.state} ({sample.detail})")
        if transition.state == FAILING and spec.name in self.scenario.guard_names:
            self.abort(f"guard probe {spec.name} failed: {sample.detail}")
        if transition.state == FAILING and spec.role == "detect" and not self._detected:
            self._detected = True
            journal.write("mark", name="detect", at=journal.rel(t_ns), uncertainty_s=spec.interval_s,
                          probe=spec.name, note=f"{spec.name} past its failure threshold")

    # -- phases ------------------------------------------------------------

    def _baseline(self, scheduler: ProbeScheduler) -> None:
        timing = self.scenario.timing
        window = max([timing.baseline_s] + [p.interval_s * p.success_threshold + p.timeout_s
                                            for p in self.scenario.probes])
        self._phase("baseline", "start")
        self._wait(lambda: False, window)
        self._wait(lambda: all(scheduler.state(p.name) == "healthy" for p in self.scenario.probes),
                   max(p.interval_s + p.timeout_s for p in self.scenario.probes))
        failures = []
        for probe in self.scenario.probes:
            tracker = scheduler.trackers[probe.name]
            if tracker.state != "healthy":
                detail = tracker.last_sample.detail if tracker.last_sample else "no result yet"
                failures.append(f"{probe.name} is {tracker.state} ({detail})")
        assert self.journal is not None
        self._hardening()
        self.journal.write("baseline", ok=not failures, failures=failures)
        self._phase("baseline", "end", ok=not failures)
        if failures:
            self._say("steady state failed, nothing injected: " + "; ".join(failures))
            raise _BaselineFailed("steady state failed")

    def _hardening(self) -> None:
        if not self.scenario.hardening:
            return
        from ..lab.console import load_plan
        from ..oob.hardening import run_checks

        assert self.journal is not None
        ctx = self._ctx
        for finding in run_checks(list(self.scenario.hardening), load_plan(ctx.lab), ctx):
            self.journal.write("finding", check=finding.check, ok=finding.ok, target=finding.target,
                               detail=finding.detail)
            if not finding.ok:
                self._say(f"FINDING {finding.check}: {finding.target}: {finding.detail}")

    def _inject(self, faults: list[Any], injected: list[Any], undo: UndoLog) -> None:
        assert self.journal is not None
        self._phase("inject", "start")
        for fault in faults:
            self._check_stop()
            fault.prepare()
            undo.add(fault.to_record())
            injected.append(fault)
            start = self.clock.monotonic_ns()
            if self._inject_ns is None:
                self._inject_ns = start
            try:
                fault.inject()
            except DrillkitError as exc:
                self.journal.write("fault.inject", fault=fault.name, kind=fault.kind, ok=False, error=str(exc),
                                   t_start=self.journal.rel(start), sync=True)
                raise
            self.journal.write("fault.inject", fault=fault.name, kind=fault.kind, ok=True,
                               description=fault.describe(), t_start=self.journal.rel(start), sync=True)
            self._say(f"injected {fault.name}: {fault.describe()}")
        self._phase("inject", "end", ok=True)

    def _detect(self) -> None:
        self._phase("detect", "start")
        detected = self._wait(lambda: self._detected, self.scenario.timing.detect_timeout_s)
        self._phase("detect", "end", ok=detected)
        if not detected:
            self._say(f"no detect probe failed within {self.scenario.timing.detect_timeout_s:g} s")

    def _await_recovery(self, scheduler: ProbeScheduler) -> None:
        assert self.journal is not None and self._inject_ns is not None
        detect_probes = [p for p in self.scenario.probes if p.role == "detect"]
        settle_ns = int(self.scenario.timing.settle_s * NS_PER_S)

        def held() -> bool:
            now = self.clock.monotonic_ns()
            since = [scheduler.healthy_since(p.name) for p in detect_probes]
            return all(s is not None and now - s >= settle_ns for s in since)

        remaining = self.scenario.timing.recover_timeout_s - (self.clock.monotonic_ns() - self._inject_ns) / NS_PER_S
        recovered = self._wait(held, max(remaining, 0.0))
        if recovered:
            since = {p.name: max(scheduler.healthy_since(p.name) or 0, self._inject_ns) for p in detect_probes}
            last = max(since, key=lambda name: since[name])
            self._recovered = True
            probe = self.scenario.probe(last)
            self.journal.write("mark", name="recover", at=self.journal.rel(since[last]),
                               uncertainty_s=probe.interval_s, probe=last,
                               note=f"all detect probes healthy for {self.scenario.timing.settle_s:g} s; "
                                    f"{last} was the last to recover")
            self._say(f"recovered ({last} last)")
        else:
            self._say(f"not recovered within {self.scenario.timing.recover_timeout_s:g} s of inject")
        self._phase("recover", "end", ok=recovered)

    def _verify(self, ctx: LabContext) -> None:
        if not self.scenario.verify:
            return
        assert self.journal is not None
        self._phase("verify", "start")
        all_ok = True
        for spec in self.scenario.verify:
            namespace = self._vantage_ns(spec, ctx)
            sample = _check_in_namespace(spec, namespace, ctx.mount_pins.get(spec.vantage))
            self.journal.write("verify", check=spec.name, ok=sample.ok, detail=sample.detail)
            self._say(f"verify {spec.name}: {'ok' if sample.ok else 'FAILED'} ({sample.detail})")
            all_ok = all_ok and sample.ok
        self._phase("verify", "end", ok=all_ok)

    def _start_guard(self, ctx: LabContext, topo: Topology, injected: list[Any], undo: UndoLog) -> None:
        from ..oob.guard import InbandGuard

        nodes = {n: ns for n, ns in ctx.namespaces.items() if ns and topo.nodes[n].kind != "bridge"}
        if not nodes:
            # Real devices cannot carry drillkit's nftables guard: the step API still refuses in-band paths.
            return
        guard = InbandGuard(nodes, ctx.jail, block=True)
        undo.add(guard.to_record())
        injected.append(guard)
        guard.start()
        self._guard = guard
        assert self.journal is not None
        self.journal.write("guard.start", description=guard.describe())

    def _record_violations(self) -> None:
        guard = getattr(self, "_guard", None)
        if guard is None or self.journal is None:
            return
        now_ns = self.clock.monotonic_ns()
        for attempt in guard.collect():
            at_ns = now_ns - int(attempt.age_s * NS_PER_S)
            self.journal.write("violation", mono_ns=at_ns, at=self.journal.rel(at_ns), uncertainty_s=1.0,
                               where=attempt.where, source=attempt.source, destination=attempt.destination,
                               protocol=attempt.protocol, port=attempt.port, packets=attempt.packets,
                               blocked=guard.block, detail=f"in-band attempt {attempt.describe()}")
            self._say(f"VIOLATION: in-band attempt {attempt.describe()}")

    def _restore(self, injected: list[Any], undo: UndoLog) -> None:
        if not injected:
            return
        assert self.journal is not None
        try:
            self._record_violations()
        except Exception:
            log.exception("in-band guard: reading the attempts failed")
        self._phase("restore", "start")
        all_ok = True
        for fault in reversed(injected):
            error = None
            for attempt in range(3):
                try:
                    fault.restore()
                    error = None
                    break
                except DrillkitError as exc:
                    error = str(exc)
                    log.error("fault %s: restore attempt %d failed: %s", fault.name, attempt + 1, exc)
                    time.sleep(0.2)
            if error is None:
                undo.mark_restored(fault.name)
                if fault.kind == "inband_guard":
                    continue
                self._say(f"restored {fault.name}")
            else:
                all_ok = False
                self._say(f"RESTORE FAILED for {fault.name}: {error}; run 'drillkit restore'")
            self.journal.write("fault.restore", fault=fault.name, ok=error is None, error=error, sync=True)
        undo.close()
        self._phase("restore", "end", ok=all_ok)


def _check_in_namespace(spec: ProbeSpec, namespace: str | None, mount_pin: str | None = None) -> Sample:
    """Run one check in a short-lived thread moved into ``namespace``."""
    box: list[Sample] = []

    def target() -> None:
        if namespace is not None:
            nsexec.enter_thread(namespace)
        box.append(run_check(spec, namespace, mount_pin))

    thread = threading.Thread(target=target, name=f"verify-{spec.name}", daemon=True)
    thread.start()
    thread.join(spec.timeout_s + 5)
    return box[0] if box else Sample(False, "check did not finish", spec.timeout_s)
