"""Property-based tests: the audit against brute force on random topologies.

Hypothesis draws small containerlab topologies (linux and bridge nodes, parallel
links, random drillkit.* management labels and workloads). For each one the test
removes every link and node, and every pair of them, recomputes reachability with
networkx, and compares the result with the audit's single failures and minimal pairs
(depth 1 and 2). Management access is checked against the rules of the label
reference, written out here from scratch, for no failure and for every single failure.
"""

from __future__ import annotations

import itertools

import networkx as nx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.audit.analysis import run_audit
from drillkit.audit.spec import JAIL, load_spec
from drillkit.lab.topology import Topology, load_topology

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG_LIMIT = 10_000


@st.composite
def random_labs(draw, max_nodes: int = 7, max_links: int = 11) -> str:
    """Return the text of a random topology with management labels and workloads."""
    count = draw(st.integers(min_value=2, max_value=max_nodes))
    names = [f"n{i}" for i in range(count)]
    kinds = ["linux", "linux"] + [draw(st.sampled_from(["linux", "linux", "linux", "bridge"]))
                                  for _ in range(count - 2)]
    linux = [n for n, k in zip(names, kinds) if k == "linux"]
    nodes: dict[str, dict] = {name: {"kind": kind} for name, kind in zip(names, kinds)}
    if draw(st.booleans()):
        nodes[linux[0]]["labels"] = {"drillkit.role": "noc"}

    links = []
    next_if = {name: 1 for name in names}
    for _ in range(draw(st.integers(min_value=0, max_value=max_links))):
        a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
        link: dict = {"endpoints": [f"{a}:eth{next_if[a]}", f"{b}:eth{next_if[b]}"]}
        next_if[a] += 1
        next_if[b] += 1
        label = draw(st.sampled_from([None, None, None, "inband", f"inband:{a}", "oob"]))
        if label:
            link["labels"] = {"drillkit.mgmt": label}
        links.append(link)

    for name in linux:
        labels = nodes[name].setdefault("labels", {})
        labels["drillkit.mgmt"] = draw(st.sampled_from(["oob", "oob", "oob", "inband"]))
        labels["drillkit.console"] = draw(st.sampled_from(["line", "line", "none"]))
        labels["drillkit.console-uplink"] = draw(st.sampled_from(["oob", "oob"] + names))
        vantage = draw(st.sampled_from([None, None, JAIL] + linux))
        if vantage:
            labels["drillkit.managed-from"] = vantage
    for index in range(draw(st.integers(min_value=0, max_value=2))):
        host = draw(st.sampled_from(linux))
        others = [n for n in linux if n != host]
        if not others or "drillkit.workload" in nodes[host]["labels"]:
            continue
        deps = draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True))
        nodes[host]["labels"]["drillkit.workload"] = f"w{index}"
        nodes[host]["labels"]["drillkit.depends"] = ",".join(deps)
    return yaml.safe_dump({"name": "t-prop", "topology": {"nodes": nodes, "links": links}}, sort_keys=False)


def load(text: str) -> Topology:
    return load_topology("random/t-prop.clab.yml", text=text)


def production(topo: Topology) -> nx.MultiGraph:
    graph = nx.MultiGraph()
    graph.add_nodes_from(topo.nodes)
    for link in topo.links:
        graph.add_edge(link.a.node, link.b.node, key=link.name)
    return graph


def elements(topo: Topology) -> list[str]:
    return [link.name for link in topo.links] + list(topo.nodes)


def connected_without(topo: Topology, graph: nx.MultiGraph, removed: set[str], a: str, b: str) -> bool:
    if a in removed or b in removed:
        return False
    view = graph.copy()
    for link in topo.links:
        if link.name in removed:
            view.remove_edge(link.a.node, link.b.node, key=link.name)
    view.remove_nodes_from([n for n in removed if n in topo.nodes])
    return nx.has_path(view, a, b)


def brute_cuts(topo: Topology, root: str, target: str) -> tuple[set[str], set[frozenset[str]]]:
    """Return the single failures and minimal failure pairs that separate target from root."""
    graph = production(topo)
    candidates = [e for e in elements(topo) if e not in (root, target)]
    singles = {e for e in candidates if not connected_without(topo, graph, {e}, root, target)}
    rest = [e for e in candidates if e not in singles]
    pairs = {frozenset(pair) for pair in itertools.combinations(rest, 2)
             if not connected_without(topo, graph, set(pair), root, target)}
    return singles, pairs


@SETTINGS
@given(random_labs())
def test_workload_cuts_match_brute_force(text):
    topo = load(text)
    spec = load_spec(topo)
    report = run_audit(topo, spec, depth=2, max_pairs=BIG_LIMIT)
    graph = production(topo)
    for result in report.workloads:
        for dep in result.dependencies:
            host, target = result.workload.node, dep.dependency.node
            reachable = nx.has_path(graph, host, target)
            assert dep.reachable == reachable
            if not reachable:
                continue
            singles, pairs = brute_cuts(topo, host, target)
            assert {f.elements[0] for f in dep.single} == singles | {target}
            assert {frozenset(f.elements) for f in dep.pairs} == pairs
            assert dep.pair_count == len(pairs)


