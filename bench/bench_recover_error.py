"""Error of the recover instant that drillkit's probes measure, against a known restore instant.

Usage: python bench/bench_recover_error.py [--repeats N] [--intervals 0.2,0.5] [--seed N]

Each run cuts core:eth2 -- edge1:eth1 with drillkit's ``link_down`` fault, waits until
a tcp probe from noc to inf1 (10.1.1.10:8080) is failing, waits a random part of one
probe interval, and restores the link. The restore is the fault's ``restore()``, which
sets both ends up and re-adds the routes that ``prepare()`` saved, followed by an
explicit ``ip route replace`` of the static routes that the kernel dropped with the
link, as ``scenarios/playbooks/restore-link.sh`` does. The true recover instant is
``time.monotonic_ns()`` right after the last route is back. The measured instant is
``ProbeScheduler.healthy_since()`` once the probe is healthy again, which is the start
of the first sample in the new healthy streak. The error is measured minus true.
The probe runs in drillkit's real ``ProbeScheduler`` with ``ProbeTracker`` thresholds
(failure 2, success 1) and a timeout of 0.8 intervals.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path

import benchlib
from drillkit.engine.runner import lab_context
from drillkit.faults import build_fault
from drillkit.lab import nsexec
from drillkit.lab.topology import load_topology
from drillkit.probes.scheduler import FAILING, HEALTHY, ProbeScheduler
from drillkit.scenario.model import FaultSpec, Origin, ProbeSpec

LINK = "core:eth2--edge1:eth1"
TARGET = "10.1.1.10:8080"  # inf1's inference service, inside the lab
# The static routes that the kernel drops with the link, as (node, route). restore-link.sh re-adds the same.
ROUTES = (("core", ("10.1.0.0/16", "via", "10.0.1.2")), ("edge1", ("10.0.0.0/8", "via", "10.0.1.1")))
ORIGIN = Origin("bench_recover_error.py", None)


def wait_until(predicate, timeout_s: float, description: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out after {timeout_s:g} s waiting for {description}")
        time.sleep(0.005)


def measure_interval(topo, state, interval_s: float, repeats: int, rng: random.Random) -> dict[str, list[float]]:
    """Run ``repeats`` cut-and-restore cycles at one probe interval and return the errors and restore times in ms."""
    ctx = lab_context(topo, state)
    fault = build_fault(FaultSpec(name="bench-cut", kind="link_down", origin=ORIGIN, link=LINK), topo, ctx)
    spec = ProbeSpec(name=f"noc-to-inf1-{interval_s:g}s", kind="tcp", origin=ORIGIN, vantage="noc",
                     interval_s=interval_s, timeout_s=0.8 * interval_s, target=TARGET)
    failures: collections.Counter[str] = collections.Counter()

    def count_failure(_spec, _t_ns, sample, _transition) -> None:
        if not sample.ok:
            failures[sample.detail] += 1

    scheduler = ProbeScheduler([(spec, ctx.namespace("noc"))], count_failure)
    errors_ms: list[float] = []
    restore_ms: list[float] = []
    scheduler.start()
    try:
        # The inference service starts in the background during lab up, so give it time.
        wait_until(lambda: scheduler.state(spec.name) == HEALTHY, 15, f"{TARGET} to accept connections")
        for attempt in range(1, repeats + 1):
            try:
                fault.prepare()
                fault.inject()
                wait_until(lambda: scheduler.state(spec.name) == FAILING, 10 * interval_s + 2,
                           f"probe {spec.name} to fail")
                # Wait a random part of an interval, so the restore falls at a random phase of the probe cadence.
                time.sleep(rng.uniform(0, interval_s))
                restore_start = time.monotonic_ns()
                fault.restore()
                for node, route in ROUTES:
                    nsexec.ip("route", "replace", *route, ns=ctx.namespace(node))
                true_ns = time.monotonic_ns()
            except BaseException:
                fault.restore()
                raise
            wait_until(lambda: scheduler.state(spec.name) == HEALTHY, 10 * interval_s + 2,
                       f"probe {spec.name} to recover")
            measured_ns = scheduler.healthy_since(spec.name)
            if measured_ns is None:
                raise RuntimeError(f"probe {spec.name} failed again right after it recovered")
            errors_ms.append((measured_ns - true_ns) / 1e6)
            restore_ms.append((true_ns - restore_start) / 1e6)
            print(f"  interval {interval_s:g} s run {attempt}/{repeats}: error {errors_ms[-1]:+.1f} ms "
                  f"(restore took {restore_ms[-1]:.1f} ms)", file=sys.stderr, flush=True)
            time.sleep(interval_s)
    finally:
        scheduler.stop()
    print(f"  interval {interval_s:g} s: failing samples by detail: {dict(failures)}", file=sys.stderr, flush=True)
    return {"error_ms": errors_ms, "restore_ms": restore_ms}


def run(workdir: Path, repeats: int = 10, intervals: tuple[float, ...] = (0.2, 0.5),
        seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    topo = load_topology(benchlib.copy_edge_lab(workdir))
    rows = []
    with benchlib.running_lab(topo) as state:
        for interval_s in intervals:
            result = measure_interval(topo, state, interval_s, repeats, rng)
            errors = result["error_ms"]
            rows.append({
                "interval_s": interval_s,
                "error_ms": benchlib.summarize(errors),
                "restore_ms": benchlib.summarize(result["restore_ms"]),
            })
    return rows


def format_rows(rows: list[dict]) -> str:
    table = []
    for row in rows:
        interval_ms = row["interval_s"] * 1000
        errors = row["error_ms"]
        table.append([f"{row['interval_s']:g}", str(errors["n"]), f"{errors['mean']:+.1f}", f"{errors['min']:+.1f}",
                      f"{errors['max']:+.1f}", f"{errors['mean'] / interval_ms:+.2f}",
                      f"{errors['max'] / interval_ms:+.2f}", f"{row['restore_ms']['median']:.1f}"])
    return benchlib.markdown_table(
        ["probe interval s", "runs", "mean error ms", "min error ms", "max error ms", "mean / interval",
         "max / interval", "restore took ms (median)"], table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="cut-and-restore cycles per interval (default 10)")
    parser.add_argument("--intervals", default="0.2,0.5", help="probe intervals in seconds, comma-separated "
                                                                "(default 0.2,0.5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random restore phase (default 1)")
    args = parser.parse_args()
    intervals = tuple(float(v) for v in args.intervals.split(","))
    benchlib.require_root()
    benchlib.raise_on_signals()
    with benchlib.private_workdir() as workdir:
        rows = run(workdir, args.repeats, intervals, args.seed)
    print(format_rows(rows))
    benchlib.check_no_leftovers()


if __name__ == "__main__":
    main()
