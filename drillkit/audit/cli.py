"""The ``drillkit audit`` subcommand.

``drillkit.cli.build_parser`` registers it with::

    from .audit.cli import add_parser as add_audit_parser
    add_audit_parser(sub)

``python -m drillkit.audit.cli TOPOLOGY ...`` runs the same command on its own. The
heavy modules (networkx) load only when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)

#: Pairs listed per dependency or node at depth 2; the counts are always complete.
DEFAULT_MAX_PAIRS = 100


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: use a whole number of at least 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid count {value}: use a whole number of at least 0")
    return value


def add_parser(subparsers) -> None:
    """Register ``audit`` on the ``drillkit`` subcommand parsers."""
    p = subparsers.add_parser(
        "audit", help="find single points of failure and management that shares fate with production",
        description="Audit a lab's failure assumptions: which links and nodes cut each workload off from its "
                    "dependencies and each node off from the reference node, whether management survives those "
                    "failures over an independent (OOB) path, and which management connections share fate with "
                    "the data plane. Exit status: 0 management is independent, 1 a management connection shares "
                    "fate with the data plane, 2 invalid input.")
    _add_arguments(p)
    p.set_defaults(func=cmd_audit)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("topology", help="the *.clab.yml file")
    p.add_argument("--audit-file", metavar="FILE",
                   help="YAML file with workloads, dependencies and management settings; overrides the "
                        "drillkit.* labels of the topology")
    p.add_argument("--depth", type=int, choices=(1, 2), default=1,
                   help="1: single failures (default); 2: also minimal pairs of failures")
    p.add_argument("--max-pairs", type=_count, default=DEFAULT_MAX_PAIRS, metavar="N",
                   help=f"pairs listed per dependency or node at depth 2 (default {DEFAULT_MAX_PAIRS}); "
                        "the counts are always complete")
    p.add_argument("--json", metavar="FILE", help="write the findings as JSON")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with a drawing of the lab")
    p.add_argument("--generate", metavar="FOLDER",
                   help="write one drill scenario (drill_*.yaml) per workload finding into FOLDER")


def cmd_audit(args: argparse.Namespace) -> int:
    """Run the audit, print the table, write the requested files; return the exit status."""
    from .analysis import audit_topology
    from .render import render_text

    topo, spec, report = audit_topology(args.topology, args.audit_file, depth=args.depth, max_pairs=args.max_pairs)
    print(render_text(report), flush=True)
    if args.json:
        from .render import write_json

        print(f"json: {write_json(report, args.json)}", flush=True)
    if args.html:
        from .html import write_html

        print(f"html: {write_html(topo, spec, report, args.html)}", flush=True)
    if args.generate:
        from .generate import generate_scenarios

        written = generate_scenarios(topo, report, args.generate)
        print(f"scenarios: {len(written)} written to {args.generate}", flush=True)
        if not written:
            print("no workload finding to drill: give workloads dependencies", file=sys.stderr)
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run ``audit`` as its own program, with the exit statuses of ``drillkit audit``."""
    from ..errors import DrillkitError

    parser = argparse.ArgumentParser(prog="drillkit audit", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return cmd_audit(args)
    except DrillkitError as exc:
        print(f"drillkit: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
