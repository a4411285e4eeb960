"""Schedules: cron to OnCalendar, installed entries, due slots, blackout dates and unattended runs.

Entries are written to temporary folders only; nothing is enabled or started.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import SCENARIOS, copy_lab, lab_namespaces, needs_root, run_cli
from drillkit.gameday import history
from drillkit.gameday.errors import BlackoutError, ScheduleError
from drillkit.gameday.schedule import (add_schedule, blackout_on, check_unattended, cron_to_oncalendar, due_slot,
                                       get_schedule, install, load_blackout, normalize_cron, run_due, run_forever)
from gameday_support import drillkit, fake_result, scenario_copy, utc

from croniter import croniter

UPLINK = SCENARIOS / "edge-uplink-cut.yaml"
OPERATOR_STEP = "  - name: call-the-noc\n    kind: operator\n    instructions: phone the NOC\n"


# -- cron expressions ---------------------------------------------------------------

TRANSLATED = [
    ("0 3 * * 1", "Mon *-*-* 03:00:00"),
    ("*/15 * * * *", "*-*-* *:00/15:00"),
    ("5,35 9-17 * * mon-fri", "Mon..Fri *-*-* 09..17:05,35:00"),
    ("0 0 1 * *", "*-*-01 00:00:00"),
    ("@daily", "*-*-* 00:00:00"),
    ("30 2 * jan,jul sun", "Sun *-01,07-* 02:30:00"),
    ("0 */6 * * *", "*-*-* 00/6:00:00"),
    ("0 0 * * 7", "Sun *-*-* 00:00:00"),
    ("10-40/10 1 * * 6,0", "Sat,Sun *-*-* 01:10,20,30,40:00"),
    ("0 4 1-7 * *", "*-*-01..07 04:00:00"),
    ("@hourly", "*-*-* *:00:00"),
]


@pytest.mark.parametrize(("expr", "calendar"), TRANSLATED)
def test_cron_translated(expr, calendar):
    assert cron_to_oncalendar(expr) == calendar


@pytest.mark.parametrize("expr", ["0 3 15 * 1", "0 12 L * *", "0 0 1W * *", "0 0 * * 5#2"])
def test_cron_not_translated(expr):
    assert cron_to_oncalendar(expr) is None


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(("expr", "calendar"), TRANSLATED)
def test_oncalendar_fires_when_cron_does(expr, calendar):
    """systemd-analyze only evaluates the expression; it changes nothing on the host."""
    base = utc(2026, 1, 1, 0, 0) + _dt.timedelta(seconds=30)
    out = subprocess.run(["systemd-analyze", "calendar", "--iterations=8", "--base-time=2026-01-01 00:00:30 UTC",
                          f"{calendar} UTC"], capture_output=True, text=True, check=True,
                         env={"TZ": "UTC", "PATH": "/usr/bin:/bin", "SYSTEMD_COLORS": "0"}).stdout
    systemd_times = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
    itr = croniter(normalize_cron(expr), base)
    cron_times = [itr.get_next(_dt.datetime).strftime("%Y-%m-%d %H:%M:%S") for _ in range(8)]

    assert systemd_times == cron_times


def test_timezone_appended():
    assert cron_to_oncalendar("0 3 * * 1", "Europe/Berlin") == "Mon *-*-* 03:00:00 Europe/Berlin"


@pytest.mark.parametrize(("expr", "message"), [
    ("0 3 * *", "expected five fields"),
    ("0 3 * * 1 2026", "expected five fields"),
    ("61 3 * * 1", "invalid cron expression"),
    ("@reboot", "@reboot is not a schedule"),
])
def test_invalid_cron(expr, message):
    with pytest.raises(ScheduleError, match=message):
        normalize_cron(expr)


# -- blackout calendars ----------------------------------------------------------------


def test_blackout_calendar(tmp_path):
    path = tmp_path / "blackout.yaml"
    path.write_text("- date: 2026-12-24\n  reason: Christmas Eve\n"
                    "- {from: 2026-12-28, to: '2027-01-02', reason: year-end freeze}\n")

    calendar = load_blackout(path)

    assert blackout_on(_dt.date(2026, 12, 24), calendar).reason == "Christmas Eve"
    assert blackout_on(_dt.date(2026, 12, 28), calendar).reason == "year-end freeze"
    assert blackout_on(_dt.date(2027, 1, 2), calendar).reason == "year-end freeze"
    assert blackout_on(_dt.date(2027, 1, 3), calendar) is None
    assert blackout_on(_dt.date(2026, 12, 25), calendar) is None
    assert calendar[1].describe() == "blackout 2026-12-28 to 2027-01-02: year-end freeze"


@pytest.mark.parametrize(("text", "line", "message"), [
    ("- date: 2026-12-24\n", 1, "missing required field 'reason'"),
    ("- date: 2026-12-24\n  reason: x\n- {date: 2026-13-01, reason: y}\n", 3, "invalid date '2026-13-01'"),
    ("- date: 2026-12-24\n  reason: x\n- {date: 24.12.2026, reason: y}\n", 3, "invalid date"),
    ("- {from: 2027-01-02, to: 2026-12-28, reason: z}\n", 1, "the blackout ends before it starts"),
    ("- 2026-12-24\n", 1, "a blackout entry must be a mapping"),
    ("- {date: 2026-12-24, reasons: x}\n", 1, "unknown field 'reasons'"),
])
def test_blackout_errors_name_line(tmp_path, text, line, message):
    path = tmp_path / "blackout.yaml"
    path.write_text(text)

    with pytest.raises(BlackoutError) as caught:
        load_blackout(path)

    assert str(caught.value).startswith(f"{path}:{line}:")
    assert message in str(caught.value)


def test_example_blackout_valid():
    calendar = load_blackout(Path(__file__).resolve().parents[2] / "gamedays" / "blackout.yaml")

    assert len(calendar) == 3


# -- unattended scenarios ------------------------------------------------------------------


def test_operator_steps_rejected(tmp_path):
    path = tmp_path / "attended.yaml"
    path.write_text(UPLINK.read_text().replace("\nsteps:\n", "\nsteps:\n" + OPERATOR_STEP, 1))
    line = path.read_text().splitlines().index("  - name: call-the-noc") + 1

    with pytest.raises(ScheduleError) as caught:
        check_unattended(path)

    message = str(caught.value)
    assert f"'call-the-noc' ({path}:{line})" in message
    assert "cannot run unattended" in message
    assert "drillkit gameday" in message


def test_automated_scenario_accepted():
    check_unattended(UPLINK)


# -- the store, due slots and run-due ------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    return tmp_path / "h.sqlite"


def add(db, tmp_path, *, cron="0 3 * * 1", blackout=None, timezone="UTC", name="weekly", scenario=UPLINK):
    return add_schedule(name, cron=cron, scenario=scenario, blackout=blackout, timezone=timezone,
                        reports=tmp_path / "reports", db=db, now=utc(2026, 1, 1))


def test_add_and_get(tmp_path, db):
    add(db, tmp_path)

    schedule = get_schedule("weekly", db=db)

    assert schedule.cron == "0 3 * * 1"
    assert schedule.scenario == str(UPLINK)
    assert schedule.timezone == "UTC"
    assert schedule.reports == str(tmp_path / "reports")
    assert schedule.next_run(utc(2026, 1, 1)) == utc(2026, 1, 5, 3, 0)


def test_add_twice_needs_replace(tmp_path, db):
    add(db, tmp_path)

    with pytest.raises(ScheduleError, match="exists already; pass --replace"):
        add(db, tmp_path)


def test_add_rejects_operator_scenario(tmp_path, db):
    path = tmp_path / "attended.yaml"
    path.write_text(UPLINK.read_text().replace("\nsteps:\n", "\nsteps:\n" + OPERATOR_STEP, 1))

    with pytest.raises(ScheduleError, match="cannot run unattended"):
        add(db, tmp_path, scenario=path)


def test_add_rejects_bad_name(tmp_path, db):
    with pytest.raises(ScheduleError, match="invalid schedule name 'a.b'"):
        add(db, tmp_path, name="a.b")


def test_unknown_schedule(db):
    with pytest.raises(ScheduleError, match="schedule 'nope' not found"):
        get_schedule("nope", db=db)


def test_due_slot_window(tmp_path, db):
    schedule = add(db, tmp_path)

    assert due_slot(schedule, utc(2026, 1, 5, 3, 0)) == utc(2026, 1, 5, 3, 0)
    assert due_slot(schedule, utc(2026, 1, 5, 3, 9, 59)) == utc(2026, 1, 5, 3, 0)
    assert due_slot(schedule, utc(2026, 1, 5, 3, 10)) is None
    assert due_slot(schedule, utc(2026, 1, 5, 2, 59)) is None
    assert due_slot(schedule, utc(2026, 1, 5, 3, 20), grace_s=3600) == utc(2026, 1, 5, 3, 0)


def test_due_slot_in_schedule_timezone(tmp_path, db):
    schedule = add(db, tmp_path, timezone="Europe/Berlin")

    # 03:00 in Berlin on Monday 5 January 2026 is 02:00 UTC.
    assert due_slot(schedule, utc(2026, 1, 5, 2, 0, 30)) == utc(2026, 1, 5, 2, 0)
    assert due_slot(schedule, utc(2026, 1, 5, 3, 0, 30)) is None


def test_slot_before_schedule_added_not_due(tmp_path, db):
    schedule = add_schedule("late", cron="0 3 * * 1", scenario=UPLINK, timezone="UTC", reports=tmp_path, db=db,
                            now=utc(2026, 1, 5, 3, 5))

    assert due_slot(schedule, utc(2026, 1, 5, 3, 6)) is None


class FakeDrills:
    """Stands in for the drill runner of scheduled runs."""

    def __init__(self, reports: Path, status: str = "passed") -> None:
        self.reports = reports
        self.status = status
        self.runs: list[str] = []

    def __call__(self, schedule, progress):
        self.runs.append(schedule.name)
        progress(f"running {schedule.name}")
        return fake_result(self.reports, "edge-uplink-cut", utc(2026, 1, 5, 3, len(self.runs)), status=self.status)


def test_run_due_runs_once_per_slot(tmp_path, db):
    add(db, tmp_path)
    drills = FakeDrills(tmp_path / "reports")
    lines: list[str] = []

    first = run_due(now=utc(2026, 1, 5, 3, 0, 30), db=db, run_drill=drills, say=lines.append)
    again = run_due(now=utc(2026, 1, 5, 3, 1, 30), db=db, run_drill=drills, say=lines.append)

    assert drills.runs == ["weekly"]
    assert [(o.schedule, o.outcome, o.exit_code) for o in first] == [("weekly", "ran", 0)]
    assert again == []
    [run] = history.list_runs(db=db)
    assert run.schedule == "weekly"
    assert run.source == "schedule"
    assert "schedule weekly slot 2026-01-05T03:00+00:00: running" in lines[0]


def test_run_due_failed_drill_exit_code(tmp_path, db):
    add(db, tmp_path)

    [outcome] = run_due(now=utc(2026, 1, 5, 3, 0, 30), db=db, run_drill=FakeDrills(tmp_path / "r", "failed"),
                        say=lambda _line: None)

    assert outcome.exit_code == 1
    assert outcome.detail == "failed"


def test_run_due_skips_blackout(tmp_path, db):
    blackout = tmp_path / "blackout.yaml"
    blackout.write_text("- {date: 2026-01-05, reason: core upgrade}\n")
    add(db, tmp_path, blackout=blackout)
    drills = FakeDrills(tmp_path / "reports")

    [outcome] = run_due(now=utc(2026, 1, 5, 3, 0, 30), db=db, run_drill=drills, say=lambda _line: None)
    next_week = run_due(now=utc(2026, 1, 12, 3, 0, 30), db=db, run_drill=drills, say=lambda _line: None)

    assert (outcome.outcome, outcome.exit_code) == ("skipped", 0)
    assert outcome.detail == "blackout 2026-01-05: core upgrade"
    assert [o.outcome for o in next_week] == ["ran"]
    assert drills.runs == ["weekly"]


def test_run_due_rejects_scenario_changed_to_attended(tmp_path, db):
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(UPLINK.read_text().replace("../labs/", f"{UPLINK.parent.parent}/labs/")
                        .replace("script: playbooks/", f"script: {UPLINK.parent}/playbooks/"))
    add(db, tmp_path, scenario=scenario)
    scenario.write_text(scenario.read_text().replace("\nsteps:\n", "\nsteps:\n" + OPERATOR_STEP, 1))
    drills = FakeDrills(tmp_path / "reports")

    [outcome] = run_due(now=utc(2026, 1, 5, 3, 0, 30), db=db, run_drill=drills, say=lambda _line: None)

    assert (outcome.outcome, outcome.exit_code) == ("rejected", 2)
    assert "cannot run unattended" in outcome.detail
    assert drills.runs == []
    with history.connect(db) as conn:
        row = conn.execute("SELECT outcome, detail FROM schedule_runs").fetchone()
    assert row["outcome"] == "rejected"


def test_run_forever_checks_each_minute(tmp_path, db):
    add(db, tmp_path, cron="*/2 * * * *")
    drills = FakeDrills(tmp_path / "reports")
    clock = iter([utc(2026, 1, 5, 3, 0, 5), utc(2026, 1, 5, 3, 0, 6), utc(2026, 1, 5, 3, 1, 1),
                  utc(2026, 1, 5, 3, 1, 2), utc(2026, 1, 5, 3, 2, 1), utc(2026, 1, 5, 3, 2, 2)])
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout=None):
            waits.append(timeout)
            if len(waits) == 3:
                self.set()
            return self.is_set()

    worst = run_forever(stop=Stop(), db=db, run_drill=drills, now=lambda: next(clock), say=lambda _line: None)

    assert worst == 0
    assert drills.runs == ["weekly", "weekly"]
    assert waits == [pytest.approx(55.0), pytest.approx(59.0), pytest.approx(59.0)]


# -- installed entries -----------------------------------------------------------------


def test_install_systemd_files(tmp_path, db):
    schedule = add(db, tmp_path, timezone="Europe/Berlin")
    dest = tmp_path / "systemd"
    dest.mkdir()

    written = install(schedule, "systemd", dest, db=db, python="/opt/venv/bin/python")

    assert [p.name for p in written] == ["drillkit-schedule-weekly.service", "drillkit-schedule-weekly.timer"]
    service = (dest / "drillkit-schedule-weekly.service").read_text()
    timer = (dest / "drillkit-schedule-weekly.timer").read_text()
    assert "Type=oneshot\n" in service
    assert (f"ExecStart=/opt/venv/bin/python -m drillkit schedule run-due --db {db.resolve()} --name weekly\n"
            in service)
    assert "OnCalendar=Mon *-*-* 03:00:00 Europe/Berlin\n" in timer
    assert "Persistent=false\n" in timer
    assert "Unit=drillkit-schedule-weekly.service\n" in timer
    assert "WantedBy=timers.target\n" in timer
    assert stat.S_IMODE((dest / "drillkit-schedule-weekly.timer").stat().st_mode) == 0o644


def test_install_systemd_per_minute_fallback(tmp_path, db):
    schedule = add(db, tmp_path, cron="0 3 15 * 1", timezone=None)
    dest = tmp_path / "systemd"
    dest.mkdir()

    install(schedule, "systemd", dest, db=db)

    timer = (dest / "drillkit-schedule-weekly.timer").read_text()
    assert "OnCalendar=*-*-* *:*:00\n" in timer
    assert "has no exact OnCalendar form" in timer


def test_install_systemd_quotes_paths(tmp_path):
    db = tmp_path / "with space" / "h 100%.sqlite"
    schedule = add(db, tmp_path)
    dest = tmp_path / "systemd"
    dest.mkdir()

    install(schedule, "systemd", dest, db=db, python=sys.executable)

    service = (dest / "drillkit-schedule-weekly.service").read_text()
    assert f'--db "{tmp_path}/with space/h 100%%.sqlite"' in service


def test_install_cron_exact(tmp_path, db):
    schedule = add(db, tmp_path, timezone=None)
    dest = tmp_path / "cron.d"
    dest.mkdir()

    [path] = install(schedule, "cron", dest, db=db, python="/opt/venv/bin/python")

    assert path.name == "drillkit-schedule-weekly"
    lines = path.read_text().splitlines()
    entry = lines[-1]
    assert entry.startswith("0 3 * * 1 root /opt/venv/bin/python -m drillkit schedule run-due --db ")
    assert entry.endswith(f">> {db.resolve().parent}/schedule-weekly.log 2>&1")
    assert "SHELL=/bin/sh" in lines


def test_install_cron_timezone_every_minute(tmp_path, db):
    schedule = add(db, tmp_path, timezone="Europe/Berlin")
    dest = tmp_path / "cron.d"
    dest.mkdir()

    [path] = install(schedule, "cron", dest, db=db)

    text = path.read_text()
    assert text.splitlines()[-1].startswith("* * * * * root ")
    assert "timezone Europe/Berlin may differ from the host's" in text


def test_install_missing_dest(tmp_path, db):
    schedule = add(db, tmp_path)

    with pytest.raises(ScheduleError, match="destination folder .* not found"):
        install(schedule, "cron", tmp_path / "missing", db=db)


# -- the command line ----------------------------------------------------------------


def test_cli_add_list_install(tmp_path, db):
    added = drillkit("schedule", "add", "nightly", "--cron", "30 2 * * *", "--scenario", str(UPLINK),
                     "--timezone", "UTC", "--reports", str(tmp_path / "reports"), "--db", str(db))
    listed = drillkit("schedule", "list", "--db", str(db))
    dest = tmp_path / "units"
    dest.mkdir()
    installed = drillkit("schedule", "install", "nightly", "--systemd", "--dest", str(dest), "--db", str(db))

    assert added.returncode == 0, added.stderr
    assert "systemd OnCalendar: *-*-* 02:30:00 UTC" in added.stdout
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^nightly\s+30 2 \* \* \*\s+UTC\s+\d{4}-\d\d-\d\dT02:30\+00:00", listed.stdout, re.M)
    assert installed.returncode == 0, installed.stderr
    assert f"wrote {dest}/drillkit-schedule-nightly.timer" in installed.stdout
    assert "nothing was enabled" in installed.stdout
    assert sorted(p.name for p in dest.iterdir()) == ["drillkit-schedule-nightly.service",
                                                      "drillkit-schedule-nightly.timer"]


def test_cli_add_operator_scenario_exit_2(tmp_path, db):
    path = tmp_path / "attended.yaml"
    path.write_text(UPLINK.read_text().replace("\nsteps:\n", "\nsteps:\n" + OPERATOR_STEP, 1))

    result = drillkit("schedule", "add", "x", "--cron", "@daily", "--scenario", str(path), "--db", str(db))

    assert result.returncode == 2
    assert "cannot run unattended: it has operator steps 'call-the-noc'" in result.stderr


def test_cli_run_due_blackout_and_not_due(tmp_path, db):
    blackout = tmp_path / "blackout.yaml"
    blackout.write_text("- {from: 2026-01-01, to: 2026-01-07, reason: new-year freeze}\n")
    add(db, tmp_path, blackout=blackout)

    skipped = drillkit("schedule", "run-due", "--now", "2026-01-05T03:00:30+00:00", "--db", str(db))
    nothing = drillkit("schedule", "run", "--now", "2026-01-05T04:00:00+00:00", "--db", str(db))

    assert skipped.returncode == 0, skipped.stderr
    assert "schedule weekly slot 2026-01-05T03:00+00:00: skipped, blackout 2026-01-01 to 2026-01-07: " \
           "new-year freeze" in skipped.stdout
    assert nothing.returncode == 0
    assert "no drill is due" in nothing.stdout


def test_cli_invalid_now(tmp_path, db):
    result = drillkit("schedule", "run-due", "--now", "monday", "--db", str(db))

    assert result.returncode == 2
    assert "invalid time 'monday'" in result.stderr


@pytest.mark.lab
@needs_root
def test_cli_run_due_real_drill(tmp_path, db):
    topology = copy_lab(tmp_path, "t-gdsc")
    scenario = scenario_copy(tmp_path, topology, name="t-gd-scheduled")
    added = drillkit("schedule", "add", "t-gd", "--cron", "0 3 * * 1", "--scenario", str(scenario), "--timezone",
                     "UTC", "--lab-up", "--reports", str(tmp_path / "reports"), "--db", str(db))
    assert added.returncode == 0, added.stderr
    # Add the schedule before the slot, as if it had been added weeks ago.
    with history.connect(db) as conn:
        conn.execute("UPDATE schedules SET created = '2026-01-01T00:00:00+00:00'")
    try:
        result = drillkit("schedule", "run-due", "--now", "2026-01-05T03:00:30+00:00", "--db", str(db))
    finally:
        if lab_namespaces("t-gdsc"):
            run_cli("lab", "down", str(topology))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "schedule t-gd slot 2026-01-05T03:00+00:00: PASSED (exit 0)" in result.stdout
    [run] = history.list_runs(db=db)
    assert run.schedule == "t-gd"
    assert run.scenario == "t-gd-scheduled"
    assert run.status == "passed"
    summary = json.loads((Path(run.run_dir) / "summary.json").read_text())
    assert summary["lab"] == "t-gdsc"
    assert lab_namespaces("t-gdsc") == []
