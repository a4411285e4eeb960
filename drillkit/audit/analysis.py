"""The failure-assumption audit: which failures cut workloads and nodes off, and what management survives.

``run_audit`` combines the cut index (which single and paired failures separate two
nodes) with the management model (which ways to each node's control plane survive
a failure, and which share fate with production) into an ``AuditReport``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..lab.topology import Topology, load_topology
from .cli import DEFAULT_MAX_PAIRS
from .cuts import CutIndex
from .graph import Element, LabGraph
from .mgmt import Connection, ManagementModel, MgmtAccess
from .spec import AuditSpec, Dependency, Workload, load_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """One failure (a single element, or a pair at depth 2) and the management it leaves.

    Attributes:
        elements: element names, one or two.
        management: access to each managed node the failure touches (a failed
            link's end nodes, or the isolated node), from the relevant vantage.
    """

    elements: tuple[str, ...]
    management: tuple[MgmtAccess, ...]

    @property
    def mgmt_survives(self) -> bool:
        """Return True when every touched node stays reachable over an independent path."""
        return all(access.status == "oob" for access in self.management)



@dataclass(frozen=True)
class DependencyResult:
    """The failures that cut a workload off from one dependency.

    ``single`` runs from the workload's side to the dependency and ends with the
    dependency's own node. The workload's own node is not listed.
    """

    dependency: Dependency
    reachable: bool
    single: tuple[Failure, ...]
    pairs: tuple[Failure, ...]
    pair_count: int


@dataclass(frozen=True)
class WorkloadResult:
    """A workload and the result for each of its dependencies."""

    workload: Workload
    dependencies: tuple[DependencyResult, ...]


@dataclass(frozen=True)
class NodeResult:
    """The failures that cut a node off from the reference node, and its management connections.

    ``single`` runs from the reference's side to the node; neither end is listed.
    """

    node: str
    reachable: bool
    single: tuple[Failure, ...]
    pairs: tuple[Failure, ...]
    pair_count: int
    connections: tuple[Connection, ...]

    @property
    def independent(self) -> bool:
        return any(c.independent for c in self.connections)


@dataclass(frozen=True)
class AuditReport:
    """Everything the audit found, for the table, the JSON and HTML files and the scenario generator."""

    lab: str
    topology: str
    depth: int
    max_pairs: int
    reference: str
    reference_reason: str
    managed_from: str
    elements: dict[str, Element]
    workloads: tuple[WorkloadResult, ...]
    nodes: tuple[NodeResult, ...]
    duration_s: float

    @property
    def shared_fate(self) -> tuple[Connection, ...]:
        """Return the management connections that are not independent of the production network."""
        return tuple(c for node in self.nodes for c in node.connections if not c.independent)

    @property
    def exit_code(self) -> int:
        """Return 1 when any management connection shares fate with the data plane, else 0."""
        return 1 if self.shared_fate else 0


def audit_topology(path: str | Path, audit_file: str | Path | None = None, *, depth: int = 1,
                   max_pairs: int = DEFAULT_MAX_PAIRS) -> tuple[Topology, AuditSpec, AuditReport]:
    """Load a topology and its audit assumptions, then audit them.

    Raises:
        TopologyError: the topology is invalid.
        AuditError: a drillkit.* label or the audit file is invalid.
    """
    topo = load_topology(path)
    spec = load_spec(topo, audit_file)
    return topo, spec, run_audit(topo, spec, depth=depth, max_pairs=max_pairs)


def run_audit(topo: Topology, spec: AuditSpec, *, depth: int = 1, max_pairs: int = DEFAULT_MAX_PAIRS) -> AuditReport:
    """Audit ``topo`` under ``spec``.

    Args:
        topo: the parsed topology.
        spec: workloads, dependencies and management assumptions.
        depth: 1 for single failures, 2 to add minimal pairs of failures.
        max_pairs: how many pairs to list per dependency or node; counts stay exact.
    """
    if depth not in (1, 2):
        raise ValueError(f"invalid depth {depth}: use 1 or 2")
    started = time.perf_counter()
    graph = LabGraph(topo, spec)
    cuts = CutIndex(graph.production)
    auditor = _Auditor(graph, cuts, ManagementModel(graph, cuts), depth, max_pairs)
    workloads = tuple(auditor.workload(w) for w in spec.workloads)
    nodes = tuple(auditor.node(name, spec.reference) for name in spec.management)
    duration = time.perf_counter() - started
    log.info("audit of %s: %d nodes, %d links, depth %d, %.3f s", topo.name, len(topo.nodes), len(topo.links),
             depth, duration)
    return AuditReport(lab=topo.name, topology=topo.path, depth=depth, max_pairs=max_pairs, reference=spec.reference,
                       reference_reason=spec.reference_reason, managed_from=spec.managed_from,
                       elements=dict(graph.elements), workloads=workloads, nodes=nodes, duration_s=duration)


class _Auditor:
    def __init__(self, graph: LabGraph, cuts: CutIndex, model: ManagementModel, depth: int, max_pairs: int) -> None:
        self.graph = graph
        self.cuts = cuts
        self.model = model
        self.depth = depth
        self.max_pairs = max_pairs
        self._failures: dict[tuple[str | None, tuple[str, ...]], Failure] = {}

    def failure(self, elements: tuple[str, ...], vantage: str | None) -> Failure:
        """Return the failure of ``elements``, with management checked from ``vantage``.

        With ``vantage`` None, each touched node is checked from its own managed-from vantage.
        """
        key = (vantage, elements)
        cached = self._failures.get(key)
        if cached is not None:
            return cached
        failed = frozenset(elements)
        touched: list[str] = []
        for name in elements:
            for node in self.graph.elements[name].ends:
                if self.graph.is_managed(node) and node not in touched:
                    touched.append(node)
        management = tuple(
            self.model.access(node, vantage or self.graph.spec.management[node].managed_from, failed)
            for node in touched)
        result = Failure(elements=elements, management=management)
        self._failures[key] = result
        return result

    def _cut_failures(self, root: str, target: str, vantage: str | None, add_target: bool,
                      many_targets: bool) -> tuple[bool, tuple[Failure, ...], tuple[Failure, ...], int]:
        if not self.cuts.reachable(root, target):
            return False, (), (), 0
        names = list(reversed(self.cuts.single_cuts(root, target)))
        if add_target:
            names.append(target)
        single = tuple(self.failure((name,), vantage) for name in names)
        pairs: tuple[Failure, ...] = ()
        count = 0
        if self.depth == 2:
            count, found = self.cuts.pairs(root, target, self.max_pairs, many_targets=many_targets)
            pairs = tuple(self.failure(pair, vantage) for pair in found)
        return True, single, pairs, count

    def workload(self, workload: Workload) -> WorkloadResult:
        results = []
        for dep in workload.depends:
            reachable, single, pairs, count = self._cut_failures(workload.node, dep.node, workload.managed_from,
                                                                 add_target=True, many_targets=False)
            results.append(DependencyResult(dependency=dep, reachable=reachable, single=single, pairs=pairs,
                                            pair_count=count))
        return WorkloadResult(workload=workload, dependencies=tuple(results))

    def node(self, name: str, reference: str) -> NodeResult:
        connections = self.model.connections(name)
        if name == reference:
            return NodeResult(node=name, reachable=True, single=(), pairs=(), pair_count=0, connections=connections)
        reachable, single, pairs, count = self._cut_failures(reference, name, None, add_target=False,
                                                             many_targets=True)
        return NodeResult(node=name, reachable=reachable, single=single, pairs=pairs, pair_count=count,
                          connections=connections)
