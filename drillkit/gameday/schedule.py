"""Scheduled drills: cron schedules, blackout calendars, systemd and cron entries, and due runs.

A schedule is stored in the history database. ``drillkit schedule run-due`` is
the one place that decides whether a drill runs: a cron slot is due when it
passed less than the grace time ago, was not handled before, and its date is
not in the blackout calendar. The systemd timer or cron entry that
``install`` writes only wakes ``run-due`` up: at the cron times themselves
when the expression translates, otherwise every minute.

Unattended runs use automated playbooks only: a scenario with steps of kind
``operator`` (a person at a console) is rejected, when the schedule is added
and again before each run.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import shlex
import sqlite3
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..errors import DrillkitError, ScenarioError
from ..yamldoc import Field
from . import history
from .yamlfile import load_yaml
from .errors import BlackoutError, ScheduleError

log = logging.getLogger(__name__)

_SCHEDULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
DEFAULT_GRACE_S = 600.0
SYSTEMD_DEST = "/etc/systemd/system"
CRON_DEST = "/etc/cron.d"
CRON_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
# Outcomes stored per cron slot.
RUNNING, RAN, SKIPPED, REJECTED, ERROR = "running", "ran", "skipped", "rejected", "error"


# -- cron expressions ---------------------------------------------------------------


def normalize_cron(expr: str) -> str:
    """Return the five-field form of a cron expression, expanding @daily and the other macros.

    Raises:
        ScheduleError: the expression is invalid or not five fields.
    """
    text = " ".join(expr.split())
    text = CRON_MACROS.get(text.lower(), text)
    if text.lower() == "@reboot":
        raise ScheduleError("@reboot is not a schedule a drill can keep; give the five cron fields")
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(f"invalid cron expression {expr!r}: expected five fields (minute hour day-of-month "
                            "month day-of-week), such as \"0 3 * * 1\" for Mondays at 03:00")
    if not croniter.is_valid(text):
        raise ScheduleError(f"invalid cron expression {expr!r}; write five fields such as \"0 3 * * 1\" "
                            "(minute hour day-of-month month day-of-week)")
    return text


_MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_SYSTEMD_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_PART = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def _field_values(text: str, lo: int, hi: int, names: dict[str, int]) -> set[int] | None:
    """Expand one cron field into its values, or None for syntax this translation does not cover."""
    values: set[int] = set()

    def number(token: str) -> int | None:
        if token in names:
            return names[token]
        return int(token) if token.isdigit() else None

    for part in text.lower().split(","):
        match = _PART.match(part)
        if match is None:
            return None
        base, step_text = match.group(1), match.group(2)
        step = int(step_text) if step_text else 1
        if step == 0:
            return None
        if base == "*":
            first, last = lo, hi
        elif "-" in base:
            a, b = (number(t) for t in base.split("-"))
            if a is None or b is None:
                return None
            first, last = a, b
        else:
            single = number(base)
            if single is None:
                return None
            first, last = single, hi if step_text else single
        if first > last or first < lo or last > hi:
            return None
        values.update(range(first, last + 1, step))
    return values


def _systemd_numbers(values: set[int], lo: int, hi: int, width: int) -> str:
    if values == set(range(lo, hi + 1)):
        return "*"
    ordered = sorted(values)
    if len(ordered) > 2:
        step = ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(ordered[0], hi + 1, step)):
            return f"{ordered[0]:0{width}d}/{step}"
    return ",".join(_runs(ordered, lambda v: f"{v:0{width}d}"))


def _runs(ordered: list[int], fmt: Callable[[int], str]) -> list[str]:
    """Write runs of three or more consecutive values as systemd ranges (a..b)."""
    out: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{fmt(ordered[i])}..{fmt(ordered[j])}")
        else:
            out.extend(fmt(v) for v in ordered[i:j + 1])
        i = j + 1
    return out


def cron_to_oncalendar(expr: str, timezone: str | None = None) -> str | None:
    """Translate a cron expression into a systemd OnCalendar value, or return None when it cannot be exact.

    Not translated: expressions that restrict both day of month and day of week
    (cron fires when either matches, systemd only when both do), and croniter
    extensions such as L, W, # and ?.
    """
    minute, hour, dom, month, dow = normalize_cron(expr).split(" ")
    if dom != "*" and dow != "*":
        return None
    parsed = [_field_values(minute, 0, 59, {}), _field_values(hour, 0, 23, {}), _field_values(dom, 1, 31, {}),
              _field_values(month, 1, 12, _MONTHS), _field_values(dow, 0, 7, _WEEKDAYS)]
    if None in parsed:
        return None
    minutes, hours, days, months, cron_weekdays = cast("list[set[int]]", parsed)
    weekdays = {d % 7 for d in cron_weekdays}
    day_part = ""
    if weekdays != set(range(7)):
        # systemd ranges run Monday to Sunday, so order Monday first.
        monday_first = sorted((d - 1) % 7 for d in weekdays)
        day_part = ",".join(_runs(monday_first, lambda v: _SYSTEMD_WEEKDAYS[(v + 1) % 7])) + " "
    text = (f"{day_part}*-{_systemd_numbers(months, 1, 12, 2)}-{_systemd_numbers(days, 1, 31, 2)} "
            f"{_systemd_numbers(hours, 0, 23, 2)}:{_systemd_numbers(minutes, 0, 59, 2)}:00")
    return f"{text} {timezone}" if timezone else text


def _zone(name: str | None) -> _dt.tzinfo:
    """Return the named zone, or the host's local zone for None (as cron and systemd use)."""
    if name:
        return ZoneInfo(name)
    local = _dt.datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown timezone {name!r}; use an IANA name such as Europe/Berlin or UTC") from None
    return name


