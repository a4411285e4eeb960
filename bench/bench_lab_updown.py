"""Time ``NetnsBackend.up`` and ``.down`` for the edge-ai lab and a generated ring lab.

Usage: python bench/bench_lab_updown.py [--repeats N] [--ring-nodes N]

"up" is the wall time of ``NetnsBackend().up(topo)``: namespaces, veth links, exec
commands, one sshd per node and whatever else the checkout's backend starts. It does
not include the time the lab's own services take to start listening. "down" is the
wall time of ``NetnsBackend().down(...)``. The last column counts the ``subprocess.run``
calls that one up makes (ip, nsenter, sysctl, sshd, ssh-keygen). Processes that
drillkit starts with ``subprocess.Popen`` are not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import benchlib
from drillkit.lab.netns import NetnsBackend
from drillkit.lab.topology import Topology, load_topology


@contextlib.contextmanager
def counting_subprocess_runs() -> Iterator[list[int]]:
    """Count the ``subprocess.run`` calls made inside the block, in element 0 of the yielded list."""
    count = [0]
    original = subprocess.run

    def counted(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    subprocess.run = counted
    try:
        yield count
    finally:
        subprocess.run = original


def time_up_down(topo: Topology, repeats: int) -> tuple[list[float], list[float], list[int]]:
    """Bring ``topo`` up and down ``repeats`` times.

    Returns the up and down times in seconds and the number of ``subprocess.run`` calls each up made.
    """
    backend = NetnsBackend()
    ups: list[float] = []
    downs: list[float] = []
    commands: list[int] = []
    for attempt in range(1, repeats + 1):
        is_up = False
        try:
            with counting_subprocess_runs() as count:
                started = time.monotonic()
                state = backend.up(topo)
                ups.append(time.monotonic() - started)
            commands.append(count[0])
            is_up = True
            missing = set(state.namespaces) - set(benchlib.lab_namespaces(topo.name))
            if len(state.namespaces) < len(topo.nodes) or missing:
                raise RuntimeError(f"lab {topo.name}: namespaces missing after up: {', '.join(sorted(missing))} "
                                   f"(state lists {len(state.namespaces)} for {len(topo.nodes)} nodes)")
        finally:
            # Also runs after a failed or interrupted up: down() of a lab that is gone does nothing.
            started = time.monotonic()
            backend.down(topo.name, topo=topo)
            if is_up:
                downs.append(time.monotonic() - started)
        left = benchlib.lab_namespaces(topo.name)
        if left:
            raise RuntimeError(f"lab {topo.name}: namespaces left after down: {', '.join(left)}")
        print(f"  {topo.name} run {attempt}/{repeats}: up {ups[-1]:.2f} s, down {downs[-1]:.2f} s",
              file=sys.stderr, flush=True)
    return ups, downs, commands


def run(workdir: Path, repeats: int = 3, ring_nodes: int = 50) -> list[dict]:
    """Measure both labs and return one result row per lab."""
    labs = [
        ("edge-ai (7 nodes, 6 links)", benchlib.copy_edge_lab(workdir)),
        (f"ring ({ring_nodes} nodes, {ring_nodes} links)", benchlib.write_ring_topology(workdir, ring_nodes)),
    ]
    rows = []
    for label, path in labs:
        topo = load_topology(path)
        ups, downs, commands = time_up_down(topo, repeats)
        rows.append({"lab": label, "up": benchlib.summarize(ups), "down": benchlib.summarize(downs),
                     "commands": max(commands)})
    return rows


def format_rows(rows: list[dict]) -> str:
    table = []
    for row in rows:
        for phase in ("up", "down"):
            stats = row[phase]
            commands = str(row["commands"]) if phase == "up" else ""
            table.append([row["lab"], phase, str(stats["n"]), f"{stats['min']:.2f}", f"{stats['median']:.2f}",
                          f"{stats['max']:.2f}", commands])
    header = ["lab", "phase", "runs", "min s", "median s", "max s", "subprocess.run calls"]
    return benchlib.markdown_table(header, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="up/down cycles per lab (default 3)")
    parser.add_argument("--ring-nodes", type=int, default=50, help="nodes in the generated ring lab (default 50)")
    args = parser.parse_args()
    benchlib.require_root()
    benchlib.raise_on_signals()
    with benchlib.private_workdir() as workdir:
        rows = run(workdir, args.repeats, args.ring_nodes)
    print(format_rows(rows))
    benchlib.check_no_leftovers()


if __name__ == "__main__":
    main()
