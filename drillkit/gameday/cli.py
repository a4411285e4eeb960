"""Command-line handlers of ``drillkit gameday``, ``schedule``, ``history`` and ``trends``.

``add_parsers(subparsers)`` registers the four commands on the main parser's
subparsers; each handler returns the exit status.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import threading
from typing import Any

from . import history
from .errors import GamedayRefused

_MEASURED = ("detect", "oob_access", "recover")


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="FILE",
                        help=f"history database (default: $DRILLKIT_HOME/{history.DB_NAME}, "
                             f"else ~/.local/share/drillkit/{history.DB_NAME})")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: give a whole number above 0") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: give a whole number above 0")
    return value


def _moment(text: str) -> _dt.datetime:
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid time {text!r}: write ISO 8601, such as "
                                         "2026-01-05T03:00:30+00:00") from None
    return moment if moment.tzinfo is not None else moment.astimezone()


def add_parsers(subparsers: Any) -> None:
    """Register ``gameday``, ``schedule``, ``history`` and ``trends`` on the main parser's subparsers."""
    _add_gameday(subparsers)
    _add_schedule(subparsers)
    _add_history(subparsers)
    _add_trends(subparsers)


# -- gameday ------------------------------------------------------------------------


def _add_gameday(subparsers: Any) -> None:
    p = subparsers.add_parser("gameday", help="run a game-day plan: window, approvals, drills, history (needs root)",
                              description="Validate a game-day plan, check its time window, ask each approval "
                                          "before each disruption, run the drills and record everything in the "
                                          "history.")
    p.add_argument("plan", metavar="PLAN", help="the game-day plan (YAML)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; change nothing")
    p.add_argument("--yes", action="store_true",
                   help="start without asking for confirmation (approvals are still required)")
    p.add_argument("--approve", action="append", default=[], metavar="ROLE=NAME",
                   help="approval given in advance by NAME for ROLE, for every drill that needs it (repeatable)")
    p.add_argument("--lab-up", action="store_true",
                   help="build each drill's lab if it is not up, and remove it afterwards (also lab_up: in the plan)")
    p.add_argument("--reports", metavar="DIR", help="folder for run folders (default: the plan's reports:, "
                                                    "else reports)")
    p.add_argument("--plain", action="store_true", help="print plain lines instead of the live view")
    _add_db(p)
    p.set_defaults(func=cmd_gameday)


def cmd_gameday(args: argparse.Namespace) -> int:
    from ..lab import nsexec
    from .approvals import ApprovalGate, terminal_ask
    from .live import LiveView
    from .plan import describe_plan, load_plan, parse_approvals
    from .runner import GamedayRunner, RunnerExecutor

    plan = load_plan(args.plan)
    if args.dry_run:
        for line in describe_plan(plan, history.utc_now()):
            _out(line)
        return 0
    preapproved = parse_approvals(args.approve, plan)
    ask = terminal_ask()
    gate = ApprovalGate(plan, preapproved, ask=ask)
    executor = RunnerExecutor(reports_dir=args.reports or plan.reports or "reports", lab_up=args.lab_up or plan.lab_up)
    runner = GamedayRunner(plan, gate=gate, executor=executor, db=args.db,
                           view=lambda: LiveView(plain=True if args.plain else None))
    runner.check_window()
    missing = gate.missing_roles()
    if missing and ask is None:
        raise GamedayRefused(f"game day {plan.name} needs approvals from {', '.join(missing)}, and standard input "
                             "is not a terminal; run it on a terminal, or pass --approve ROLE=NAME for each role")
    nsexec.require_root("drillkit gameday")
    for line in describe_plan(plan, history.utc_now())[:-1]:
        _out(line)
    if not args.yes:
        if ask is None:
            raise GamedayRefused(f"game day {plan.name} was not started: confirm on a terminal, or pass --yes")
        try:
            answer = ask(f"start game day {plan.name} now? [y/N] ").strip().lower()
        except EOFError:
            answer = ""
        if answer not in ("y", "yes"):
            _err(f"game day {plan.name} not started; nothing was disrupted")
            return 2
    outcome = runner.run()
    return outcome.exit_code


