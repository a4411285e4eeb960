"""Game-day plan files: who takes part, when, which drills in which order, and who approves them.

A plan is YAML::

    name: q4-edge-gameday
    window: {start: "2026-12-05 09:00", end: "2026-12-05 12:00", timezone: Europe/Berlin}
    roles:
      facilitator: alice
      noc: [bob, carol]
      network-owner: dave
    approvals: [network-owner]          # default for every drill
    lab_up: true                        # build each lab for its drill, remove it afterwards
    sequence:
      - scenario: ../scenarios/edge-uplink-cut.yaml
        approvals: [network-owner, noc]
        sla: {recover: 10s}             # overrides the scenario's target
      - parallel:                       # drills on different labs, at the same time
          - scenario: ../scenarios/edge-uplink-cut.yaml
          - scenario: ../scenarios/frr-primary-cut.yaml
    notes: free text for the after-action review

Every error names the plan file, the line, the field and the fix. Scenario
paths are relative to the plan file.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..lab.topology import load_topology
from ..scenario.load import load_scenario
from ..scenario.model import SLA_NAMES, Origin, Scenario
from ..yamldoc import Field
from .yamlfile import load_yaml
from .errors import OptionError, PlanError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
TOP_KEYS = {"name", "description", "notes", "window", "roles", "approvals", "sequence", "lab_up", "reports",
            "stop_on_failure"}
DRILL_KEYS = {"scenario", "name", "approvals", "sla", "notes"}
GROUP_KEYS = {"parallel", "name", "notes"}


@dataclass(frozen=True)
class Window:
    """When the game day may disrupt anything: ``start <= now < end``."""

    start: _dt.datetime
    end: _dt.datetime
    timezone: str

    def contains(self, moment: _dt.datetime) -> bool:
        return self.start <= moment < self.end

    def describe(self) -> str:
        zone = ZoneInfo(self.timezone)
        fmt = "%Y-%m-%d %H:%M"
        return (f"{self.start.astimezone(zone).strftime(fmt)} to {self.end.astimezone(zone).strftime(fmt)} "
                f"{self.timezone}")


@dataclass(frozen=True)
class Role:
    """A game-day role and the people who hold it."""

    name: str
    people: tuple[str, ...]


@dataclass(frozen=True)
class PlanDrill:
    """One scenario of the plan, with its SLA overrides applied and the roles that must approve it."""

    label: str
    name: str
    scenario: Scenario
    lab: str
    approvals: tuple[str, ...]
    sla_override: dict[str, float]
    notes: str
    origin: Origin

    def describe_faults(self) -> str:
        parts = []
        for fault in self.scenario.faults:
            target = fault.link or fault.node or ""
            parts.append(f"{fault.name} ({fault.kind} {target})".replace(" )", ")"))
        return ", ".join(parts)


@dataclass(frozen=True)
class PlanStage:
    """A step of the sequence: one drill, or a group of drills on different labs run at the same time."""

    label: str
    name: str
    drills: tuple[PlanDrill, ...]
    parallel: bool
    notes: str = ""


@dataclass(frozen=True)
class GamedayPlan:
    """A validated game-day plan."""

    name: str
    path: str
    window: Window
    roles: dict[str, Role]
    stages: tuple[PlanStage, ...]
    notes: str = ""
    description: str = ""
    lab_up: bool = False
    reports: str | None = None
    stop_on_failure: bool = False

    @property
    def drills(self) -> list[PlanDrill]:
        return [d for stage in self.stages for d in stage.drills]

    @property
    def people(self) -> list[tuple[str, str]]:
        """Return (name, role) for every person in the plan's roles."""
        return [(person, role.name) for role in self.roles.values() for person in role.people]


def load_plan(path: str | Path, *, text: str | None = None) -> GamedayPlan:
    """Read and validate a game-day plan, loading every scenario it names.

    Raises:
        PlanError: the plan is invalid.
        ScenarioError, TopologyError: a scenario or topology it names is invalid.
    """
    path = str(path)
    raw = load_yaml(path, error=PlanError, text=text, what="game-day plan")
    root = Field(raw, path, error=PlanError).mapping()
    root.check_keys(TOP_KEYS)
    base = Path(path).resolve().parent

    name = root.require("name", "add name: <game day name>").str()
    if not _NAME.match(name):
        raise root["name"].fail("invalid game day name", "use letters, digits, '-', '_' and '.'")
    window = _load_window(root.require("window", "add window: {start: ..., end: ..., timezone: ...}"))
    roles = _load_roles(root.require("roles", "add roles: {ROLE: NAME or [NAMES]}"))
    default_approvals = _load_approvals(root["approvals"], roles) if root.has("approvals") else ()

    sequence = root.require("sequence", "add sequence: a list of '- scenario: FILE' or '- parallel: [...]'")
    stages = []
    for index, item in enumerate(sequence.sequence(), start=1):
        stages.append(_load_stage(item, str(index), base, roles, default_approvals))
    if not stages:
        raise sequence.fail("the sequence is empty", "add at least one '- scenario: FILE'")

    return GamedayPlan(
        name=name, path=path, window=window, roles=roles, stages=tuple(stages),
        notes=_text(root, "notes"), description=_text(root, "description"),
        lab_up=root["lab_up"].bool() if root.has("lab_up") else False,
        reports=str((base / root["reports"].str()).resolve()) if root.has("reports") else None,
        stop_on_failure=root["stop_on_failure"].bool() if root.has("stop_on_failure") else False,
    )


