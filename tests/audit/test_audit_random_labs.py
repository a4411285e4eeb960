"""The audit against real labs: random 3-5 node labs built with NetnsBackend, cut, and pinged.

For each random lab (named ``t-aud<pid>-<N>``), every link and node except the reference
is cut in turn with drillkit's own ``link_down`` and ``node_isolation`` faults, then a
few random pairs of them. After each cut the test pings every node's loopback
address from the reference node, and compares the result with the audit's
prediction: a node is cut off when its failure list (single failures, or the
minimal pairs at depth 2) contains the cut. It also pings the touched nodes'
management addresses from the OOB jail, which the audit predicts stay reachable.

The lab runs no routing protocol, so the test plays one: after each change it reads
which interfaces the kernel reports UP in every namespace, and installs shortest-path
routes to every loopback over the links whose two ends are UP. The pings then show
whether the lab's namespaces really forward between the two nodes. All addresses
(10.77.0.0/16 on links, 10.78.0.0/24 on loopbacks, the default 172.20.20.0/24 for
management) exist only inside the lab's own namespaces.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import lab_namespaces, needs_root
from drillkit.audit.analysis import run_audit
from drillkit.audit.spec import load_spec
from drillkit.engine.runner import lab_context
from drillkit.faults import build_fault
from drillkit.lab.netns import NetnsBackend
from drillkit.lab.topology import Topology, load_topology
from drillkit.scenario.model import FaultSpec, Origin

pytestmark = [pytest.mark.lab, needs_root]

ROUTE_PROTOCOL = "99"
MAX_PAIR_CUTS = 2
_lab_numbers = itertools.count()


@st.composite
def small_labs(draw) -> tuple[int, list[tuple[int, int]], int]:
    """Return (node count, links as node index pairs, seed for the pair sample)."""
    count = draw(st.integers(min_value=3, max_value=5))
    pairs = st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)).filter(lambda p: p[0] != p[1])
    links = draw(st.lists(pairs, min_size=2, max_size=5))
    return count, links, draw(st.integers(min_value=0, max_value=2**16))


def write_lab(folder: Path, name: str, count: int, links: list[tuple[int, int]]) -> Path:
    """Write the topology: link j is 10.77.j.0/30, node i's loopback is 10.78.0.(i+1)/32."""
    next_if = [1] * count
    commands: list[list[str]] = [[f"ip addr add 10.78.0.{i + 1}/32 dev lo"] for i in range(count)]
    endpoints = []
    for j, (a, b) in enumerate(links):
        commands[a].append(f"ip addr add 10.77.{j}.1/30 dev eth{next_if[a]}")
        commands[b].append(f"ip addr add 10.77.{j}.2/30 dev eth{next_if[b]}")
        endpoints.append((f"n{a}:eth{next_if[a]}", f"n{b}:eth{next_if[b]}"))
        next_if[a] += 1
        next_if[b] += 1
    lines = [f"name: {name}", "topology:", "  defaults:", "    kind: linux", "  nodes:"]
    for i in range(count):
        lines += [f"    n{i}:", "      exec:"] + [f"        - {c}" for c in commands[i]]
        if i == 0:
            lines += ["      labels:", "        drillkit.role: noc"]
    lines.append("  links:")
    lines += [f'    - endpoints: ["{a}", "{b}"]' for a, b in endpoints]
    path = folder / f"{name}.clab.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def oper_up(namespace: str) -> set[str]:
    out = subprocess.run(["ip", "-n", namespace, "-j", "link", "show"], capture_output=True, text=True, timeout=10)
    return {entry["ifname"] for entry in json.loads(out.stdout or "[]") if entry.get("operstate") == "UP"}