# -- history ------------------------------------------------------------------------


def _add_history(subparsers: Any) -> None:
    p = subparsers.add_parser("history", help="list recorded runs, or import existing reports",
                              description="List the drill runs recorded in the history database, newest first.")
    p.add_argument("--scenario", metavar="NAME", help="only runs of this scenario")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="at most N runs (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--import", dest="import_dirs", action="append", default=[], metavar="DIR",
                   help="import every summary.json under DIR (such as reports/) first; runs already recorded "
                        "are kept as they are (repeatable)")
    p.add_argument("--gamedays", action="store_true", help="list game days with their drills and approvals")
    _add_db(p)
    p.set_defaults(func=cmd_history)


def _seconds(record: history.RunRecord, name: str) -> str:
    value = record.measurements.get(name)
    if value is None:
        return "-"
    sla = record.slas.get(name)
    return f"{value:.2f}s" + ("!" if sla is not None and not sla.met else "")


def cmd_history(args: argparse.Namespace) -> int:
    status = 0
    for folder in args.import_dirs:
        result = history.backfill([folder], db=args.db)
        _err(f"{folder}: imported {len(result.imported)} runs, {len(result.already_recorded)} already recorded")
        for path, problem in result.invalid:
            _err(f"skipped {path}: {problem}")
            status = 1
    if args.gamedays:
        days = history.list_gamedays(limit=args.limit, db=args.db)
        if args.json:
            _out(json.dumps(days, indent=2))
        else:
            _print_gamedays(days)
        return status
    records = history.list_runs(scenario=args.scenario, limit=args.limit, db=args.db)
    if args.json:
        _out(json.dumps([r.to_json() for r in records], indent=2))
        return status
    if not records:
        where = f" of scenario {args.scenario}" if args.scenario else ""
        _out(f"no runs{where} recorded in {history.resolve_db(args.db)}")
        return status
    _out(f"{'started (UTC)':<17} {'scenario':<24} {'lab':<14} {'status':<8} {'exit':>4} "
         f"{'detect':>8} {'oob':>8} {'recover':>8}  run id / report")
    for r in records:
        started = r.started[:16].replace("T", " ")
        _out(f"{started:<17} {r.scenario:<24} {r.lab or '-':<14} {r.status:<8} {r.exit_code:>4} "
             f"{_seconds(r, 'detect'):>8} {_seconds(r, 'oob_access'):>8} {_seconds(r, 'recover'):>8}  "
             f"{r.run_id}  {r.report_path or ''}")
    if any(not s.met for r in records for name, s in r.slas.items() if name in _MEASURED):
        _out("! missed its SLA target")
    return status


def _print_gamedays(days: list[dict[str, Any]]) -> None:
    if not days:
        _out("no game days recorded")
        return
    for day in days:
        _out(f"game day {day['id']} {day['name']}: {day['status']} (exit {day['exit_code']}), "
             f"started {day['started'][:16].replace('T', ' ')} UTC, plan {day['plan_path']}")
        for item in day["items"]:
            _out(f"  {item['label']:>5} {item['scenario']:<24} lab {item['lab'] or '-':<14} {item['status']:<9} "
                 f"{item['run_id'] or item['detail']}")
        for a in day["approvals"]:
            approver = a["approver"] or "-"
            _out(f"        approval {a['label']} {a['role']}: {a['decision']} by {approver} at "
                 f"{a['at'][:19].replace('T', ' ')} UTC ({a['method']})")


# -- trends -------------------------------------------------------------------------


def _add_trends(subparsers: Any) -> None:
    p = subparsers.add_parser("trends", help="write an HTML page of phase times across runs, regressions marked",
                              description="Write a self-contained HTML page with the time to detect, to OOB "
                                          "access and to recover of each scenario across its runs, against the "
                                          "SLA targets, with regressions marked.")
    p.add_argument("--scenario", metavar="NAME", help="only this scenario")
    p.add_argument("--out", required=True, metavar="FILE.html", help="the page to write")
    _add_db(p)
    p.set_defaults(func=cmd_trends)