def _text(f: Field, key: str) -> str:
    return f[key].str(allow_empty=True).strip() if f.has(key) else ""


def _load_window(f: Field) -> Window:
    f.mapping()
    f.check_keys({"start", "end", "timezone"})
    tf = f.require("timezone", "add timezone: an IANA name such as Europe/Berlin or UTC")
    zone_name = tf.str()
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise tf.fail("unknown timezone", "use an IANA name such as Europe/Berlin, America/New_York or UTC") from None
    start = _moment(f.require("start", "add start: YYYY-MM-DD HH:MM"), zone)
    end = _moment(f.require("end", "add end: YYYY-MM-DD HH:MM"), zone)
    if end <= start:
        raise f["end"].fail("the window ends before it starts", "give an end after the start")
    return Window(start, end, zone_name)


def _moment(f: Field, zone: ZoneInfo) -> _dt.datetime:
    value = f.value
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, _dt.date):
        raise f.fail("a date without a time", "write the time too, such as 2026-12-05 09:00")
    elif isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise f.fail("invalid date and time", "write YYYY-MM-DD HH:MM, such as 2026-12-05 09:00") from None
    else:
        raise f.fail("invalid date and time", "write YYYY-MM-DD HH:MM, such as 2026-12-05 09:00")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _load_roles(f: Field) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for role_name, people_field in f.items():
        if not _NAME.match(role_name):
            raise people_field.fail(f"invalid role name {role_name!r}", "use letters, digits, '-', '_' and '.'",
                                    show_value=False)
        people = tuple(person.strip() for person in people_field.str_list())
        if not people:
            raise people_field.fail(f"role {role_name!r} has nobody", "name at least one person")
        for person, person_field in zip(people, people_field.sequence() if isinstance(people_field.value, list)
                                        else [people_field]):
            if "=" in person or "," in person:
                raise person_field.fail("a name must not contain '=' or ','",
                                        "write the name alone, as it is typed at the approval prompt")
        roles[role_name] = Role(role_name, people)
    if not roles:
        raise f.fail("no roles", "add at least one role, such as facilitator: NAME")
    return roles


def _load_approvals(f: Field, roles: dict[str, Role]) -> tuple[str, ...]:
    items = [f] if isinstance(f.value, str) else f.sequence()
    out = []
    for item in items:
        role = item.str()
        if role not in roles:
            raise item.fail("unknown role", f"name a role of the plan: {', '.join(roles)}")
        if role not in out:
            out.append(role)
    return tuple(out)


def _load_stage(f: Field, label: str, base: Path, roles: dict[str, Role],
                default_approvals: tuple[str, ...]) -> PlanStage:
    f.mapping()
    if f.has("parallel") and f.has("scenario"):
        raise f.fail("an item has either scenario or parallel, not both",
                     "split it into two items", show_value=False)
    if not f.has("parallel"):
        drill = _load_drill(f, label, base, roles, default_approvals)
        return PlanStage(label, drill.name, (drill,), parallel=False, notes=drill.notes)

    f.check_keys(GROUP_KEYS)
    group = f["parallel"]
    drills: list[PlanDrill] = []
    labs: dict[str, PlanDrill] = {}
    for index, item in enumerate(group.sequence(), start=1):
        item.mapping()
        if item.has("parallel"):
            raise item["parallel"].fail("parallel groups cannot be nested", "list scenarios only",
                                        show_value=False)
        drill = _load_drill(item, f"{label}.{index}", base, roles, default_approvals)
        if drill.lab in labs:
            first = labs[drill.lab]
            raise item["scenario"].fail(
                f"drills in one parallel group must use different labs: {first.name} (line {first.origin.line}) "
                f"and {drill.name} both use lab {drill.lab}",
                "move one of them to its own item of the sequence, or run it on a copy of the lab "
                "with another name", show_value=False)
        labs[drill.lab] = drill
        drills.append(drill)
    if len(drills) < 2:
        raise group.fail("a parallel group needs at least two scenarios", "list two or more, or use a plain item",
                         show_value=False)
    name = f["name"].str() if f.has("name") else " + ".join(d.name for d in drills)
    return PlanStage(label, name, tuple(drills), parallel=True, notes=_text(f, "notes"))