# -- blackout calendars ---------------------------------------------------------------


@dataclass(frozen=True)
class Blackout:
    """Dates (inclusive) on which no scheduled drill may run, and why."""

    start: _dt.date
    end: _dt.date
    reason: str
    line: int | None = None

    def covers(self, day: _dt.date) -> bool:
        return self.start <= day <= self.end

    def describe(self) -> str:
        days = str(self.start) if self.start == self.end else f"{self.start} to {self.end}"
        return f"blackout {days}: {self.reason}"


def _date(f: Field) -> _dt.date:
    value = f.value
    if isinstance(value, _dt.datetime):
        raise f.fail("a date and time", "write only the date, such as 2026-12-24")
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise f.fail("invalid date", "write YYYY-MM-DD, such as 2026-12-24")


def load_blackout(path: str | Path, *, text: str | None = None) -> list[Blackout]:
    """Read a blackout calendar: a YAML list of ``{date, reason}`` or ``{from, to, reason}`` entries.

    Raises:
        BlackoutError: the file is invalid; the message names the line.
    """
    path = str(path)
    raw = load_yaml(path, error=BlackoutError, text=text, what="blackout calendar")
    root = Field(raw, path, error=BlackoutError)
    if isinstance(raw, dict):
        root.check_keys({"blackouts"})
        root = root.require("blackouts", "list the blackout dates under blackouts:")
    periods = []
    for item in root.sequence():
        if not isinstance(item.value, dict):
            raise item.fail("a blackout entry must be a mapping",
                            "write - {date: 2026-12-24, reason: ...} or - {from: ..., to: ..., reason: ...}")
        item.check_keys({"date", "from", "to", "reason"})
        reason = item.require("reason", "add reason: why no drill may run then").str()
        if item.has("date"):
            if item.has("from") or item.has("to"):
                raise item.fail("an entry has either date or from and to", "split it into two entries",
                                show_value=False)
            day = _date(item["date"])
            periods.append(Blackout(day, day, reason, item.line))
            continue
        start = _date(item.require("from", "add from: YYYY-MM-DD (or date: for a single day)"))
        end = _date(item.require("to", "add to: YYYY-MM-DD, the last day of the blackout"))
        if end < start:
            raise item["to"].fail("the blackout ends before it starts", "give a to: date on or after from:")
        periods.append(Blackout(start, end, reason, item.line))
    return periods


def blackout_on(day: _dt.date, calendar: list[Blackout]) -> Blackout | None:
    return next((b for b in calendar if b.covers(day)), None)


# -- unattended scenarios ------------------------------------------------------------


def operator_steps(scenario_path: str | Path) -> list[tuple[str, int | None]]:
    """Return (name, line) of each step of kind ``operator`` in a scenario file."""
    raw = load_yaml(str(scenario_path), error=ScenarioError, what="scenario")
    root = Field(raw, str(scenario_path), error=ScenarioError)
    if not isinstance(raw, dict) or not root.has("steps") or not isinstance(raw["steps"], list):
        return []
    found = []
    for index, step in enumerate(root["steps"].sequence()):
        if isinstance(step.value, dict) and step.value.get("kind") == "operator":
            found.append((str(step.value.get("name") or f"steps[{index}]"), step.line))
    return found