def cmd_trends(args: argparse.Namespace) -> int:
    from .trends import METRIC_LABELS, write_trends

    trends = write_trends(args.out, scenario=args.scenario, db=args.db)
    runs = sum(len(t.runs) for t in trends)
    regressions = [(t.scenario, metric, p) for t in trends for metric, p in t.regressions]
    _out(f"wrote {args.out}: {runs} runs of {len(trends)} scenarios, {len(regressions)} regressions")
    for scenario, metric, point in regressions:
        _out(f"  {scenario} {point.run_id}: {METRIC_LABELS[metric]}: {'; '.join(point.reasons)}")
    if args.scenario and not trends:
        _err(f"no runs of scenario {args.scenario} recorded in {history.resolve_db(args.db)}")
        return 1
    return 0


# -- schedule -----------------------------------------------------------------------


def _add_schedule(subparsers: Any) -> None:
    p = subparsers.add_parser("schedule", help="run drills on a cron schedule, unattended",
                              description="Store cron schedules of automated drills, write their systemd timers "
                                          "or cron.d entries, and run the drills that are due.")
    sub = p.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")

    s = sub.add_parser("add", help="store a schedule")
    s.add_argument("name", metavar="NAME", help="schedule name (letters, digits, '-', '_')")
    s.add_argument("--cron", required=True, metavar="EXPR",
                   help='five cron fields, such as "0 3 * * 1" (Mondays 03:00), or @daily, @weekly ...')
    s.add_argument("--scenario", required=True, metavar="FILE", help="the scenario to run (automated steps only)")
    s.add_argument("--blackout", metavar="FILE", help="blackout calendar (YAML list of dates and ranges with reasons)")
    s.add_argument("--timezone", metavar="ZONE", help="IANA zone of the cron times (default: the host's)")
    s.add_argument("--lab-up", action="store_true", help="build the lab for each run and remove it afterwards")
    s.add_argument("--reports", default="reports", metavar="DIR", help="folder for run folders (default: reports)")
    s.add_argument("--replace", action="store_true", help="replace a schedule of the same name")
    _add_db(s)
    s.set_defaults(func=cmd_schedule_add)

    s = sub.add_parser("list", help="list schedules with their next run")
    _add_db(s)
    s.set_defaults(func=cmd_schedule_list)

    s = sub.add_parser("remove", help="delete a schedule (installed entries stay until you remove them)")
    s.add_argument("name", metavar="NAME")
    _add_db(s)
    s.set_defaults(func=cmd_schedule_remove)

    s = sub.add_parser("install", help="write a schedule's systemd timer or cron.d entry (enables nothing)")
    s.add_argument("name", metavar="NAME")
    kind = s.add_mutually_exclusive_group(required=True)
    kind.add_argument("--systemd", dest="kind", action="store_const", const="systemd",
                      help="write drillkit-schedule-NAME.service and .timer")
    kind.add_argument("--cron", dest="kind", action="store_const", const="cron", help="write a cron.d entry")
    s.add_argument("--dest", metavar="DIR", help="folder to write to (default: /etc/systemd/system or /etc/cron.d)")
    _add_db(s)
    s.set_defaults(func=cmd_schedule_install)

    for name, help_text in (("run-due", "run the drills whose cron slot is due now, once (timers call this)"),
                            ("run", "run due drills once, or with --foreground keep checking every minute")):
        s = sub.add_parser(name, help=help_text)
        s.add_argument("--name", dest="names", action="append", metavar="NAME",
                       help="only this schedule (repeatable; default: all)")
        s.add_argument("--now", type=_moment, metavar="TIME",
                       help="the time to check against, ISO 8601 (default: now; for testing a schedule)")
        s.add_argument("--grace", type=float, default=600.0, metavar="SECONDS",
                       help="a slot missed by up to this many seconds still runs (default: 600)")
        if name == "run":
            s.add_argument("--foreground", action="store_true",
                           help="stay in the foreground and check every minute until Ctrl-C")
        _add_db(s)
        s.set_defaults(func=cmd_schedule_run)


