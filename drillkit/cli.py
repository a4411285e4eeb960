"""The ``drillkit`` command line: argument handling only, the work lives in the packages."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import DrillkitError

log = logging.getLogger(__name__)


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _topology_or_lab(value: str):
    """Return (lab name, topology or None) from a topology path or a lab name."""
    from .lab.topology import load_topology

    path = Path(value)
    if path.suffix in (".yml", ".yaml") or path.exists():
        topo = load_topology(path)
        return topo.name, topo
    return value, None


def cmd_lab_up(args: argparse.Namespace) -> int:
    from .lab import get_backend
    from .lab.topology import load_topology

    topo = load_topology(args.topology)
    state = get_backend(args.backend).up(topo)
    _err(f"lab {topo.name} is up ({state.backend}): {len(state.nodes)} nodes, {len(topo.links)} links; "
         f"OOB jail {state.jail or 'none'}")
    return cmd_lab_status(argparse.Namespace(lab=topo.name))


def cmd_lab_down(args: argparse.Namespace) -> int:
    from .engine.rollback import restore_pending
    from .lab import get_backend
    from .lab.state import LabState

    name, topo = _topology_or_lab(args.lab)
    for outcome in restore_pending(name):
        _err(f"restored fault {outcome.fault} of run {outcome.run_id}" if outcome.ok
             else f"could not restore fault {outcome.fault}: {outcome.error}")
    state = LabState.load(name)
    backend = state.backend if state is not None else "netns"
    deleted = get_backend(backend).down(name, topo=topo)
    _err(f"lab {name} is down ({len(deleted)} namespaces removed)")
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    from .lab.netns import NetnsBackend

    name, _topo = _topology_or_lab(args.lab)
    status = NetnsBackend().status(name)
    _out(f"lab {status.lab} ({status.status}) from {status.topology}")
    if status.mgmt_gateway or status.jail:
        _out(f"OOB network gateway {status.mgmt_gateway or 'none (external)'}, OOB jail {status.jail or 'none'}")
    _out(f"{'node':<12} {'kind':<7} {'namespace':<28} {'mgmt-ipv4':<15} {'procs':>5}  interfaces")
    for node in status.nodes:
        ifaces = " ".join(f"{i.name}:{i.oper_state.lower()}" + (f"({','.join(i.addresses)})" if i.addresses else "")
                          for i in node.interfaces if i.name != "eth0")
        state = "" if node.running else "  MISSING"
        _out(f"{node.name:<12} {node.kind:<7} {node.namespace:<28} {node.mgmt_ipv4 or '-':<15} "
             f"{node.processes:>5}  {ifaces}{state}")
    from .lab.console import load_plan

    plan = load_plan(status.lab)
    if plan is not None:
        _out(f"console server {plan.address} (ssh <line user>@{plan.address}, or admin@{plan.address} <node>)")
        _out(f"{'line':>4} {'node':<12} {'telnet':>6} {'rfc2217':>7}  access")
        for line in plan.lines.values():
            access = f"ssh {line.user}@{plan.address}" if line.authenticated else \
                f"OPEN: telnet {plan.address} {line.telnet_port}, no login"
            _out(f"{line.line:>4} {line.node:<12} {line.telnet_port:>6} {line.rfc2217_port:>7}  {access}")
    if status.missing:
        _err(f"missing namespaces: {', '.join(status.missing)}; run 'drillkit lab down {status.lab}'")
        return 1
    return 0


def cmd_lab_list(args: argparse.Namespace) -> int:
    from .lab import nsexec
    from .lab.netns import NetnsBackend

    labs = NetnsBackend.list_labs()
    if not labs:
        _out("no labs are up")
        return 0
    _out(f"{'lab':<20} {'status':<9} {'nodes':>5}  {'since':<33} topology")
    for state in labs:
        alive = all(nsexec.exists(ns) for ns in state.namespaces)
        status = state.status if alive else "broken"
        _out(f"{state.lab:<20} {status:<9} {len(state.nodes):>5}  {state.created_wall:<33} {state.topology}")
    return 0


def cmd_lab_check(args: argparse.Namespace) -> int:
    from .lab.physical import check_testbed, load_testbed

    testbed = load_testbed(args.testbed)
    results = check_testbed(testbed)
    _out(f"testbed {testbed.name}: {len(testbed.devices)} devices")
    _out(f"{'device':<14} {'connection':<12} {'path':<7} {'target':<28} status")
    for r in results:
        _out(f"{r.device:<14} {r.connection:<12} {r.path:<7} {r.target:<28} {'ok' if r.ok else 'UNREACHABLE'}"
             + ("" if r.ok else f" ({r.detail})"))
    failed = [r for r in results if not r.ok]
    if failed:
        _err(f"{len(failed)} of {len(results)} connections unreachable; fix them before cutting anything")
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .scenario.load import load_scenario

    for path in args.scenarios:
        scenario = load_scenario(path)
        _out(f"{path}: valid ({len(scenario.faults)} faults, {len(scenario.probes)} probes, "
             f"{len(scenario.steps)} steps, SLA {', '.join(scenario.sla) or 'none'})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .engine.plan import describe_plan
    from .engine.runner import DrillRunner
    from .scenario.load import load_scenario

    scenario = load_scenario(args.scenario)
    if args.dry_run:
        from .lab import load_lab_topology

        for line in describe_plan(scenario, load_lab_topology(scenario.lab.topology, scenario.lab.backend)):
            _out(line)
        return 0
    result = DrillRunner(scenario, reports_dir=args.reports, lab_up=args.lab_up).run()
    from .gameday.history import after_run

    after_run(result, db=args.db, operators=tuple(args.operator or ()))
    for sla in result.missed_slas:
        measured = "never reached" if sla.measured is None else f"{sla.measured:.2f} s"
        _err(f"SLA {sla.name} missed: {measured}, target {sla.target:g} s")
    for failure in result.failures:
        _err(f"failed: {failure}")
    if result.stop_reason:
        _err(f"aborted: {result.stop_reason}")
    if result.error:
        _err(f"error: {result.error}")
    _out(f"verdict: {result.status.upper()} (exit {result.exit_code})")
    _out(f"report: {result.report_path}")
    return result.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    from .report import load_analysis, render_all

    paths = render_all(Path(args.run_dir))
    analysis = load_analysis(Path(args.run_dir))
    _out(f"verdict: {analysis.status.upper()} (exit {analysis.exit_code})")
    for kind, path in paths.items():
        _out(f"{kind}: {path}")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    from .oob.operator import interactive_console

    name, _topo = _topology_or_lab(args.lab)
    return interactive_console(name, args.node, args.user)


def cmd_restore(args: argparse.Namespace) -> int:
    from .engine.rollback import pending_records, restore_pending
    from .lab import nsexec

    nsexec.require_root("drillkit restore")
    if not pending_records():
        _err("nothing to restore: no undo records of interrupted runs")
        return 0
    outcomes = restore_pending(args.lab)
    failed = [o for o in outcomes if not o.ok]
    for o in outcomes:
        _err(f"{'restored' if o.ok else 'FAILED to restore'} fault {o.fault} of run {o.run_id} (lab {o.lab})"
             + (f": {o.error}" if o.error else ""))
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drillkit",
        description="Recovery drills for network and edge labs: cut primary links, recover over the "
                    "out-of-band path, and measure every phase against SLA targets.")
    parser.add_argument("--version", action="version", version=f"drillkit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lab = sub.add_parser("lab", help="build, inspect and remove labs (needs root)")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    p = lab_sub.add_parser("up", help="build a lab from a containerlab topology file")
    p.add_argument("topology", help="the *.clab.yml file")
    p.add_argument("--backend", choices=("netns", "containerlab"), default="netns",
                   help="netns (default) builds the lab from network namespaces; containerlab deploys it with "
                        "containerlab, or attaches to a lab containerlab already runs")
    p.set_defaults(func=cmd_lab_up)
    p = lab_sub.add_parser("down", help="remove every namespace, link and process of a lab")
    p.add_argument("lab", help="the topology file or the lab name")
    p.set_defaults(func=cmd_lab_down)
    p = lab_sub.add_parser("status", help="show a lab's nodes, interfaces and processes")
    p.add_argument("lab", help="the topology file or the lab name")
    p.set_defaults(func=cmd_lab_status)
    p = lab_sub.add_parser("check", help="check that every connection of a physical testbed is reachable")
    p.add_argument("testbed", help="the testbed YAML file")
    p.set_defaults(func=cmd_lab_check)
    p = lab_sub.add_parser("list", help="list the labs that are up")
    p.set_defaults(func=cmd_lab_list)

    p = sub.add_parser("validate", help="check scenario files without touching any lab")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="run a drill scenario (needs root)")
    p.add_argument("scenario")
    p.add_argument("--dry-run", action="store_true", help="print what would be cut, probed and run; change nothing")
    p.add_argument("--lab-up", action="store_true",
                   help="build the lab if it is not up, and remove it after the run")
    p.add_argument("--reports", default="reports", metavar="DIR",
                   help="folder for run folders (default: reports)")
    p.add_argument("--db", metavar="FILE", help="run history database (default: $DRILLKIT_HOME/history.sqlite)")
    p.add_argument("--operator", action="append", metavar="NAME",
                   help="person taking part, recorded in the history (repeat for several)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="render a run's reports again from its journal")
    p.add_argument("run_dir", metavar="RUN_DIR", help="reports/<scenario>/<timestamp>")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("console", help="open a node's serial console over the OOB path (needs root)")
    p.add_argument("lab", help="the topology file or the lab name")
    p.add_argument("node")
    p.add_argument("--user", help="console server user (password login); default: the line's user with the "
                                  "lab's key")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("restore", help="restore the faults of runs that were killed (needs root)")
    p.add_argument("--lab", help="only runs on this lab")
    p.set_defaults(func=cmd_restore)

    from .audit.cli import add_parser as add_audit_parser
    from .gameday.cli import add_parsers

    add_audit_parser(sub)
    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except DrillkitError as exc:
        _err(f"drillkit: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _err("drillkit: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