def check_unattended(scenario_path: str | Path) -> None:
    """Reject a scenario that needs a person: it has steps of kind ``operator``.

    Raises:
        ScheduleError: the scenario has operator steps.
    """
    steps = operator_steps(scenario_path)
    if steps:
        where = ", ".join(f"{name!r} ({scenario_path}:{line})" for name, line in steps)
        raise ScheduleError(f"scenario {scenario_path} cannot run unattended: it has operator steps {where}, which "
                            "need a person at a console. Scheduled runs use automated playbooks only: replace "
                            "them with jail, ssh, console or python steps, or run the scenario in a game day "
                            "(drillkit gameday)")


# -- the schedule store -------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A stored schedule: when to run which scenario, and where its reports go."""

    name: str
    cron: str
    scenario: str
    blackout: str | None
    timezone: str | None
    lab_up: bool
    reports: str
    created: str

    @property
    def zone(self) -> _dt.tzinfo:
        return _zone(self.timezone)

    def next_run(self, after: _dt.datetime) -> _dt.datetime:
        return croniter(normalize_cron(self.cron), after.astimezone(self.zone)).get_next(_dt.datetime)


def _row_to_schedule(row: sqlite3.Row) -> Schedule:
    return Schedule(name=row["name"], cron=row["cron"], scenario=row["scenario_file"], blackout=row["blackout_file"],
                    timezone=row["timezone"], lab_up=bool(row["lab_up"]), reports=row["reports_dir"],
                    created=row["created"])


def add_schedule(name: str, *, cron: str, scenario: str | Path, blackout: str | Path | None = None,
                 timezone: str | None = None, lab_up: bool = False, reports: str | Path = "reports",
                 replace: bool = False, db: str | Path | None = None,
                 now: _dt.datetime | None = None) -> Schedule:
    """Validate and store a schedule; paths are stored absolute.

    Raises:
        ScheduleError: invalid name, cron expression or timezone, a scenario with
            operator steps, or the name exists and ``replace`` is off.
        ScenarioError, BlackoutError: the scenario or blackout file is invalid.
    """
    from ..scenario.load import load_scenario

    if not _SCHEDULE_NAME.match(name):
        raise ScheduleError(f"invalid schedule name {name!r}: use letters, digits, '-' and '_' (it becomes part of "
                            "the systemd unit and cron.d file names)")
    cron_text = " ".join(cron.split())
    normalize_cron(cron_text)
    if timezone:
        check_timezone(timezone)
    scenario_path = Path(scenario).resolve()
    check_unattended(scenario_path)
    load_scenario(scenario_path)
    blackout_path = None
    if blackout:
        blackout_path = Path(blackout).resolve()
        load_blackout(blackout_path)
    created = history.iso_utc(now or history.utc_now())
    schedule = Schedule(name=name, cron=cron_text, scenario=str(scenario_path),
                        blackout=str(blackout_path) if blackout_path else None, timezone=timezone or None,
                        lab_up=lab_up, reports=str(Path(reports).resolve()), created=created)
    with history.connect(db) as conn:
        exists = conn.execute("SELECT 1 FROM schedules WHERE name = ?", (name,)).fetchone()
        if exists and not replace:
            raise ScheduleError(f"schedule {name!r} exists already; pass --replace to change it, or remove it "
                                f"with 'drillkit schedule remove {name}'")
        conn.execute("INSERT OR REPLACE INTO schedules (name, cron, scenario_file, blackout_file, timezone, lab_up, "
                     "reports_dir, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (schedule.name, schedule.cron, schedule.scenario, schedule.blackout, schedule.timezone,
                      int(schedule.lab_up), schedule.reports, schedule.created))
    return schedule


def list_schedules(*, db: str | Path | None = None) -> list[Schedule]:
    with history.connect(db) as conn:
        return [_row_to_schedule(r) for r in conn.execute("SELECT * FROM schedules ORDER BY name")]


