"""Management access to nodes: which ways survive a failure, and which share fate with production.

A way is how an operator reaches a node's control plane: ``eth0`` (its management
interface on the OOB switch), ``console`` (its serial line on a console server) or
``in-band`` (its production address). A way is independent when a path to it in the
lab graph uses no production element: no data edge, and no edge that rides a
production link or node. Independent ways survive every production failure.

Whether a way that is not independent survives a failure follows from what its path
needs. In the lab graph (see ``graph``), the OOB side meets the production side only
at the vantage itself and at console servers uplinked through a production node. So
each way needs at most:

- a set of production elements it rides (eth0 on a production cable, or the
  vantage's own eth0 on one), which must all be up;
- production connectivity from the vantage to one node (the managed node for
  in-band access, the uplink node of its console server), which the cut index
  answers for one or two failed elements without a graph search.

The graph search stays the reference: it finds independent ways and the paths that
the report shows, and the tests check the structural answers against it.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from .cuts import CutIndex
from .graph import DATA, LabGraph, console_server_vertex
from .spec import JAIL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MgmtAccess:
    """The ways from an operator at ``vantage`` to ``node`` that work while some elements are down.

    Attributes:
        oob: ways over paths that use no production element.
        shared: other ways that still work, over paths that use production elements.
    """

    node: str
    vantage: str
    oob: tuple[str, ...]
    shared: tuple[str, ...]

    @property
    def status(self) -> str:
        """Return ``oob``, ``shared`` (only over production) or ``lost``."""
        if self.oob:
            return "oob"
        return "shared" if self.shared else "lost"

    def describe(self) -> str:
        if self.oob:
            return f"{self.node} OOB ({', '.join(self.oob)})"
        if self.shared:
            return f"{self.node} only over production ({', '.join(self.shared)})"
        return f"{self.node} LOST"


@dataclass(frozen=True)
class Connection:
    """One management connection of a node and what it shares with production.

    Attributes:
        way: ``eth0``, ``console`` or ``in-band``.
        independent: True when a path uses no production element.
        reachable: True when the vantage reaches it while nothing has failed.
        via: what the connection runs over, in words.
        fails_with: production elements whose failure alone cuts the connection.
        path: lab-graph vertices from the vantage to the way, empty when unreachable.
    """

    node: str
    vantage: str
    way: str
    independent: bool
    reachable: bool
    via: str
    fails_with: tuple[str, ...]
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Way:
    """The requirements of one way to a node, beyond the vantage (see the module docstring)."""

    name: str
    vertex: str
    independent: bool
    reachable: bool
    rides: frozenset[str]
    production_target: str | None


class ManagementModel:
    """Answers management questions on one lab graph, with caches per vantage."""

    def __init__(self, graph: LabGraph, cuts: CutIndex) -> None:
        self.graph = graph
        self.cuts = cuts
        self._searches: dict[tuple[str, bool], dict[str, str | None]] = {}
        self._ways: dict[tuple[str, str], tuple[_Way, ...]] = {}
        self._access: dict[tuple[str, str, frozenset[str]], MgmtAccess] = {}

    # -- graph search ----------------------------------------------------------------

    def search(self, vantage: str, failed: frozenset[str] = frozenset(), *,
               independent_only: bool = False) -> dict[str, str | None]:
        """Return the lab-graph vertices reachable from the vantage, each with its BFS parent.

        Args:
            vantage: a node name or ``jail``.
            failed: production elements that are down.
            independent_only: use only edges that are not data edges and ride nothing.
        """
        lab = self.graph.lab
        start = [s for s in self.graph.sources(vantage) if s not in failed]
        if independent_only:
            # The vantage's own data plane is production too: independent paths start on the OOB side.
            start = [s for s in start if lab.nodes[s]["layer"] != DATA]
        parent: dict[str, str | None] = {s: None for s in start}
        queue = deque(start)
        while queue:
            vertex = queue.popleft()
            for neighbour, edges in lab.adj[vertex].items():
                if neighbour in parent or neighbour in failed:
                    continue
                for attrs in edges.values():
                    rides = attrs["rides"]
                    if independent_only and (attrs["layer"] == DATA or rides):
                        continue
                    if rides and not rides.isdisjoint(failed):
                        continue
                    parent[neighbour] = vertex
                    queue.append(neighbour)
                    break
        return parent

    def _baseline(self, vantage: str, independent_only: bool) -> dict[str, str | None]:
        key = (vantage, independent_only)
        if key not in self._searches:
            self._searches[key] = self.search(vantage, independent_only=independent_only)
        return self._searches[key]

    @staticmethod
    def _path(parents: dict[str, str | None], vertex: str) -> tuple[str, ...]:
        if vertex not in parents:
            return ()
        path = [vertex]
        while parents[path[-1]] is not None:
            path.append(parents[path[-1]])  # type: ignore[arg-type]
        return tuple(reversed(path))

    # -- ways and access ---------------------------------------------------------------

    def _vantage_rides(self, vantage: str) -> frozenset[str] | None:
        """Return what the vantage's own eth0 rides, or None when it has no eth0 on the OOB switch."""
        if vantage == JAIL:
            return frozenset()
        mgmt = self.graph.spec.management.get(vantage)
        if mgmt is None or mgmt.mgmt != "oob":
            return None
        return frozenset(mgmt.eth0_rides)

    def ways(self, node: str, vantage: str) -> tuple[_Way, ...]:
        """Return what each way from ``vantage`` to ``node`` needs."""
        key = (node, vantage)
        if key in self._ways:
            return self._ways[key]
        mgmt = self.graph.spec.management[node]
        independent = self._baseline(vantage, True)
        reachable = self._baseline(vantage, False)
        vantage_rides = self._vantage_rides(vantage) or frozenset()
        result = []
        for name, vertex in self.graph.access_targets(node).items():
            rides: frozenset[str] = frozenset()
            target = None
            if name == "eth0" and vantage != node:
                rides = frozenset(mgmt.eth0_rides) | vantage_rides
            elif name == "in-band":
                target = node
            elif name == "console":
                if mgmt.console_uplink is None:
                    rides = vantage_rides
                else:
                    target = mgmt.console_uplink
            result.append(_Way(name, vertex, vertex in independent, vertex in reachable, rides, target))
        self._ways[key] = tuple(result)
        return self._ways[key]

    def access(self, node: str, vantage: str, failed: frozenset[str] = frozenset()) -> MgmtAccess:
        """Return the ways from ``vantage`` to ``node`` that work while ``failed`` elements are down."""
        key = (node, vantage, failed)
        cached = self._access.get(key)
        if cached is not None:
            return cached
        oob, shared = [], []
        for way in self.ways(node, vantage):
            if way.independent:
                oob.append(way.name)
            elif self._works(way, vantage, failed):
                shared.append(way.name)
        result = MgmtAccess(node=node, vantage=vantage, oob=tuple(oob), shared=tuple(shared))
        self._access[key] = result
        return result

    def _works(self, way: _Way, vantage: str, failed: frozenset[str]) -> bool:
        if not way.reachable or not way.rides.isdisjoint(failed):
            return False
        if way.production_target is None:
            return True
        return self.cuts.connected(vantage, way.production_target, failed)

    # -- shared-fate report ----------------------------------------------------------

    def connections(self, node: str) -> tuple[Connection, ...]:
        """Describe each management connection of ``node`` from its own vantage."""
        mgmt = self.graph.spec.management[node]
        vantage = mgmt.managed_from
        independent = self._baseline(vantage, True)
        reachable = self._baseline(vantage, False)
        result = []
        for way in self.ways(node, vantage):
            if way.name == "eth0":
                via = f"eth0, riding {', '.join(mgmt.eth0_rides)}" if mgmt.eth0_rides else \
                    "eth0 on the management network"
            elif way.name == "in-band":
                via = f"production network from {vantage}"
            elif mgmt.console_uplink is None:
                via = f"console server {console_server_vertex(None)}, uplink on the management network"
            else:
                via = (f"console server {console_server_vertex(mgmt.console_uplink)}, uplink through "
                       f"{mgmt.console_uplink}'s production port")
            if not way.reachable:
                via += f"; {vantage} cannot reach it even with nothing failed"
            fails: tuple[str, ...] = ()
            if way.reachable and not way.independent:
                fails = tuple(sorted(way.rides))
                if way.production_target is not None:
                    fails += self._production_fails(vantage, way.production_target)
            path = self._path(independent if way.independent else reachable, way.vertex)
            result.append(Connection(node, vantage, way.name, way.independent, way.reachable, via, fails, path))
        return tuple(result)

    def _production_fails(self, vantage: str, target: str) -> tuple[str, ...]:
        """Return the production elements whose failure alone cuts ``target`` off from ``vantage``."""
        if vantage == target:
            return (vantage,)
        return (vantage, *reversed(self.cuts.single_cuts(vantage, target)), target)
