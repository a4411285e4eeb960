"""The lab as networkx graphs: the production network, and the whole lab with its management paths.

Vertices of the lab graph:

- ``<node>``: a node's data plane (its production interfaces);
- ``<node>/eth0``: a node's management interface, for nodes managed out of band;
- ``<node>/console``: a node's serial console;
- ``@oob``: the management switch that every eth0 joins;
- ``@jail``: the OOB jail, the operator side that reaches only the management network;
- ``@consrv``: the console server whose uplink is on the management network, and
  ``@consrv:<node>`` for a console server whose uplink rides that node's production port.

Node names cannot contain ``/``, ``@`` or ``:``, so these names never clash with a node.
A node's data plane and its eth0 are separate vertices because a node does not
forward between its production interfaces and its management interface.

Edges carry ``layer`` (``data``, ``eth0``, ``console``, ``uplink``, ``jail``) and
``rides``: the production elements (link or node names) whose failure also takes the
edge down. An edge with an empty ``rides`` that is not ``data`` is independent of the
production network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import networkx as nx

from ..lab.topology import Topology
from .spec import JAIL, AuditSpec

log = logging.getLogger(__name__)

OOB_SWITCH = "@oob"
JAIL_VERTEX = "@jail"
CONSOLE_SERVER = "@consrv"

DATA, ETH0, CONSOLE, UPLINK, JAIL_LAYER = "data", "eth0", "console", "uplink", "jail"


def eth0_vertex(node: str) -> str:
    return f"{node}/eth0"


def console_vertex(node: str) -> str:
    return f"{node}/console"


def console_server_vertex(uplink: str | None) -> str:
    return CONSOLE_SERVER if uplink is None else f"{CONSOLE_SERVER}:{uplink}"


@dataclass(frozen=True)
class Element:
    """A production element that can fail: a link, or a node's data plane.

    Attributes:
        name: the link name (``a:if--b:if``) or the node name.
        kind: ``link`` or ``node``.
        ends: the link's two end nodes, or the node itself.
        endpoint: for a link, its first endpoint (``a:if``), which names it in scenarios.
    """

    name: str
    kind: str
    ends: tuple[str, ...]
    endpoint: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class LabGraph:
    """The production graph and the lab graph of one topology and audit spec.

    Attributes:
        production: a MultiGraph of node names; each link is an edge keyed by its name.
        lab: a MultiGraph of every vertex listed in the module docstring.
        elements: production elements by name, links first in topology order, then nodes.
    """

    def __init__(self, topo: Topology, spec: AuditSpec) -> None:
        self.topo = topo
        self.spec = spec
        self.elements: dict[str, Element] = {}
        self.production = nx.MultiGraph()
        self.lab = nx.MultiGraph()
        self._build_production()
        self._build_lab()

    def _build_production(self) -> None:
        for node in self.topo.nodes.values():
            self.production.add_node(node.name, kind=node.kind)
        for link in self.topo.links:
            self.elements[link.name] = Element(link.name, "link", (link.a.node, link.b.node), str(link.a))
            self.production.add_edge(link.a.node, link.b.node, key=link.name)
        for node in self.topo.nodes.values():
            self.elements[node.name] = Element(node.name, "node", (node.name,))

    def _build_lab(self) -> None:
        lab = self.lab
        for node in self.topo.nodes.values():
            lab.add_node(node.name, layer=DATA, kind=node.kind)
        for link in self.topo.links:
            lab.add_edge(link.a.node, link.b.node, key=link.name, layer=DATA, rides=frozenset({link.name}))
        lab.add_node(OOB_SWITCH, layer="oob")
        lab.add_node(JAIL_VERTEX, layer="oob")
        lab.add_edge(JAIL_VERTEX, OOB_SWITCH, key="jail", layer=JAIL_LAYER, rides=frozenset())
        for name, mgmt in self.spec.management.items():
            if mgmt.mgmt == "oob":
                lab.add_node(eth0_vertex(name), layer=ETH0)
                lab.add_edge(eth0_vertex(name), OOB_SWITCH, key=f"{name}:eth0", layer=ETH0,
                             rides=frozenset(mgmt.eth0_rides))
            if mgmt.console:
                server = console_server_vertex(mgmt.console_uplink)
                if server not in lab:
                    self._add_console_server(mgmt.console_uplink)
                lab.add_node(console_vertex(name), layer=CONSOLE)
                lab.add_edge(server, console_vertex(name), key=f"{name}:console", layer=CONSOLE, rides=frozenset())

    def _add_console_server(self, uplink: str | None) -> None:
        server = console_server_vertex(uplink)
        self.lab.add_node(server, layer="oob")
        if uplink is None:
            self.lab.add_edge(server, OOB_SWITCH, key="uplink", layer=UPLINK, rides=frozenset())
        else:
            self.lab.add_edge(server, uplink, key="uplink", layer=UPLINK, rides=frozenset({uplink}))

    # -- queries --------------------------------------------------------------------

    def sources(self, vantage: str) -> tuple[str, ...]:
        """Return the lab-graph vertices an operator at ``vantage`` starts from."""
        if vantage == JAIL:
            return (JAIL_VERTEX,)
        found = [vantage]
        if eth0_vertex(vantage) in self.lab:
            found.append(eth0_vertex(vantage))
        return tuple(found)

    def access_targets(self, node: str) -> dict[str, str]:
        """Return the ways to reach ``node``'s control plane: way name to lab-graph vertex."""
        mgmt = self.spec.management.get(node)
        if mgmt is None:
            return {}
        ways = {}
        if mgmt.mgmt == "oob":
            ways["eth0"] = eth0_vertex(node)
        else:
            ways["in-band"] = node
        if mgmt.console:
            ways["console"] = console_vertex(node)
        return ways

    def is_managed(self, node: str) -> bool:
        return node in self.spec.management
