"""Time from the ``LinkDown.inject()`` call until the kernel reports the link down.

Usage: python bench/bench_inject_latency.py [--repeats N]

The fault is drillkit's ``link_down`` on core:eth2 -- edge1:eth1 with both ends, as
``build_fault`` makes it for the edge-ai lab. One watcher process per namespace
subscribes to rtnetlink link events with pyroute2 (``IPRoute(netns=...)``, ``bind()``,
``get()``) and stamps each RTM_NEWLINK with ``time.monotonic_ns()`` when ``get()``
returns it. CLOCK_MONOTONIC is shared by all processes, so the stamps compare with
the stamp taken just before ``inject()`` in this process. The watchers run in their
own processes so that this process's GIL cannot delay them. Every delay includes
the watcher's wake-up and pyroute2's decoding of the message.

Figures, each from just before the ``inject()`` call to:

- edge1:eth1 down: the first event in edge1's namespace (the far end of the
  link) whose operstate is not UP or whose IFF_UP flag is clear. Setting core:eth2
  down drops edge1:eth1's carrier before drillkit sets edge1:eth1 itself down, so
  this is the carrier-loss event (kernel 6.18 reports operstate DOWN, IFF_UP set).
- core:eth2 admin down: the event in core's namespace with IFF_UP clear.
- edge1:eth1 admin down: the event in edge1's namespace with IFF_UP clear, which
  is the last change the fault makes.
- its return: ``inject()`` came back.

The last row times ``IPRoute(netns=...)`` open and close alone, in core's namespace.
``set_link_state`` pays it once per interface because pyroute2 0.9 creates the socket
in a forked child that enters the namespace.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import sys
import time
from pathlib import Path

import benchlib
from drillkit.engine.runner import lab_context
from drillkit.faults import build_fault
from drillkit.lab.topology import load_topology
from drillkit.scenario.model import FaultSpec, Origin

IFF_UP = 0x1
LINK = "core:eth2--edge1:eth1"
EVENT_TIMEOUT_S = 2.0


def watch_link(namespace: str, ifname: str, conn: multiprocessing.connection.Connection) -> None:
    """Send ``(t_ns, flags, operstate)`` over ``conn`` for every RTM_NEWLINK of ``ifname`` in ``namespace``.

    Runs in a child process until the parent terminates it.
    """
    from pyroute2 import IPRoute

    try:
        # flags=0: without it pyroute2 creates the namespace when it does not exist.
        ipr = IPRoute(netns=namespace, flags=0)
        ipr.bind()
        found = ipr.link_lookup(ifname=ifname)
    except Exception as exc:  # report to the parent, which raises
        conn.send(("error", f"cannot watch namespace {namespace}: {type(exc).__name__}: {exc}"))
        return
    with ipr:
        if not found:
            conn.send(("error", f"interface {ifname} not found in namespace {namespace}"))
            return
        index = found[0]
        conn.send(("ready", index))
        while True:
            messages = ipr.get()
            t_ns = time.monotonic_ns()
            for msg in messages:
                if msg.get("event") == "RTM_NEWLINK" and msg.get("index") == index:
                    conn.send(("link", t_ns, msg["flags"], msg.get_attr("IFLA_OPERSTATE")))


class Watcher:
    """A ``watch_link`` child process and the parent's end of its pipe."""

    def __init__(self, namespace: str, ifname: str) -> None:
        self.label = f"{namespace}:{ifname}"
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe(duplex=False)
        self.process = context.Process(target=watch_link, args=(namespace, ifname, child_conn), daemon=True,
                                       name=f"watch-{self.label}")
        self.process.start()
        child_conn.close()
        if not self.conn.poll(30):
            raise RuntimeError(f"netlink watcher for {self.label} did not start within 30 s")
        status = self.conn.recv()
        if status[0] != "ready":
            raise RuntimeError(f"netlink watcher for {self.label} failed: {status[1]}")

    def drain(self) -> None:
        while self.conn.poll(0):
            self.conn.recv()

    def wait_for(self, accept, timeout_s: float) -> tuple[int, int, str] | None:
        """Return the first ``(t_ns, flags, operstate)`` for which ``accept`` is true, or None after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.conn.poll(remaining):
                return None
            _kind, t_ns, flags, operstate = self.conn.recv()
            if accept(flags, operstate):
                return t_ns, flags, operstate

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)
        self.conn.close()


def is_down(flags: int, operstate: str) -> bool:
    return operstate != "UP" or not flags & IFF_UP


def is_admin_down(flags: int, _operstate: str) -> bool:
    return not flags & IFF_UP


def is_oper_up(flags: int, operstate: str) -> bool:
    return operstate == "UP" and bool(flags & IFF_UP)


def measure(topo, state, repeats: int) -> dict[str, list[float]]:
    """Inject and restore the link fault ``repeats`` times and return the delays in ms, by event."""
    ctx = lab_context(topo, state)
    spec = FaultSpec(name="bench-cut", kind="link_down", origin=Origin("bench_inject_latency.py", None), link=LINK)
    fault = build_fault(spec, topo, ctx)
    delays: dict[str, list[float]] = {"inject() to edge1:eth1 down": [], "inject() to core:eth2 admin down": [],
                                      "inject() to edge1:eth1 admin down": [], "inject() call to its return": []}
    core = Watcher(ctx.namespace("core"), "eth2")
    try:
        edge = Watcher(ctx.namespace("edge1"), "eth1")
        try:
            for attempt in range(1, repeats + 1):
                fault.prepare()  # untimed, as in DrillRunner: snapshots the routes that restore re-adds
                core.drain()
                edge.drain()
                start = time.monotonic_ns()
                try:
                    fault.inject()
                    returned = time.monotonic_ns()
                    first_down = edge.wait_for(is_down, EVENT_TIMEOUT_S)
                    edge_admin = first_down
                    if first_down is not None and not is_admin_down(*first_down[1:]):
                        # The first event was the carrier loss, so the admin-down event is still to come.
                        edge_admin = edge.wait_for(is_admin_down, EVENT_TIMEOUT_S)
                    core_admin = core.wait_for(is_admin_down, EVENT_TIMEOUT_S)
                finally:
                    fault.restore()
                if first_down is None or edge_admin is None or core_admin is None:
                    raise RuntimeError(f"run {attempt}: no link-down event within {EVENT_TIMEOUT_S} s")
                if edge.wait_for(is_oper_up, EVENT_TIMEOUT_S) is None:
                    raise RuntimeError(f"run {attempt}: edge1:eth1 not back up within {EVENT_TIMEOUT_S} s")
                delays["inject() to edge1:eth1 down"].append((first_down[0] - start) / 1e6)
                delays["inject() to core:eth2 admin down"].append((core_admin[0] - start) / 1e6)
                delays["inject() to edge1:eth1 admin down"].append((edge_admin[0] - start) / 1e6)
                delays["inject() call to its return"].append((returned - start) / 1e6)
                print(f"  run {attempt}/{repeats}: edge1:eth1 down after {delays['inject() to edge1:eth1 down'][-1]:.2f} ms "
                      f"(operstate {first_down[2]}, IFF_UP {'set' if first_down[1] & IFF_UP else 'clear'})",
                      file=sys.stderr, flush=True)
                time.sleep(0.05)
        finally:
            edge.stop()
    finally:
        core.stop()
    delays["IPRoute(netns=...) open and close"] = time_netns_open(ctx.namespace("core"), repeats)
    return delays


def time_netns_open(namespace: str, repeats: int) -> list[float]:
    """Return the times in ms of ``repeats`` opens and closes of an ``IPRoute`` in ``namespace``."""
    from pyroute2 import IPRoute

    times = []
    for _ in range(repeats):
        start = time.monotonic_ns()
        with IPRoute(netns=namespace, flags=0):
            pass
        times.append((time.monotonic_ns() - start) / 1e6)
    return times


def run(workdir: Path, repeats: int = 20) -> dict[str, dict[str, float]]:
    topo = load_topology(benchlib.copy_edge_lab(workdir))
    with benchlib.running_lab(topo) as state:
        delays = measure(topo, state, repeats)
    return {name: benchlib.summarize(values) for name, values in delays.items()}


def format_rows(summary: dict[str, dict[str, float]]) -> str:
    rows = [[name, str(stats["n"]), f"{stats['min']:.2f}", f"{stats['median']:.2f}", f"{stats['p95']:.2f}",
             f"{stats['max']:.2f}"] for name, stats in summary.items()]
    return benchlib.markdown_table(["delay", "runs", "min ms", "median ms", "p95 ms",
                                    "max ms"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="inject/restore cycles (default 20)")
    args = parser.parse_args()
    benchlib.require_root()
    benchlib.raise_on_signals()
    with benchlib.private_workdir() as workdir:
        summary = run(workdir, args.repeats)
    print(format_rows(summary))
    benchlib.check_no_leftovers()


if __name__ == "__main__":
    main()