def get_schedule(name: str, *, db: str | Path | None = None) -> Schedule:
    with history.connect(db) as conn:
        row = conn.execute("SELECT * FROM schedules WHERE name = ?", (name,)).fetchone()
        known = [r["name"] for r in conn.execute("SELECT name FROM schedules ORDER BY name")]
    if row is None:
        hint = f"schedules: {', '.join(known)}" if known else "add one with 'drillkit schedule add'"
        raise ScheduleError(f"schedule {name!r} not found in {history.resolve_db(db)}; {hint}")
    return _row_to_schedule(row)


def remove_schedule(name: str, *, db: str | Path | None = None) -> None:
    get_schedule(name, db=db)
    with history.connect(db) as conn:
        conn.execute("DELETE FROM schedules WHERE name = ?", (name,))


def last_outcome(name: str, *, db: str | Path | None = None) -> dict[str, Any] | None:
    with history.connect(db) as conn:
        row = conn.execute("SELECT * FROM schedule_runs WHERE schedule = ? ORDER BY slot DESC LIMIT 1",
                           (name,)).fetchone()
    return dict(row) if row else None


# -- systemd and cron entries ---------------------------------------------------------


def unit_name(schedule_name: str) -> str:
    return f"drillkit-schedule-{schedule_name}"


def _systemd_arg(arg: str) -> str:
    """Quote one ExecStart argument: systemd expands % specifiers and $ variables, and splits on spaces."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./$-]+", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_due_argv(schedule: Schedule, *, python: str, db: Path) -> list[str]:
    return [python, "-m", "drillkit", "schedule", "run-due", "--db", str(db), "--name", schedule.name]


def render_systemd(schedule: Schedule, *, python: str, db: Path) -> dict[str, str]:
    """Return the service and timer files of a schedule, by file name."""
    unit = unit_name(schedule.name)
    calendar = cron_to_oncalendar(schedule.cron, schedule.timezone)
    exec_start = " ".join(_systemd_arg(a) for a in run_due_argv(schedule, python=python, db=db))
    service = (
        "[Unit]\n"
        f"Description=drillkit scheduled drill {schedule.name} ({Path(schedule.scenario).name})\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
        "Environment=PYTHONUNBUFFERED=1\n"
    )
    if calendar is None:
        comment = (f"# The cron expression \"{schedule.cron}\" has no exact OnCalendar form, so the timer fires\n"
                   "# every minute and 'drillkit schedule run-due' runs the drill only in the cron slots.\n")
        on_calendar = "*-*-* *:*:00" + (f" {schedule.timezone}" if schedule.timezone else "")
    else:
        comment = (f"# From the cron expression \"{schedule.cron}\"; 'drillkit schedule run-due' checks it again\n"
                   "# and skips blackout dates.\n")
        on_calendar = calendar
    timer = (
        "[Unit]\n"
        f"Description=drillkit schedule {schedule.name}: {schedule.cron}"
        f"{' (' + schedule.timezone + ')' if schedule.timezone else ''}\n"
        "\n"
        "[Timer]\n"
        f"{comment}"
        f"OnCalendar={on_calendar}\n"
        "AccuracySec=1s\n"
        "# A drill missed while the machine was off is not run late.\n"
        "Persistent=false\n"
        f"Unit={unit}.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{unit}.service": service, f"{unit}.timer": timer}


def render_cron(schedule: Schedule, *, python: str, db: Path) -> tuple[str, str]:
    """Return the cron.d file name and content of a schedule."""
    cron = normalize_cron(schedule.cron)
    exact = cron_to_oncalendar(cron) is not None and not schedule.timezone
    log_path = db.parent / f"schedule-{schedule.name}.log"
    # cron turns an unescaped % in the command into a newline.
    command = shlex.join(run_due_argv(schedule, python=python, db=db)).replace("%", "\\%")
    command += f" >> {shlex.quote(str(log_path))} 2>&1".replace("%", "\\%")
    if exact:
        note = "# Runs at the cron times; 'drillkit schedule run-due' skips blackout dates.\n"
        when = cron
    else:
        reason = (f"the schedule's timezone {schedule.timezone} may differ from the host's" if schedule.timezone
                  else "cron and croniter read this expression differently")
        note = (f"# Every minute, because {reason}: 'drillkit schedule run-due' runs the drill only in the\n"
                f"# slots of \"{schedule.cron}\" and skips blackout dates.\n")
        when = "* * * * *"
    text = (f"# drillkit schedule {schedule.name}: {schedule.scenario}\n"
            f"{note}"
            "SHELL=/bin/sh\n"
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
            f"{when} root {command}\n")
    # cron.d ignores files whose names contain a dot.
    return unit_name(schedule.name), text


def install(schedule: Schedule, kind: str, dest: str | Path | None = None, *, db: str | Path | None = None,
            python: str | None = None) -> list[Path]:
    """Write the systemd units or cron.d entry of a schedule into a folder; nothing is enabled or started.

    Args:
        schedule: the schedule.
        kind: ``systemd`` or ``cron``.
        dest: the folder (default /etc/systemd/system or /etc/cron.d).
        db: the history database the entries pass to ``run-due``.
        python: the interpreter the entries run (default: this one).

    Raises:
        ScheduleError: the folder does not exist or cannot be written.
    """
    folder = Path(dest or (SYSTEMD_DEST if kind == "systemd" else CRON_DEST))
    if not folder.is_dir():
        raise ScheduleError(f"destination folder {folder} not found; create it or pass --dest DIR")
    python = python or sys.executable
    db_path = history.resolve_db(db).resolve()
    if kind == "systemd":
        files = render_systemd(schedule, python=python, db=db_path)
    elif kind == "cron":
        name, text = render_cron(schedule, python=python, db=db_path)
        files = {name: text}
    else:
        raise ScheduleError(f"unknown entry kind {kind!r}; use systemd or cron")
    written = []
    for name, text in files.items():
        path = folder / name
        try:
            path.write_text(text, encoding="utf-8")
            os.chmod(path, 0o644)
        except OSError as exc:
            raise ScheduleError(f"cannot write {path}: {exc}") from None
        written.append(path)
    return written


# -- due runs -----------------------------------------------------------------------


@dataclass
class DueOutcome:
    """Outcome of one due slot of a schedule in ``run_due``."""

    schedule: str
    slot: _dt.datetime | None
    outcome: str
    exit_code: int = 0
    run_id: str | None = None
    detail: str = ""
    interrupted: bool = False


#: Runs the scenario of a schedule and returns its DrillResult.
DrillFn = Callable[[Schedule, Callable[[str], None]], Any]


def run_scheduled_drill(schedule: Schedule, progress: Callable[[str], None]) -> Any:
    from ..engine.runner import DrillRunner
    from ..scenario.load import load_scenario

    scenario = load_scenario(schedule.scenario)
    return DrillRunner(scenario, reports_dir=schedule.reports, lab_up=schedule.lab_up, progress=progress).run()


def due_slot(schedule: Schedule, now: _dt.datetime, grace_s: float = DEFAULT_GRACE_S) -> _dt.datetime | None:
    """Return the latest cron slot at or before ``now`` if it is less than ``grace_s`` old, else None.

    Slots before the schedule was added are never due.
    """
    local_now = now.astimezone(schedule.zone)
    # croniter's get_prev is strictly before its start, so start one second later to include now.
    slot = croniter(normalize_cron(schedule.cron), local_now + _dt.timedelta(seconds=1)).get_prev(_dt.datetime)
    if (local_now - slot).total_seconds() >= grace_s:
        return None
    if slot < _dt.datetime.fromisoformat(schedule.created):
        return None
    return slot


def _claim(schedule: Schedule, slot: _dt.datetime, db: str | Path | None) -> bool:
    """Claim a slot so that no other trigger runs it too; False when it was handled already."""
    with history.connect(db) as conn:
        cursor = conn.execute("INSERT OR IGNORE INTO schedule_runs (schedule, slot, started, outcome) "
                              "VALUES (?, ?, ?, ?)",
                              (schedule.name, history.iso_utc(slot), history.iso_utc(history.utc_now()), RUNNING))
        return cursor.rowcount == 1


def _settle(outcome: DueOutcome, db: str | Path | None) -> DueOutcome:
    assert outcome.slot is not None
    with history.connect(db) as conn:
        conn.execute("UPDATE schedule_runs SET outcome = ?, exit_code = ?, run_id = ?, detail = ? "
                     "WHERE schedule = ? AND slot = ?",
                     (outcome.outcome, outcome.exit_code, outcome.run_id, outcome.detail, outcome.schedule,
                      history.iso_utc(outcome.slot)))
    return outcome


def run_due(*, now: _dt.datetime | None = None, names: list[str] | None = None, grace_s: float = DEFAULT_GRACE_S,
            db: str | Path | None = None, run_drill: DrillFn | None = None,
            progress: Callable[[str], None] | None = None,
            say: Callable[[str], None] | None = None) -> list[DueOutcome]:
    """Run every schedule (or those named) whose cron slot is due at ``now``, one after the other.

    Returns:
        One outcome per schedule whose slot was due; schedules with nothing due are left out.
    """
    now = now or history.utc_now()
    say = say or (lambda text: print(text, flush=True))
    run_drill = run_drill or run_scheduled_drill
    schedules = [get_schedule(n, db=db) for n in names] if names else list_schedules(db=db)
    outcomes = []
    for schedule in schedules:
        slot = due_slot(schedule, now, grace_s)
        if slot is None or not _claim(schedule, slot, db):
            continue
        outcome = _run_slot(schedule, slot, db=db, run_drill=run_drill, progress=progress or say, say=say)
        outcomes.append(_settle(outcome, db))
        if outcome.interrupted:
            break
    return outcomes


def _run_slot(schedule: Schedule, slot: _dt.datetime, *, db: str | Path | None, run_drill: DrillFn,
              progress: Callable[[str], None], say: Callable[[str], None]) -> DueOutcome:
    label = f"schedule {schedule.name} slot {slot.isoformat(timespec='minutes')}"
    if schedule.blackout:
        try:
            blackout = blackout_on(slot.date(), load_blackout(schedule.blackout))
        except DrillkitError as exc:
            say(f"{label}: not run: {exc}")
            return DueOutcome(schedule.name, slot, ERROR, 2, detail=str(exc))
        if blackout is not None:
            say(f"{label}: skipped, {blackout.describe()}")
            return DueOutcome(schedule.name, slot, SKIPPED, 0, detail=blackout.describe())
    try:
        check_unattended(schedule.scenario)
    except ScheduleError as exc:
        say(f"{label}: rejected: {exc}")
        return DueOutcome(schedule.name, slot, REJECTED, 2, detail=str(exc))
    except DrillkitError as exc:
        say(f"{label}: not run: {exc}")
        return DueOutcome(schedule.name, slot, ERROR, 2, detail=str(exc))
    say(f"{label}: running {schedule.scenario}")
    try:
        result = run_drill(schedule, progress)
    except DrillkitError as exc:
        say(f"{label}: the drill could not run: {exc}")
        return DueOutcome(schedule.name, slot, ERROR, exc.exit_code, detail=str(exc))
    try:
        history.record_run(Path(result.run_dir) / "summary.json", db=db, schedule=schedule.name, source="schedule")
    except history.HistoryError as exc:
        log.warning("run %s was not recorded in the history: %s", result.run_id, exc)
        say(f"WARNING: run {result.run_id} was not recorded in the history: {exc}")
    stop = getattr(result, "stop_reason", None) or ""
    say(f"{label}: {result.status.upper()} (exit {result.exit_code}), report {getattr(result, 'report_path', None)}")
    return DueOutcome(schedule.name, slot, RAN, result.exit_code, run_id=result.run_id,
                      detail=f"{result.status}" + (f": {stop}" if stop else ""),
                      interrupted=stop.startswith("interrupted"))


def run_forever(*, stop: threading.Event, names: list[str] | None = None, grace_s: float = DEFAULT_GRACE_S,
                db: str | Path | None = None, run_drill: DrillFn | None = None,
                now: Callable[[], _dt.datetime] | None = None,
                progress: Callable[[str], None] | None = None,
                say: Callable[[str], None] | None = None) -> int:
    """Check the schedules once a minute until ``stop`` is set or a drill is interrupted.

    Returns:
        The highest exit status of the drills that ran (0 if none).
    """
    clock = now or history.utc_now
    say = say or (lambda text: print(text, flush=True))
    worst = 0
    say(f"scheduler started: {len(list_schedules(db=db)) if not names else len(names)} schedule(s), "
        f"checked every minute; Ctrl-C stops it")
    while not stop.is_set():
        outcomes = run_due(now=clock(), names=names, grace_s=grace_s, db=db, run_drill=run_drill,
                           progress=progress, say=say)
        worst = max([worst] + [o.exit_code for o in outcomes])
        if any(o.interrupted for o in outcomes):
            say("scheduler stopped: a drill was interrupted")
            break
        current = clock()
        # Wake one second into the next minute, so that minute's slot has started.
        wait = 61 - current.second - current.microsecond / 1e6
        stop.wait(max(wait, 1.0))
    return worst
