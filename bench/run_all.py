"""Run the four drillkit benchmarks and print the machine and the results as Markdown.

Usage: python bench/run_all.py [--quick]

Needs root, because the labs are network namespaces. All labs are named ``bench-*``
and keep their state in a temporary ``DRILLKIT_STATE_DIR``, so they never clash with
other labs on the machine. Every lab is torn down on exit, Ctrl-C and SIGTERM included,
and the run ends by checking that ``ip netns list`` shows no benchmark namespace.
It took about 110 s (35 s with --quick) on the 2-core machine in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import bench_console
import bench_inject_latency
import bench_lab_updown
import bench_recover_error
import benchlib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions (1 lab cycle, 5 injects, 3 recovers per interval, 5 console "
                             "sessions, 1 netmiko session, 3 login splits, 1 console recovery round) for a smoke test")
    args = parser.parse_args()
    benchlib.require_root()
    benchlib.raise_on_signals()

    repeats_updown, repeats_inject, repeats_recover = (1, 5, 3) if args.quick else (3, 20, 10)
    console_repeats = {"setup_repeats": 5, "netmiko_repeats": 1, "phase_repeats": 3, "rounds": 1} if args.quick else {}
    benches = [
        ("Lab up and down (NetnsBackend)", "python bench/bench_lab_updown.py",
         lambda workdir: bench_lab_updown.format_rows(bench_lab_updown.run(workdir, repeats_updown))),
        ("Inject call to link down (netlink events)", "python bench/bench_inject_latency.py",
         lambda workdir: bench_inject_latency.format_rows(bench_inject_latency.run(workdir, repeats_inject))),
        ("Recover instant, measured minus true (ProbeScheduler, tcp probe)", "python bench/bench_recover_error.py",
         lambda workdir: bench_recover_error.format_rows(bench_recover_error.run(workdir, repeats_recover))),
        ("Console sessions and recovery through 20 consoles", "python bench/bench_console.py",
         lambda workdir: bench_console.format_results(bench_console.run(workdir, **console_repeats))),
    ]

    print("## Machine\n")
    for key, value in benchlib.machine_info().items():
        if "\n" in value:
            print(f"- {key}:\n\n```\n{value}\n```\n")
        else:
            print(f"- {key}: {value}")
    print()

    failed = []
    started = time.monotonic()
    with benchlib.private_workdir() as workdir:
        for title, command, bench in benches:
            print(f"## {title}\n\nCommand: `{command}`{' (run_all --quick repetitions)' if args.quick else ''}\n",
                  flush=True)
            try:
                print(bench(workdir) + "\n", flush=True)
            except Exception:  # report this benchmark's failure and go on with the next one
                traceback.print_exc()
                print("FAILED: see the traceback on stderr\n", flush=True)
                failed.append(title)
    print(f"Total time: {time.monotonic() - started:.0f} s. Load average at end (1, 5, 15 min): "
          f"{benchlib.load_average()}")
    benchlib.check_no_leftovers()
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
