"""A live terminal view of running drills, fed by the runner's progress lines and its journal.

Use it as the runner's progress callable::

    with LiveView() as view:
        result = DrillRunner(scenario, progress=view.progress).run()
        view.finish(result)

The view follows the run's ``journal.jsonl`` by itself once the runner names
the run folder in its first progress line; ``follow(path)`` starts that
explicitly. On a terminal it shows a ``rich`` Live panel per run: phases,
timers against each SLA target, probe states and violations, with the
progress lines scrolling above. Elsewhere (a pipe, a log file, CI) it prints
plain lines: the progress lines, plus one line when each timer stops.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..clock import NS_PER_S

JOURNAL_NAME = "journal.jsonl"
POLL_INTERVAL_S = 0.2
# The runner's first progress line: "[   0.00s] drill NAME on lab LAB: RUN_DIR".
_RUN_LINE = re.compile(r"^(?:\[\s*[\d.]+s\]\s+)?drill (?P<scenario>\S+) on lab (?P<lab>\S+): (?P<run_dir>.+)$")
# Each SLA timer stops at the journal mark of this name.
SLA_MARKS = {"detect": "detect", "oob_access": "oob_access", "recover": "recover", "outage": "recover"}
PHASE_ORDER = ("baseline", "inject", "detect", "oob_access", "recover", "verify", "restore")
# A running timer turns yellow at this share of its target.
WARN_SHARE = 0.75


@dataclass
class RunState:
    """State of one run in the view, updated from progress lines and journal events."""

    channel: str
    scenario: str = ""
    lab: str = ""
    run_dir: str | None = None
    sla: dict[str, float] = field(default_factory=dict)
    start_mono_ns: int | None = None
    inject_t: float | None = None
    last_t: float = 0.0
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    current_phase: str | None = None
    marks: dict[str, float] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    step: str | None = None
    violations: list[str] = field(default_factory=list)
    stop_reason: str | None = None
    error: str | None = None
    status: str | None = None
    exit_code: int | None = None
    final: dict[str, float | None] = field(default_factory=dict)
    lines: deque = field(default_factory=lambda: deque(maxlen=4))

    def now_t(self) -> float:
        """Return seconds since the run started, from the monotonic clock the journal uses."""
        if self.start_mono_ns is None or self.status is not None:
            return self.last_t
        return max(self.last_t, (time.monotonic_ns() - self.start_mono_ns) / NS_PER_S)

    def measured(self, sla: str) -> float | None:
        """Return the measured time of an SLA phase since inject, or None while it runs."""
        if sla in self.final:
            return self.final[sla]
        mark = SLA_MARKS.get(sla)
        if mark is None or mark not in self.marks or self.inject_t is None:
            return None
        return self.marks[mark] - self.inject_t


class LiveView:
    """Show running drills live on a terminal, or as plain lines elsewhere.

    Args:
        console: the rich console (default: one on standard output).
        plain: force plain lines (True) or the live panel (False); default: plain
            unless standard output is a terminal.
        stream: where plain lines go (default: standard output).
        auto_follow: follow the journal once the runner names its run folder.
        refresh_per_second: redraws of the live panel.
    """

    def __init__(self, *, console: Console | None = None, plain: bool | None = None, stream: TextIO | None = None,
                 auto_follow: bool = True, refresh_per_second: float = 4.0) -> None:
        self.console = console or Console(file=sys.stdout)
        if plain is None:
            plain = not (self.console.is_terminal and not self.console.is_dumb_terminal)
        self.plain = plain
        self.stream = stream
        self.auto_follow = auto_follow
        self.refresh_per_second = refresh_per_second
        self._runs: dict[str, RunState] = {}
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._stop = threading.Event()
        self._followers: list[threading.Thread] = []
        self._followed: set[str] = set()

    # -- lifecycle ----------------------------------------------------------

    def __enter__(self) -> LiveView:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Show the live panel (no effect in plain mode)."""
        if self.plain or self._live is not None:
            return
        self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=self.refresh_per_second,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def stop(self) -> None:
        """Stop following journals and draw the panel a last time."""
        self._stop.set()
        for thread in self._followers:
            thread.join(timeout=2 * POLL_INTERVAL_S + 1)
        self._followers.clear()
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    # -- inputs ---------------------------------------------------------------

    def progress(self, message: str) -> None:
        """Take one progress line of the default run; pass this as ``DrillRunner(progress=...)``."""
        self._progress("", message)

    def channel(self, name: str) -> Callable[[str], None]:
        """Return the progress callable of a named run, for drills that run at the same time."""
        with self._lock:
            self._state(name)
        return lambda message: self._progress(name, message)

    def follow(self, journal_path: str | Path, channel: str = "") -> None:
        """Poll a run's journal in a background thread until the run ends or the view stops."""
        path = str(journal_path)
        with self._lock:
            if path in self._followed:
                return
            self._followed.add(path)
            state = self._state(channel)
            state.run_dir = state.run_dir or str(Path(path).parent)
        thread = threading.Thread(target=self._follow, args=(Path(path), channel), name=f"live-follow-{channel}",
                                  daemon=True)
        self._followers.append(thread)
        thread.start()

    def finish(self, result: Any, channel: str = "") -> None:
        """Record a run's final verdict and measurements (a ``DrillResult``)."""
        with self._lock:
            state = self._state(channel)
            state.status = getattr(result, "status", None)
            state.exit_code = getattr(result, "exit_code", None)
            for name, measurement in (getattr(result, "measurements", None) or {}).items():
                state.final[name] = getattr(measurement, "value", None)
            for sla in getattr(result, "slas", ()):
                state.sla.setdefault(sla.name, sla.target)

    # -- state ----------------------------------------------------------------

    def _state(self, channel: str) -> RunState:
        state = self._runs.get(channel)
        if state is None:
            state = self._runs[channel] = RunState(channel)
        return state

    def runs(self) -> list[RunState]:
        with self._lock:
            return list(self._runs.values())

    def _progress(self, channel: str, message: str) -> None:
        match = _RUN_LINE.match(message)
        with self._lock:
            state = self._state(channel)
            state.lines.append(message)
            if match:
                state.scenario = state.scenario or match["scenario"]
                state.lab = state.lab or match["lab"]
                state.run_dir = match["run_dir"].strip()
            multiple = len(self._runs) > 1
        prefix = f"[{channel}] " if channel and multiple else ""
        self._emit(prefix + message)
        if match and self.auto_follow:
            self.follow(Path(match["run_dir"].strip()) / JOURNAL_NAME, channel)

    def _emit(self, line: str) -> None:
        if self.plain:
            stream = self.stream or sys.stdout
            print(line, file=stream, flush=True)
        else:
            self.console.print(Text(line))

    def _follow(self, path: Path, channel: str) -> None:
        offset = 0
        pending = ""
        while not self._stop.is_set():
            try:
                with open(path, encoding="utf-8") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                    offset = fh.tell()
            except FileNotFoundError:
                chunk = ""
            pending += chunk
            *complete, pending = pending.split("\n")
            ended = False
            for line in complete:
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self.apply(event, channel)
                ended = ended or event.get("type") == "run.end"
            if ended:
                return
            self._stop.wait(POLL_INTERVAL_S)

    def apply(self, event: dict[str, Any], channel: str = "") -> None:
        """Update a run's state from one journal event."""
        kind = event.get("type")
        t = float(event.get("t") or 0.0)
        notice = None
        with self._lock:
            state = self._state(channel)
            state.last_t = max(state.last_t, t)
            if kind == "run.start":
                state.scenario = (event.get("scenario") or {}).get("name", state.scenario)
                state.lab = (event.get("lab") or {}).get("name", state.lab)
                state.sla = {k: float(v) for k, v in (event.get("sla") or {}).items()}
                if isinstance(event.get("mono_ns"), int):
                    state.start_mono_ns = event["mono_ns"] - int(t * NS_PER_S)
                for probe in event.get("probes") or []:
                    state.probes[probe["name"]] = {"role": probe.get("role", ""), "state": "unknown", "detail": ""}
            elif kind == "phase":
                phase = state.phases.setdefault(event["phase"], {})
                if event.get("state") == "start":
                    phase["start"] = t
                    state.current_phase = event["phase"]
                else:
                    phase["end"] = t
                    phase["ok"] = event.get("ok")
            elif kind == "fault.inject" and state.inject_t is None:
                state.inject_t = float(event.get("t_start", t))
            elif kind == "probe.sample":
                probe = state.probes.setdefault(event["probe"], {"role": "", "state": "unknown", "detail": ""})
                probe["detail"] = str(event.get("detail", ""))
            elif kind == "probe.transition":
                probe = state.probes.setdefault(event["probe"], {"role": "", "state": "unknown", "detail": ""})
                probe["state"] = event.get("state", "")
            elif kind == "mark":
                state.marks[event["name"]] = float(event.get("at", t))
                notice = self._timer_notice(state, event["name"])
            elif kind == "step.start":
                state.step = event.get("step")
            elif kind == "step.end":
                state.step = None
            elif kind == "violation":
                state.violations.append(str(event.get("detail") or event.get("destination") or "violation"))
            elif kind == "stop":
                state.stop_reason = event.get("reason")
            elif kind == "error":
                state.error = event.get("message")
            elif kind == "run.end":
                state.status = event.get("status")
                state.exit_code = event.get("exit_code")
                state.current_phase = None
        if notice and self.plain:
            prefix = f"[{channel}] " if channel and len(self._runs) > 1 else ""
            self._emit(prefix + notice)

    @staticmethod
    def _timer_notice(state: RunState, mark: str) -> str | None:
        """Return the plain line for the SLA timers that a journal mark stops."""
        parts = []
        for sla, target in state.sla.items():
            if SLA_MARKS.get(sla) != mark:
                continue
            value = state.measured(sla)
            if value is None:
                continue
            verdict = "within target" if value <= target else "MISSED"
            parts.append(f"SLA {sla}: {value:.2f} s of {target:g} s, {verdict}")
        return "; ".join(parts) or None

    # -- rendering ---------------------------------------------------------------

    def render(self) -> RenderableType:
        """Return the live panel of every run."""
        with self._lock:
            panels = [self._panel(state) for state in self._runs.values() if state.scenario or state.run_dir]
        return Group(*panels) if panels else Text("waiting for the drill to start", style="dim")

    def _panel(self, state: RunState) -> Panel:
        now = state.now_t()
        title = f"{state.scenario or state.channel} on lab {state.lab or '?'}"
        if state.status:
            subtitle = f"{state.status.upper()} (exit {state.exit_code})"
        else:
            subtitle = f"t+{now:.1f}s, phase {state.current_phase or 'starting'}"
        parts: list[RenderableType] = [self._phases(state), self._timers(state, now), self._probes(state)]
        if state.step:
            parts.append(Text(f"step {state.step} running", style="cyan"))
        if state.violations:
            parts.append(Text(f"{len(state.violations)} violation(s): " + "; ".join(state.violations[-3:]),
                              style="bold red"))
        if state.stop_reason:
            parts.append(Text(f"STOP: {state.stop_reason}", style="bold magenta"))
        if state.error:
            parts.append(Text(f"ERROR: {state.error}", style="bold red"))
        style = {"passed": "green", "failed": "red", "aborted": "magenta", "error": "red"}.get(state.status or "", "blue")
        return Panel(Group(*parts), title=title, subtitle=subtitle, border_style=style)

    @staticmethod
    def _phases(state: RunState) -> Text:
        text = Text("phases: ")
        for name in PHASE_ORDER:
            phase = state.phases.get(name)
            if phase is None:
                text.append(f"{name} ", style="dim")
            elif "end" not in phase:
                text.append(f"{name}… ", style="bold yellow")
            elif phase.get("ok") is False:
                text.append(f"{name} ✗ ", style="red")
            else:
                text.append(f"{name} ✓ ", style="green")
        return text

    @staticmethod
    def _timers(state: RunState, now: float) -> Table:
        table = Table(box=None, show_edge=False, pad_edge=False, expand=False)
        for column in ("SLA", "time", "target", ""):
            table.add_column(column)
        for sla, target in state.sla.items():
            value = state.measured(sla)
            if value is not None:
                ok = value <= target
                table.add_row(sla, f"{value:.2f}s", f"{target:g}s",
                              Text("met" if ok else "MISSED", style="green" if ok else "bold red"))
            elif state.inject_t is None:
                table.add_row(sla, "-", f"{target:g}s", Text("before inject", style="dim"))
            elif state.status is not None or sla not in SLA_MARKS:
                note = "not reached" if sla in SLA_MARKS else "measured after the run"
                table.add_row(sla, "-", f"{target:g}s", Text(note, style="dim" if sla not in SLA_MARKS else "red"))
            else:
                elapsed = max(0.0, now - state.inject_t)
                if elapsed < WARN_SHARE * target:
                    style = "green"
                elif elapsed <= target:
                    style = "yellow"
                else:
                    style = "bold red"
                table.add_row(sla, f"{elapsed:.1f}s", f"{target:g}s", Text("running", style=style))
        return table

    @staticmethod
    def _probes(state: RunState) -> Table:
        table = Table(box=None, show_edge=False, pad_edge=False)
        for column in ("probe", "role", "state", "last result"):
            table.add_column(column)
        styles = {"healthy": "green", "failing": "bold red", "unknown": "dim"}
        for name, probe in state.probes.items():
            detail = probe.get("detail", "")
            table.add_row(name, probe.get("role", ""), Text(probe.get("state", ""),
                                                            style=styles.get(probe.get("state", ""), "")),
                          detail[:60])
        return table
