"""Frozen dataclasses that describe a drill, produced by the scenario loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FAULT_KINDS = ("link_down", "blackhole", "node_isolation", "node_stop", "command", "external", "manual",
               "toxiproxy")
PROBE_KINDS = ("tcp", "ping", "http", "command", "freshness", "routing")
STEP_KINDS = ("jail", "ssh", "console", "device", "python", "operator", "wait", "sleep")
PROBE_ROLES = ("detect", "guard", "observe")
SLA_NAMES = ("detect", "oob_access", "recover", "stale_data", "outage")

ProbeRole = Literal["detect", "guard", "observe"]


@dataclass(frozen=True)
class Origin:
    """File and line of a scenario item, for messages."""

    path: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class LabRef:
    """The lab a drill runs on: a containerlab topology, or a testbed file for backend physical."""

    topology: str
    backend: str = "netns"
    manage: bool = False


@dataclass(frozen=True)
class FaultSpec:
    """A fault to inject and later restore.

    ``params`` holds the kind's own settings after validation, as JSON values (used by ``toxiproxy``).
    """

    name: str
    kind: str
    origin: Origin
    node: str | None = None
    link: str | None = None
    ends: tuple[str, ...] = ()
    prefix: str | None = None
    inject: str | None = None
    restore: str | None = None
    via: str | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class ProbeSpec:
    """A check repeated from a vantage point."""

    name: str
    kind: str
    origin: Origin
    vantage: str
    interval_s: float = 1.0
    timeout_s: float = 1.0
    failure_threshold: int = 2
    success_threshold: int = 1
    role: str = "detect"
    target: str | None = None
    url: str | None = None
    command: str | None = None
    expect_status: int = 200
    expect_exit: int = 0
    expect_regex: str | None = None
    field: str = "age_s"
    field_type: str = "age"
    tolerance_s: float | None = None
    routing_check: str | None = None
    routing_state: str | None = None
    routing_via: str | None = None


@dataclass(frozen=True)
class ConsoleLineSpec:
    """One line a console step sends, and the pattern ending its output (None: the prompt)."""

    send: str
    expect: str | None = None
    timeout_s: float = 10.0
    hide: bool = False


@dataclass(frozen=True)
class StepSpec:
    """A recovery action, run over the OOB path only."""

    name: str
    kind: str
    origin: Origin
    timeout_s: float = 60.0
    command: str | None = None
    script: str | None = None
    args: tuple[str, ...] = ()
    node: str | None = None
    user: str = "root"
    probes: tuple[str, ...] = ()
    duration_s: float = 0.0
    continue_on_error: bool = False
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    transport: str = "ssh"
    console_lines: tuple[ConsoleLineSpec, ...] = ()
    prompt: str | None = None
    password: str | None = field(default=None, repr=False)
    url: str | None = None
    clear_line: bool = True
    via: str | None = None
    config: bool = False


@dataclass(frozen=True)
class Timing:
    """Windows and limits of the run, in seconds."""

    baseline_s: float = 2.0
    settle_s: float = 2.0
    detect_timeout_s: float = 30.0
    recover_timeout_s: float = 120.0
    steps_start: str = "on_detect"


@dataclass(frozen=True)
class StopConditions:
    """When to abort the drill and restore at once."""

    max_outage_s: float | None = None
    guard_probes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A validated drill scenario."""

    name: str
    path: str
    lab: LabRef
    faults: tuple[FaultSpec, ...]
    probes: tuple[ProbeSpec, ...]
    steps: tuple[StepSpec, ...]
    sla: dict[str, float]
    timing: Timing = Timing()
    stop: StopConditions = StopConditions()
    verify: tuple[ProbeSpec, ...] = ()
    description: str = ""
    tags: tuple[str, ...] = ()
    hardening: tuple[str, ...] = ()
    secrets: frozenset[str] = field(default=frozenset(), repr=False)

    def probe(self, name: str) -> ProbeSpec:
        for probe in self.probes:
            if probe.name == name:
                return probe
        raise KeyError(name)

    @property
    def guard_names(self) -> set[str]:
        return {p.name for p in self.probes if p.role == "guard"} | set(self.stop.guard_probes)
