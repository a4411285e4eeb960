"""Recovery steps of a drill: OOB commands, consoles, devices, Python playbooks, people and waits.

``StepsMixin`` is part of ``DrillRunner``; it uses the runner's journal, clock,
probe scheduler and stop conditions.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from ..clock import NS_PER_S
from ..errors import DrillkitError
from ..faults import LabContext
from ..oob import run_in_jail, ssh_argv
from ..scenario.model import StepSpec

log = logging.getLogger(__name__)

OOB_STEP_KINDS = {"jail", "ssh", "console", "python", "device"}


class StepsMixin:
    """Step execution for ``DrillRunner``."""

    def _run_steps(self, ctx: LabContext) -> bool:
        if not self._detected and self.scenario.timing.steps_start == "on_detect":
            self._say("outage not detected: recovery steps skipped")
            return False
        self._phase("oob_access", "start")
        in_oob_phase = True
        all_ok = True
        for step in self.scenario.steps:
            ok = self._run_step(step, ctx)
            if self._oob_done and in_oob_phase:
                self._phase("oob_access", "end", ok=True)
                self._phase("recover", "start")
                in_oob_phase = False
            if not ok and not step.continue_on_error:
                all_ok = False
                break
        if in_oob_phase:
            self._phase("oob_access", "end", ok=self._oob_done)
            self._phase("recover", "start")
        return all_ok

    def _run_step(self, step: StepSpec, ctx: LabContext) -> bool:
        journal = self.journal
        assert journal is not None
        via = {"jail": f"OOB jail {ctx.jail}", "ssh": f"ssh over OOB to {step.node} "
               f"({ctx.mgmt.get(step.node or '', '?')})", "console": f"console of {step.node} ({step.transport} "
               "through the console server)", "python": f"Python in the OOB jail: {step.command}",
               "device": f"netmiko to {step.node} over {step.via or 'its first OOB connection'}",
               "operator": "a person on the OOB path", "wait": "probes", "sleep": "timer"}[step.kind]
        journal.write("step.start", step=step.name, kind=step.kind, via=via)
        self._say(f"step {step.name} ({via})")
        ok, error, exit_code, output = True, None, None, ""
        access_ns = None
        if step.kind == "console":
            outcome_c = self._console(step, ctx)
            ok, error, output = outcome_c.ok, outcome_c.error, outcome_c.transcript
            for note in outcome_c.notes:
                journal.write("console.note", step=step.name, node=step.node, note=note)
                self._say(f"console {step.node}: {note}")
            if outcome_c.prompt_ns is not None:
                access_ns = outcome_c.prompt_ns
                journal.write("oob.access", mono_ns=access_ns, node=step.node, step=step.name, via=step.transport,
                              at=journal.rel(access_ns),
                              since_inject=None if self._inject_ns is None
                              else (access_ns - self._inject_ns) / NS_PER_S)
        elif step.kind == "python":
            ok, error, output = self._python_step(step, ctx)
        elif step.kind == "operator":
            ok, error, output = self._operator_step(step, ctx)
        elif step.kind == "device":
            ok, error, output = self._device_step(step)
            if ok:
                access_ns = self.clock.monotonic_ns()
        elif step.kind in OOB_STEP_KINDS:
            if step.kind == "jail":
                argv = ["sh", "-c", step.command] if step.command else [step.script or "", *step.args]
                cwd = str(Path(self.scenario.path).resolve().parent)
            else:
                argv = ssh_argv(ctx, step.node or "", step.user, min(step.timeout_s, 10)) + [step.command or ""]
                cwd = None
            outcome = run_in_jail(ctx, argv, timeout_s=step.timeout_s, cancel=self._abort, env=step.env, cwd=cwd)
            exit_code, output = outcome.returncode, outcome.output
            ok = outcome.ok
            if outcome.timed_out:
                error = f"timed out after {step.timeout_s:g} s"
            elif outcome.cancelled:
                error = "cancelled by a stop condition"
            elif not ok:
                error = f"exit {exit_code}: {output.strip().splitlines()[-1] if output.strip() else ''}"
        elif step.kind == "wait":
            names = [p.name for p in self.scenario.probes if p.role != "guard"] if step.probes == ("all",) \
                else list(step.probes)
            ok = self._wait(lambda: all(self.scheduler.state(n) == "healthy" for n in names), step.timeout_s)
            if not ok:
                error = f"probes not healthy within {step.timeout_s:g} s: " + ", ".join(
                    n for n in names if self.scheduler.state(n) != "healthy")
        else:
            self._wait(lambda: False, step.duration_s)
        end_ns = self.clock.monotonic_ns()
        journal.write("step.end", mono_ns=end_ns, step=step.name, kind=step.kind, ok=ok, exit=exit_code,
                      output=output[-4000:], error=error)
        if not ok:
            self._say(f"step {step.name} FAILED: {error}")
        self._check_stop()
        if (ok or access_ns) and step.kind in OOB_STEP_KINDS and not self._oob_done:
            self._oob_done = True
            at_ns = access_ns or end_ns
            note = (f"console of {step.node} reached a prompt" if access_ns
                    else f"step {step.name} succeeded over the OOB path")
            journal.write("mark", mono_ns=at_ns, name="oob_access", at=journal.rel(at_ns), uncertainty_s=0.0,
                          step=step.name, node=step.node, note=note)
        return ok

    def _python_step(self, step: StepSpec, ctx: LabContext) -> tuple[bool, str | None, str]:
        from ..oob.api import OobApi, load_callable
        from ..oob.console import in_namespace

        journal = self.journal
        assert journal is not None

        def on_violation(node: str, path: str, detail: str) -> None:
            journal.write("violation", at=journal.rel(self.clock.monotonic_ns()), uncertainty_s=0.0, where="api",
                          source=f"step {step.name}", destination=node, protocol="api", port=0, packets=1,
                          blocked=True, detail=detail)
            self._say(f"VIOLATION: {detail}")

        def outage_active() -> bool:
            return self._inject_ns is not None and not self._recovered

        try:
            func = load_callable(step.command or "", Path(self.scenario.path).resolve().parent)
            api = OobApi(ctx, outage_active, on_violation, self.scenario.secrets)
            result = in_namespace(ctx.jail, lambda: func(api), step.timeout_s)
        except DrillkitError as exc:
            return False, str(exc), ""
        except Exception as exc:  # the user's playbook failed: report it as the step's error
            return False, f"{type(exc).__name__}: {exc}", ""
        return True, None, "" if result is None else str(result)

    def _operator_step(self, step: StepSpec, ctx: LabContext) -> tuple[bool, str | None, str]:
        """Show a person what to do and how to reach the device over OOB; record what they type.

        Lines typed are notes; ``done`` reports the recovery (probes still measure the
        real one); ``stop`` is the emergency stop, restoring everything at once.
        """
        import select

        journal = self.journal
        assert journal is not None
        lines = ["", "=" * 72, f"OPERATOR STEP {step.name}: {step.command}"]
        if step.node:
            lines.append(f"  console:  drillkit console {ctx.lab} {step.node}")
            if ctx.mgmt.get(step.node):
                lines.append(f"  ssh:      from the OOB jail to {ctx.mgmt[step.node]} (management address)")
        lines += ["  type notes and press Enter; 'done' when recovered; 'stop' for an emergency stop",
                  f"  the clock is running (limit {step.timeout_s:g} s)", "=" * 72]
        self.progress("\n".join(lines))
        try:
            stream = open("/dev/tty", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError:
            stream = sys.stdin
        notes = []
        deadline = time.monotonic() + step.timeout_s
        try:
            while time.monotonic() < deadline:
                self._check_stop()
                ready, _, _ = select.select([stream], [], [], 0.2)
                if not ready:
                    continue
                line = stream.readline()
                if not line:
                    return False, "the operator's input closed", "\n".join(notes)
                text = line.strip()
                if not text:
                    continue
                now = self.clock.monotonic_ns()
                notes.append(f"[{journal.rel(now):.2f}s] {text}")
                if text.lower() == "stop":
                    journal.write("operator.ack", step=step.name, action="emergency stop", at=journal.rel(now))
                    self.abort(f"emergency stop by the operator in step {step.name}")
                    self._check_stop()
                if text.lower() == "done":
                    journal.write("operator.ack", step=step.name, action="reported recovered", at=journal.rel(now))
                    journal.write("mark", mono_ns=now, name="operator_reported", at=journal.rel(now),
                                  uncertainty_s=0.0, step=step.name, note="the operator reported the recovery")
                    self.progress("operator reported recovery; probes decide when it really happened")
                    return True, None, "\n".join(notes)
                journal.write("operator.note", step=step.name, text=text, at=journal.rel(now))
        finally:
            if stream is not sys.stdin:
                stream.close()
        return False, f"no 'done' from the operator within {step.timeout_s:g} s", "\n".join(notes)

    def _device_step(self, step: StepSpec) -> tuple[bool, str | None, str]:
        """Run lines on a testbed device with netmiko over an OOB connection."""
        from ..faults.physical import run_device_lines
        from ..lab.physical import load_testbed

        testbed = getattr(self, "_testbed", None) or load_testbed(self.scenario.lab.topology)
        device = testbed.devices.get(step.node or "")
        if device is None:
            return False, f"device {step.node!r} is not in testbed {testbed.path}", ""
        try:
            conn = device.connection(step.via, path=None if step.via else "oob")
        except DrillkitError as exc:
            return False, str(exc), ""
        if conn.path == "inband" and self._inject_ns is not None and not self._recovered:
            assert self.journal is not None
            detail = (f"step {step.name} asked for {step.node}'s in-band connection {conn.name} "
                      f"({conn.target}) during the outage window")
            self.journal.write("violation", at=self.journal.rel(self.clock.monotonic_ns()), uncertainty_s=0.0,
                               where="api", source=f"step {step.name}", destination=conn.target,
                               protocol=conn.protocol, port=conn.port or 0, packets=0, blocked=True, detail=detail)
            oob = [c.name for c in device.connections.values() if c.path == "oob"]
            return False, f"{detail}: refused; use an OOB connection ({', '.join(oob) or 'none defined'})", ""
        lines = [line.send for line in step.console_lines]
        try:
            output = run_device_lines(testbed.path, device.name, conn.name, lines, step.timeout_s,
                                      config=step.config)
        except DrillkitError as exc:
            return False, str(exc), ""
        return True, None, output

    def _console(self, step: StepSpec, ctx: LabContext):
        from ..lab.console import load_plan
        from ..oob.console_step import ConsoleCommand, run_console_step

        plan = load_plan(ctx.lab)
        commands = [ConsoleCommand(c.send, c.expect, c.timeout_s, c.hide) for c in step.console_lines]
        return run_console_step(plan, ctx, step.node or "", commands, transport=step.transport, user=step.user
                                if step.user != "root" else None, password=step.password, url=step.url,
                                prompt=step.prompt, clear=step.clear_line, secrets=self.scenario.secrets,
                                timeout_s=step.timeout_s)
