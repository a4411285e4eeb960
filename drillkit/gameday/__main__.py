"""``python -m drillkit.gameday``: the ``drillkit`` command with the game-day commands registered.

It serves until ``drillkit/cli.py`` registers them itself; after that it
behaves exactly like ``python -m drillkit``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..cli import build_parser
from ..errors import DrillkitError
from .cli import add_parsers


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "gameday" not in subparsers.choices:
        add_parsers(subparsers)
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except DrillkitError as exc:
        print(f"drillkit: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("drillkit: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