@SETTINGS
@given(random_labs())
def test_node_cuts_match_brute_force(text):
    topo = load(text)
    spec = load_spec(topo)
    report = run_audit(topo, spec, depth=2, max_pairs=BIG_LIMIT)
    graph = production(topo)
    for node in report.nodes:
        if node.node == spec.reference:
            continue
        reachable = nx.has_path(graph, spec.reference, node.node)
        assert node.reachable == reachable
        if not reachable:
            continue
        singles, pairs = brute_cuts(topo, spec.reference, node.node)
        assert {f.elements[0] for f in node.single} == singles
        assert {frozenset(f.elements) for f in node.pairs} == pairs
        assert node.pair_count == len(pairs)


@SETTINGS
@given(random_labs(), st.integers(min_value=0, max_value=3))
def test_pair_listing_is_capped_but_count_exact(text, limit):
    topo = load(text)
    spec = load_spec(topo)
    full = run_audit(topo, spec, depth=2, max_pairs=BIG_LIMIT)
    capped = run_audit(topo, spec, depth=2, max_pairs=limit)
    for whole, part in zip(full.nodes, capped.nodes):
        assert part.pair_count == whole.pair_count
        assert len(part.pairs) == min(limit, whole.pair_count)
        assert {f.elements for f in part.pairs} <= {f.elements for f in whole.pairs}


@SETTINGS
@given(random_labs())
def test_depth_one_lists_singles_only(text):
    topo = load(text)
    spec = load_spec(topo)
    one = run_audit(topo, spec, depth=1)
    two = run_audit(topo, spec, depth=2)
    for a, b in zip(one.nodes, two.nodes):
        assert a.pairs == ()
        assert a.pair_count == 0
        assert [f.elements for f in a.single] == [f.elements for f in b.single]


# -- management ---------------------------------------------------------------------


def expected_ways(topo: Topology, spec, node: str, vantage: str, failed: set[str]) -> tuple[set[str], set[str]]:
    """Apply the label reference by hand: return (independent ways, ways that work with ``failed`` down)."""
    graph = production(topo)
    mgmt = spec.management[node]
    vantage_mgmt = spec.management.get(vantage)
    if vantage == JAIL:
        vantage_oob, vantage_rides = True, set()
    else:
        vantage_oob = vantage_mgmt.mgmt == "oob"
        vantage_rides = set(vantage_mgmt.eth0_rides)
    independent, working = set(), set()

    if mgmt.mgmt == "oob":
        if vantage == node:
            independent.add("eth0")
            working.add("eth0")
        elif vantage_oob:
            rides = set(mgmt.eth0_rides) | vantage_rides
            if not rides:
                independent.add("eth0")
            if not rides & failed:
                working.add("eth0")
    elif vantage != JAIL and connected_without(topo, graph, failed, vantage, node):
        working.add("in-band")

    if mgmt.console:
        uplink = mgmt.console_uplink
        if uplink is None:
            if vantage_oob:
                if not vantage_rides:
                    independent.add("console")
                if not vantage_rides & failed:
                    working.add("console")
        elif vantage != JAIL and connected_without(topo, graph, failed, vantage, uplink):
            working.add("console")
    return independent, working | independent


@SETTINGS
@given(random_labs())
def test_management_access_matches_rules(text):
    from drillkit.audit.cuts import CutIndex
    from drillkit.audit.graph import LabGraph
    from drillkit.audit.mgmt import ManagementModel

    topo = load(text)
    spec = load_spec(topo)
    graph = LabGraph(topo, spec)
    model = ManagementModel(graph, CutIndex(graph.production))
    failures = [set()] + [{e} for e in elements(topo)]
    for node, mgmt in spec.management.items():
        for vantage in {mgmt.managed_from, JAIL}:
            for failed in failures:
                access = model.access(node, vantage, frozenset(failed))
                independent, working = expected_ways(topo, spec, node, vantage, failed)
                assert set(access.oob) == independent, (node, vantage, failed)
                assert set(access.oob) | set(access.shared) == working, (node, vantage, failed)


@SETTINGS
@given(random_labs())
def test_connections_fail_with_brute_force(text):
    topo = load(text)
    spec = load_spec(topo)
    report = run_audit(topo, spec)
    for node in report.nodes:
        vantage = spec.management[node.node].managed_from
        independent, baseline = expected_ways(topo, spec, node.node, vantage, set())
        assert {c.way for c in node.connections if c.independent} == independent
        assert {c.way for c in node.connections if c.reachable} == baseline
        for connection in node.connections:
            if connection.independent or not connection.reachable:
                assert connection.fails_with == ()
                continue
            fails = {e for e in elements(topo)
                     if connection.way not in expected_ways(topo, spec, node.node, vantage, {e})[1]}
            assert set(connection.fails_with) == fails, connection


@SETTINGS
@given(random_labs())
def test_exit_code_flags_any_shared_connection(text):
    topo = load(text)
    spec = load_spec(topo)
    report = run_audit(topo, spec)
    shared = False
    for node, mgmt in spec.management.items():
        independent, _ = expected_ways(topo, spec, node, mgmt.managed_from, set())
        ways = set(graph_ways(mgmt))
        shared = shared or bool(ways - independent)
    assert report.exit_code == (1 if shared else 0)


def graph_ways(mgmt) -> list[str]:
    ways = ["eth0" if mgmt.mgmt == "oob" else "in-band"]
    if mgmt.console:
        ways.append("console")
    return ways