def _load_drill(f: Field, label: str, base: Path, roles: dict[str, Role],
                default_approvals: tuple[str, ...]) -> PlanDrill:
    f.check_keys(DRILL_KEYS)
    sf = f.require("scenario", "add scenario: path/to/scenario.yaml")
    try:
        scenario_path = (base / sf.str()).resolve()
    except (OSError, ValueError, RuntimeError):
        raise sf.fail("invalid path", "write a path relative to the plan file") from None
    if not scenario_path.is_file():
        raise sf.fail(f"scenario file not found at {scenario_path}", "paths are relative to the plan file")
    scenario = load_scenario(scenario_path)
    lab = load_topology(scenario.lab.topology).name

    override: dict[str, float] = {}
    if f.has("sla"):
        sla_field = f["sla"]
        sla_field.check_keys(set(SLA_NAMES))
        for key, vf in sla_field.items():
            override[key] = vf.duration(allow_zero=False)
        if "stale_data" in override and not any(p.kind == "freshness" for p in scenario.probes):
            raise sla_field["stale_data"].fail(
                f"scenario {scenario.name} has no freshness probe, so stale_data cannot be measured",
                "remove the stale_data target")
        scenario = dataclasses.replace(scenario, sla={**scenario.sla, **override})
    approvals = _load_approvals(f["approvals"], roles) if f.has("approvals") else default_approvals
    name = f["name"].str() if f.has("name") else scenario.name
    return PlanDrill(label=label, name=name, scenario=scenario, lab=lab, approvals=approvals,
                     sla_override=override, notes=_text(f, "notes"), origin=Origin(f.path, f.line))


def describe_plan(plan: GamedayPlan, now: _dt.datetime) -> list[str]:
    """Return the lines of ``drillkit gameday --dry-run``: window, roles, drills, approvals and targets."""
    inside = "inside" if plan.window.contains(now) else "OUTSIDE"
    lines = [f"game day {plan.name} ({plan.path})"]
    if plan.description:
        lines.append(f"  {plan.description}")
    lines.append(f"window: {plan.window.describe()} (now {inside} the window)")
    lines.append("roles: " + "; ".join(f"{r.name}: {', '.join(r.people)}" for r in plan.roles.values()))
    for stage in plan.stages:
        if stage.parallel:
            lines.append(f"{stage.label}. parallel group {stage.name}:")
        for drill in stage.drills:
            indent = "   " if stage.parallel else ""
            lines.append(f"{indent}{drill.label}. {drill.name}: scenario {drill.scenario.name} on lab {drill.lab}; "
                         f"cuts {drill.describe_faults()}")
            approvals = ", ".join(drill.approvals) if drill.approvals else "none"
            lines.append(f"{indent}   approvals: {approvals}")
            targets = ", ".join(f"{k} {v:g}s" + (" (plan)" if k in drill.sla_override else "")
                                for k, v in drill.scenario.sla.items())
            lines.append(f"{indent}   SLA: {targets or 'none'}")
            if drill.notes:
                lines.append(f"{indent}   notes: {drill.notes}")
    lines.append(f"labs: {'built for each drill and removed afterwards' if plan.lab_up else 'must be up already'}")
    if plan.stop_on_failure:
        lines.append("stops at the first drill that does not pass")
    if plan.notes:
        lines.append("notes: " + plan.notes.replace("\n", "\n  "))
    lines.append("nothing was changed (dry run)")
    return lines


def parse_approvals(values: list[str], plan: GamedayPlan) -> dict[str, str]:
    """Parse ``--approve ROLE=NAME`` options against the plan's roles.

    Raises:
        OptionError: a value is malformed, names an unknown role, or a person who
            does not hold the role.
    """
    out: dict[str, str] = {}
    for value in values:
        role, sep, person = value.partition("=")
        role, person = role.strip(), person.strip()
        if not sep or not role or not person:
            raise OptionError(f"invalid --approve value {value!r}; write --approve ROLE=NAME")
        if role not in plan.roles:
            raise OptionError(f"--approve {value!r}: unknown role {role!r}; roles of {plan.name}: "
                              f"{', '.join(plan.roles)}")
        people = plan.roles[role].people
        match = next((p for p in people if p.casefold() == person.casefold()), None)
        if match is None:
            raise OptionError(f"--approve {value!r}: {person!r} does not hold role {role!r}; "
                              f"{role} is held by {', '.join(people)}")
        out[role] = match
    return out
