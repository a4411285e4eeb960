"""Management access to nodes: which ways survive a failure, and which share fate with production.

A way is how an operator reaches a node's control plane: ``eth0`` (its management
interface on the OOB switch), ``console`` (its serial line on a console server) or
``in-band`` (its production address). A way is independent when a path to it uses
no production element at all: no data edge, and no edge that rides a production
link or node. Independent ways survive every production failure, so the audit
searches for them once per vantage. Other ways are checked failure by failure.
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
    """How an operator at ``vantage`` reaches ``node`` while some elements are down.

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
    """

    node: str
    vantage: str
    way: str
    independent: bool
    reachable: bool
    via: str
    fails_with: tuple[str, ...]


class ManagementModel:
    """Answers management questions on one lab graph, with caches per vantage and failure."""

    def __init__(self, graph: LabGraph, cuts: CutIndex) -> None:
        self.graph = graph
        self.cuts = cuts
        self._independent: dict[str, set[str]] = {}
        self._reach: dict[tuple[str, frozenset[str]], set[str]] = {}
        self._access: dict[tuple[str, str, frozenset[str]], MgmtAccess] = {}

    def _search(self, vantage: str, failed: frozenset[str], independent_only: bool) -> set[str]:
        """Return the lab-graph vertices reachable from the vantage with ``failed`` elements down."""
        lab = self.graph.lab
        start = [s for s in self.graph.sources(vantage) if s not in failed]
        if independent_only:
            # The vantage's own data plane is production too: independent paths start on the OOB side.
            start = [s for s in start if lab.nodes[s]["layer"] != DATA]
        seen = set(start)
        queue = deque(start)
        while queue:
            vertex = queue.popleft()
            for neighbour, edges in lab.adj[vertex].items():
                if neighbour in seen or neighbour in failed:
                    continue
                for attrs in edges.values():
                    rides = attrs["rides"]
                    if independent_only and (attrs["layer"] == DATA or rides):
                        continue
                    if rides and not rides.isdisjoint(failed):
                        continue
                    seen.add(neighbour)
                    queue.append(neighbour)
                    break
        return seen

    def independent_reach(self, vantage: str) -> set[str]:
        if vantage not in self._independent:
            self._independent[vantage] = self._search(vantage, frozenset(), True)
        return self._independent[vantage]

    def reach(self, vantage: str, failed: frozenset[str]) -> set[str]:
        key = (vantage, failed)
        if key not in self._reach:
            self._reach[key] = self._search(vantage, failed, False)
        return self._reach[key]

    def access(self, node: str, vantage: str, failed: frozenset[str] = frozenset()) -> MgmtAccess:
        """Return the ways from ``vantage`` to ``node`` that work while ``failed`` elements are down."""
        key = (node, vantage, failed)
        cached = self._access.get(key)
        if cached is not None:
            return cached
        ways = self.graph.access_targets(node)
        independent = self.independent_reach(vantage)
        oob = tuple(way for way, vertex in ways.items() if vertex in independent)
        rest = {way: vertex for way, vertex in ways.items() if way not in oob}
        shared: tuple[str, ...] = ()
        if rest:
            reachable = self.reach(vantage, failed)
            shared = tuple(way for way, vertex in rest.items() if vertex in reachable)
        result = MgmtAccess(node=node, vantage=vantage, oob=oob, shared=shared)
        self._access[key] = result
        return result

    # -- shared-fate report ----------------------------------------------------------

    def connections(self, node: str) -> tuple[Connection, ...]:
        """Describe each management connection of ``node`` from its own vantage."""
        mgmt = self.graph.spec.management[node]
        vantage = mgmt.managed_from
        independent = self.independent_reach(vantage)
        baseline = self.reach(vantage, frozenset())
        vantage_rides = self._vantage_eth0_rides(vantage)
        result = []
        for way, vertex in self.graph.access_targets(node).items():
            if way == "eth0":
                fails = tuple(sorted(set(mgmt.eth0_rides) | set(vantage_rides or ())))
                via = f"eth0, riding {', '.join(mgmt.eth0_rides)}" if mgmt.eth0_rides else \
                    "eth0 on the management network"
            elif way == "in-band":
                fails = self._production_fails(vantage, node)
                via = f"production network from {vantage}"
            else:
                uplink = mgmt.console_uplink
                server = console_server_vertex(uplink)
                if uplink is None:
                    fails = tuple(sorted(vantage_rides or ()))
                    via = f"console server {server}, uplink on the management network"
                else:
                    fails = self._production_fails(vantage, uplink)
                    via = f"console server {server}, uplink through {uplink}'s production port"
            reachable = vertex in baseline
            if not reachable:
                via += f"; {vantage} cannot reach it even with nothing failed"
            if vertex in independent or not reachable:
                fails = ()
            result.append(Connection(node, vantage, way, vertex in independent, reachable, via, fails))
        return tuple(result)

    def _vantage_eth0_rides(self, vantage: str) -> tuple[str, ...] | None:
        """Return what the vantage's own eth0 rides, or None when the vantage has no eth0."""
        if vantage == JAIL:
            return ()
        mgmt = self.graph.spec.management.get(vantage)
        if mgmt is None or mgmt.mgmt != "oob":
            return None
        return mgmt.eth0_rides

    def _production_fails(self, vantage: str, target: str) -> tuple[str, ...]:
        """Return the production elements whose failure alone cuts ``target`` off from ``vantage``."""
        if vantage == JAIL:
            return ()
        if vantage == target:
            return (vantage,)
        if not self.cuts.reachable(vantage, target):
            return ()
        return (vantage, *reversed(self.cuts.single_cuts(vantage, target)), target)