def cmd_schedule_add(args: argparse.Namespace) -> int:
    from .schedule import add_schedule, cron_to_oncalendar

    schedule = add_schedule(args.name, cron=args.cron, scenario=args.scenario, blackout=args.blackout,
                            timezone=args.timezone, lab_up=args.lab_up, reports=args.reports, replace=args.replace,
                            db=args.db)
    next_run = schedule.next_run(history.utc_now())
    _out(f"schedule {schedule.name}: {schedule.cron} ({schedule.timezone or 'host time'}), "
         f"scenario {schedule.scenario}")
    _out(f"next run {next_run.isoformat(timespec='minutes')}")
    calendar = cron_to_oncalendar(schedule.cron, schedule.timezone)
    _out(f"systemd OnCalendar: {calendar}" if calendar else
         "systemd: no exact OnCalendar form; the timer would fire every minute and run-due checks the slots")
    _out(f"nothing runs until you install it: drillkit schedule install {schedule.name} --systemd (or --cron)")
    return 0


def cmd_schedule_list(args: argparse.Namespace) -> int:
    from .schedule import last_outcome, list_schedules

    schedules = list_schedules(db=args.db)
    if not schedules:
        _out(f"no schedules in {history.resolve_db(args.db)}")
        return 0
    now = history.utc_now()
    _out(f"{'name':<18} {'cron':<16} {'timezone':<16} {'next run':<25} {'last outcome':<20} scenario")
    for s in schedules:
        last = last_outcome(s.name, db=args.db)
        last_text = f"{last['outcome']} {last['slot'][:10]}" if last else "-"
        _out(f"{s.name:<18} {s.cron:<16} {s.timezone or 'host':<16} "
             f"{s.next_run(now).isoformat(timespec='minutes'):<25} {last_text:<20} {s.scenario}")
    return 0


def cmd_schedule_remove(args: argparse.Namespace) -> int:
    from .schedule import remove_schedule, unit_name

    remove_schedule(args.name, db=args.db)
    _out(f"schedule {args.name} removed; remove its installed entries too, if any "
         f"({unit_name(args.name)}.timer/.service, or /etc/cron.d/{unit_name(args.name)})")
    return 0


def cmd_schedule_install(args: argparse.Namespace) -> int:
    from .schedule import get_schedule, install, unit_name

    schedule = get_schedule(args.name, db=args.db)
    written = install(schedule, args.kind, args.dest, db=args.db)
    for path in written:
        _out(f"wrote {path}")
    unit = unit_name(schedule.name)
    if args.kind == "systemd":
        _out(f"nothing was enabled; to activate: systemctl daemon-reload && systemctl enable --now {unit}.timer")
    else:
        _out("cron reads /etc/cron.d by itself; an entry written elsewhere does nothing until it is copied there")
    return 0


def cmd_schedule_run(args: argparse.Namespace) -> int:
    from .live import LiveView
    from .schedule import run_due, run_forever, run_scheduled_drill

    def run_with_view(schedule: Any, _progress: Any) -> Any:
        with LiveView() as view:
            result = run_scheduled_drill(schedule, view.progress)
            view.finish(result)
        return result

    if getattr(args, "foreground", False):
        stop = threading.Event()
        fixed = args.now
        try:
            return run_forever(stop=stop, names=args.names, grace_s=args.grace, db=args.db, run_drill=run_with_view,
                               now=(lambda: fixed) if fixed else None)
        except KeyboardInterrupt:
            _err("scheduler stopped (interrupted)")
            return 130
    outcomes = run_due(now=args.now, names=args.names, grace_s=args.grace, db=args.db, run_drill=run_with_view)
    if not outcomes:
        _out("no drill is due")
    return max([o.exit_code for o in outcomes], default=0)