def wait_links_up(topo: Topology, timeout_s: float = 5.0) -> None:
    """Wait until the kernel reports every link interface UP.

    On the test machine the second end of a restored veth pair reached operstate UP
    up to about 1 s after ``ip link set up``, and ``converge`` goes by operstate.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        up = {node: oper_up(topo.namespace(node)) for node in topo.nodes}
        down = [str(ep) for link in topo.links for ep in link.endpoints() if ep.interface not in up[ep.node]]
        if not down:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"interfaces still not UP {timeout_s:g} s after the restore: {', '.join(down)}")
        time.sleep(0.05)


def converge(topo: Topology) -> None:
    """Install shortest-path routes to every loopback over the links whose two ends the kernel reports UP."""
    up = {node: oper_up(topo.namespace(node)) for node in topo.nodes}
    adjacency: dict[str, list[tuple[str, str, str]]] = {node: [] for node in topo.nodes}
    for j, link in enumerate(topo.links):
        if link.a.interface in up[link.a.node] and link.b.interface in up[link.b.node]:
            adjacency[link.a.node].append((link.b.node, link.a.interface, f"10.77.{j}.2"))
            adjacency[link.b.node].append((link.a.node, link.b.interface, f"10.77.{j}.1"))
    for source in topo.nodes:
        first_hop: dict[str, tuple[str, str]] = {}
        seen = {source}
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for neighbour, ifname, gateway in adjacency[node]:
                if neighbour not in seen:
                    seen.add(neighbour)
                    first_hop[neighbour] = first_hop.get(node) or (ifname, gateway)
                    queue.append(neighbour)
        batch = [f"route flush proto {ROUTE_PROTOCOL}"]
        for target, (ifname, gateway) in first_hop.items():
            batch.append(f"route replace 10.78.0.{int(target[1:]) + 1}/32 via {gateway} dev {ifname} "
                         f"proto {ROUTE_PROTOCOL}")
        subprocess.run(["ip", "-n", topo.namespace(source), "-batch", "-"], input="\n".join(batch) + "\n",
                       capture_output=True, text=True, timeout=10, check=True)


def pings(namespace: str, source: str | None, target: str) -> bool:
    argv = ["ip", "netns", "exec", namespace, "ping", "-c1", "-W1", "-q"]
    if source:
        argv += ["-I", source]
    return subprocess.run(argv + [target], capture_output=True, timeout=10).returncode == 0


def loopback(node: str) -> str:
    return f"10.78.0.{int(node[1:]) + 1}"


def cut(topo: Topology, ctx, elements: tuple[str, ...]) -> list:
    """Inject a link_down or node_isolation fault per element; return the faults for restore."""
    faults = []
    for index, element in enumerate(elements):
        link = next((l for l in topo.links if l.name == element), None)
        if link is not None:
            spec = FaultSpec(name=f"cut{index}", kind="link_down", origin=Origin("test", None), link=str(link.a),
                             ends=("both",))
        else:
            spec = FaultSpec(name=f"cut{index}", kind="node_isolation", origin=Origin("test", None), node=element)
        fault = build_fault(spec, topo, ctx)
        fault.prepare()
        fault.inject()
        faults.append(fault)
    return faults


def check_cut(topo, ctx, report, elements: tuple[str, ...]) -> None:
    faults = cut(topo, ctx, elements)
    try:
        converge(topo)
        reference = report.reference
        for node in report.nodes:
            if node.node == reference or node.node in elements:
                continue
            listed = {f.elements for f in node.single + node.pairs}
            predicted_cut = not node.reachable or any(set(f) <= set(elements) for f in listed)
            observed_cut = not pings(topo.namespace(reference), loopback(reference), loopback(node.node))
            assert observed_cut == predicted_cut, (elements, node.node, node.single, node.pairs)
        touched = {end for e in elements for end in report.elements[e].ends}
        for node in sorted(touched):
            assert pings(ctx.jail, None, topo.mgmt_address(node)), f"management of {node} lost after {elements}"
    finally:
        for fault in reversed(faults):
            fault.restore()
        wait_links_up(topo)


# Each example builds a lab, so shrinking is off: it would rebuild labs for minutes. A
# failure prints the example that failed.
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(small_labs())
def test_random_lab_cuts_match_audit(lab):
    count, links, seed = lab
    # The process id keeps a lab left by a killed run from blocking this one.
    name = f"t-aud{os.getpid() % 100000}-{next(_lab_numbers)}"
    assert lab_namespaces(name) == [], f"lab {name} is already up; run 'drillkit lab down {name}'"
    with tempfile.TemporaryDirectory(prefix="drillkit-audit-") as folder:
        topo = load_topology(write_lab(Path(folder), name, count, links))
        report = run_audit(topo, load_spec(topo), depth=2, max_pairs=10_000)
        backend = NetnsBackend()
        state = backend.up(topo)
        try:
            ctx = lab_context(topo, state)
            wait_links_up(topo)
            converge(topo)
            for node in report.nodes:
                if node.node != report.reference:
                    reached = pings(topo.namespace(report.reference), loopback(report.reference),
                                    loopback(node.node))
                    assert reached == node.reachable, node.node
            candidates = [e for e in report.elements if e != report.reference]
            for element in candidates:
                check_cut(topo, ctx, report, (element,))
            pairs = list(itertools.combinations(candidates, 2))
            for pair in random.Random(seed).sample(pairs, min(MAX_PAIR_CUTS, len(pairs))):
                check_cut(topo, ctx, report, pair)
        finally:
            backend.down(name, topo=topo)
    assert lab_namespaces(name) == []
