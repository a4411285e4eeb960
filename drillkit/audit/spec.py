"""What the audit assumes about a lab: workloads, dependencies and how each node is managed.

Two sources, read in this order, the audit file overriding the labels:

1. Labels in the topology (on nodes, or through ``defaults``, ``kinds`` and ``groups``):

   ===========================  =====================================================
   node label                   value
   ===========================  =====================================================
   ``drillkit.workload``        name of the workload the node runs
   ``drillkit.depends``         what the workload must reach: ``feed:8000,core``
                                (node, optionally ``:port``, comma separated)
   ``drillkit.tolerance``       how long the workload tolerates losing a dependency
                                (``30s``); the SLA of generated scenarios
   ``drillkit.managed-from``    where operators manage the node from: a node name or
                                ``jail`` (the OOB jail)
   ``drillkit.mgmt``            ``oob`` (default: eth0 on the management network) or
                                ``inband`` (managed over the production network)
   ``drillkit.console``         ``line`` (default) or ``none`` (no serial console)
   ``drillkit.console-uplink``  ``oob`` (default: the console server's uplink is on the
                                management network) or the node whose production
                                port carries the console server's uplink
   ===========================  =====================================================

   A link label ``drillkit.mgmt: inband`` marks a link that also carries the
   management traffic of both its end nodes (a management VLAN on a production
   cable), so their eth0 connections fail with it. ``inband:edge1`` limits that
   to the end node edge1 (several: ``inband:a,b``).

2. The audit file (``--audit-file``)::

       reference: noc          # node that "cut off" is measured from
       managed_from: noc       # default management vantage: a node or jail
       nodes:
         edge1: {mgmt: inband, console: none, console_uplink: core}
       links:
         - {link: "core:eth2", mgmt: "inband:edge1"}
       workloads:
         - name: infer-site1
           node: inf1
           depends: ["feed:8000", {node: core, address: 10.0.1.1}]
           managed_from: noc
           tolerance: 30s

   ``address`` gives the dependency's production address for the probes of
   generated scenarios. Without it, the address comes from the target node's
   ``exec`` commands (the first ``ip addr add A/P dev ethN``, N not 0).

Every invalid value raises AuditError naming the file, line, field, value and fix.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import yamldoc
from ..errors import ConfigError
from ..lab.topology import Link, Node, Topology
from ..yamldoc import Field

log = logging.getLogger(__name__)

WORKLOAD_LABEL = "drillkit.workload"
DEPENDS_LABEL = "drillkit.depends"
TOLERANCE_LABEL = "drillkit.tolerance"
MANAGED_FROM_LABEL = "drillkit.managed-from"
MGMT_LABEL = "drillkit.mgmt"
CONSOLE_LABEL = "drillkit.console"
CONSOLE_UPLINK_LABEL = "drillkit.console-uplink"

#: Management vantage for the OOB jail, which reaches only the management network.
JAIL = "jail"
MGMT_MODES = ("oob", "inband")
CONSOLE_MODES = ("line", "none")
FILE_KEYS = {"reference", "managed_from", "nodes", "links", "workloads"}
FILE_NODE_KEYS = {"mgmt", "console", "console_uplink", "managed_from"}
FILE_WORKLOAD_KEYS = {"name", "node", "depends", "managed_from", "tolerance"}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_IP_ADDR_ADD = re.compile(r"\bip\s+(?:-4\s+)?addr(?:ess)?\s+add\s+(\d+\.\d+\.\d+\.\d+)/(\d+)\s+dev\s+(\S+)")


class AuditError(ConfigError):
    """An audit file or a drillkit.* label of the topology is invalid."""

    kind = "audit"


@dataclass(frozen=True)
class Dependency:
    """Something a workload must reach: a node, optionally a TCP port, and its production address."""

    node: str
    port: int | None = None
    address: str | None = None

    def __str__(self) -> str:
        return self.node if self.port is None else f"{self.node}:{self.port}"


@dataclass(frozen=True)
class Workload:
    """A workload, the node it runs on, what it must reach, and where it is managed from."""

    name: str
    node: str
    depends: tuple[Dependency, ...]
    managed_from: str
    tolerance_s: float | None
    path: str
    line: int | None

    @property
    def origin(self) -> str:
        """Return where the workload is defined, as ``file:line``."""
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class NodeManagement:
    """How one node is managed.

    Attributes:
        node: the node.
        mgmt: ``oob`` (eth0 on the management network) or ``inband``.
        console: whether the node has a serial console line.
        console_uplink: None when the console server's uplink is on the management
            network, else the node whose production port carries it.
        eth0_rides: production links that the node's eth0 connection rides.
        managed_from: the vantage operators use: a node name or ``jail``.
    """

    node: str
    mgmt: str
    console: bool
    console_uplink: str | None
    eth0_rides: tuple[str, ...]
    managed_from: str


@dataclass(frozen=True)
class AuditSpec:
    """Everything the audit assumes beyond the topology itself."""

    reference: str
    reference_reason: str
    managed_from: str
    management: dict[str, NodeManagement]
    workloads: tuple[Workload, ...]


def load_spec(topo: Topology, audit_file: str | Path | None = None) -> AuditSpec:
    """Read the drillkit.* labels of ``topo`` and the optional audit file.

    Raises:
        AuditError: a label or the audit file is invalid.
    """
    lines = _LabelLines(topo)
    settings = {name: _label_settings(topo, node, lines) for name, node in topo.nodes.items()
                if node.kind != "bridge"}
    eth0_rides = _link_label_rides(topo, lines)
    workloads = {w.name: w for w in _label_workloads(topo, lines)}
    reference, reason = _default_reference(topo)
    default_vantage = topo.noc or JAIL

    if audit_file is not None:
        root = Field(yamldoc.load(str(audit_file), error=AuditError, what="audit"), str(audit_file),
                     error=AuditError).mapping()
        root.check_keys(FILE_KEYS)
        if root.has("reference"):
            reference = _node_ref(root["reference"], topo, allow_bridge=True)
            reason = f"reference in {Path(str(audit_file)).name}"
        if root.has("managed_from"):
            default_vantage = _vantage(root["managed_from"], topo)
        if root.has("nodes"):
            for name, node_field in root["nodes"].items():
                _file_node_settings(name, node_field, topo, settings)
        if root.has("links"):
            for item in root["links"].sequence():
                _file_link(item, topo, eth0_rides)
        if root.has("workloads"):
            for item in root["workloads"].sequence():
                workload = _file_workload(item, topo)
                if workload.name in workloads:
                    log.info("workload %s: the audit file replaces the one from labels", workload.name)
                workloads[workload.name] = workload

    management = {}
    for name, values in settings.items():
        management[name] = NodeManagement(
            node=name, mgmt=values["mgmt"], console=values["console"], console_uplink=values["console_uplink"],
            eth0_rides=tuple(sorted(eth0_rides.get(name, ()))),
            managed_from=values["managed_from"] or default_vantage)
    resolved = tuple(_with_defaults(w, topo, default_vantage) for w in workloads.values())
    _check_unique_nodes(resolved)
    return AuditSpec(reference=reference, reference_reason=reason, managed_from=default_vantage,
                     management=management, workloads=resolved)


# -- labels ---------------------------------------------------------------------


class _LabelLines:
    """Lines of labels in the topology file, so label errors point at the label itself."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        try:
            self.raw = yamldoc.load(topo.path, error=AuditError, what="topology")
        except ConfigError:
            self.raw = None

    def node_field(self, node: Node, key: str) -> Field:
        value = node.labels.get(key)
        line = node.line
        try:
            labels = self.raw["topology"]["nodes"][node.name]["labels"]
            line = labels.key_lines.get(key, labels.line) if key in labels else node.line
        except (KeyError, TypeError, AttributeError):
            pass
        return Field(value, self.topo.path, f"topology.nodes.{node.name}.labels.{key}", line, AuditError)

    def link_field(self, index: int, link: Link, key: str) -> Field:
        line = link.line
        try:
            labels = self.raw["topology"]["links"][index]["labels"]
            line = labels.key_lines.get(key, line)
        except (KeyError, TypeError, AttributeError, IndexError):
            pass
        return Field(link.labels.get(key), self.topo.path, f"topology.links[{index}].labels.{key}", line,
                     AuditError)


def _label_settings(topo: Topology, node: Node, lines: _LabelLines) -> dict[str, Any]:
    values: dict[str, Any] = {"mgmt": "oob", "console": True, "console_uplink": None, "managed_from": None}
    if MGMT_LABEL in node.labels:
        values["mgmt"] = lines.node_field(node, MGMT_LABEL).str(choices=MGMT_MODES)
    if CONSOLE_LABEL in node.labels:
        values["console"] = lines.node_field(node, CONSOLE_LABEL).str(choices=CONSOLE_MODES) == "line"
    if CONSOLE_UPLINK_LABEL in node.labels:
        values["console_uplink"] = _uplink(lines.node_field(node, CONSOLE_UPLINK_LABEL), topo)
    if MANAGED_FROM_LABEL in node.labels:
        values["managed_from"] = _vantage(lines.node_field(node, MANAGED_FROM_LABEL), topo)
    return values


def _link_label_rides(topo: Topology, lines: _LabelLines) -> dict[str, set[str]]:
    """Map each node to the production links its eth0 connection rides, from link labels."""
    rides: dict[str, set[str]] = {}
    for index, link in enumerate(topo.links):
        if MGMT_LABEL not in link.labels:
            continue
        for node in _link_mgmt_nodes(lines.link_field(index, link, MGMT_LABEL), link):
            rides.setdefault(node, set()).add(link.name)
    return rides


def _link_mgmt_nodes(f: Field, link: Link) -> list[str]:
    """Parse a link's ``mgmt`` value: oob, inband, or inband:<end node>[,<end node>]."""
    text = f.str().strip()
    ends = [link.a.node, link.b.node]
    if text == "oob":
        return []
    if text == "inband":
        return list(dict.fromkeys(ends))
    if text.startswith("inband:"):
        names = [part.strip() for part in text[len("inband:"):].split(",") if part.strip()]
        if not names:
            raise f.fail("no end node after inband:", f"write inband:{link.a.node} or inband")
        for name in names:
            if name not in ends:
                raise f.fail(f"{name!r} is not an end of link {link.name}",
                             f"name {link.a.node} or {link.b.node}, or write inband for both")
        return names
    raise f.fail("invalid management mode of a link",
                 f"write inband (both ends), inband:{link.b.node} (one end) or oob")


def _label_workloads(topo: Topology, lines: _LabelLines) -> list[Workload]:
    workloads: list[Workload] = []
    seen: dict[str, str] = {}
    for node in topo.nodes.values():
        if WORKLOAD_LABEL not in node.labels:
            for key in (DEPENDS_LABEL, TOLERANCE_LABEL):
                if key in node.labels:
                    raise lines.node_field(node, key).fail(
                        f"{key} is set but the node has no {WORKLOAD_LABEL} label",
                        f"add {WORKLOAD_LABEL}: <name> to node {node.name}, or remove {key}")
            continue
        name_field = lines.node_field(node, WORKLOAD_LABEL)
        name = name_field.str()
        if not _NAME.match(name):
            raise name_field.fail("invalid workload name", "use letters, digits, '-', '_' and '.'")
        if name in seen:
            raise name_field.fail(f"workload {name!r} is already defined on node {seen[name]}",
                                  "give each node's workload its own name (labels set in defaults or groups "
                                  "apply to every node there)")
        seen[name] = node.name
        if node.kind == "bridge":
            raise name_field.fail("a bridge cannot run a workload", "put the label on a linux node")
        depends: list[Dependency] = []
        if DEPENDS_LABEL in node.labels:
            dep_field = lines.node_field(node, DEPENDS_LABEL)
            parts = [p.strip() for p in dep_field.str().split(",") if p.strip()]
            if not parts:
                raise dep_field.fail("no dependency given", "write node[:port], comma separated, e.g. feed:8000")
            depends = [_dependency_text(dep_field, part, topo, node.name) for part in parts]
        tolerance = None
        if TOLERANCE_LABEL in node.labels:
            tolerance = lines.node_field(node, TOLERANCE_LABEL).duration(allow_zero=False)
        managed = None
        if MANAGED_FROM_LABEL in node.labels:
            managed = _vantage(lines.node_field(node, MANAGED_FROM_LABEL), topo)
        workloads.append(Workload(name=name, node=node.name, depends=tuple(depends), managed_from=managed or "",
                                  tolerance_s=tolerance, path=topo.path, line=name_field.line))
    return workloads


# -- audit file -----------------------------------------------------------------


def _file_node_settings(name: str, f: Field, topo: Topology, settings: dict[str, dict[str, Any]]) -> None:
    if name not in topo.nodes:
        raise f.fail(f"unknown node {name!r}", f"nodes: {', '.join(topo.nodes)}", show_value=False)
    if topo.nodes[name].kind == "bridge":
        raise f.fail(f"node {name!r} is a bridge, which has no management connection",
                     "set management only for linux nodes", show_value=False)
    f.mapping()
    f.check_keys(FILE_NODE_KEYS)
    values = settings[name]
    if f.has("mgmt"):
        values["mgmt"] = f["mgmt"].str(choices=MGMT_MODES)
    if f.has("console"):
        values["console"] = f["console"].str(choices=CONSOLE_MODES) == "line"
    if f.has("console_uplink"):
        values["console_uplink"] = _uplink(f["console_uplink"], topo)
    if f.has("managed_from"):
        values["managed_from"] = _vantage(f["managed_from"], topo)


def _file_link(f: Field, topo: Topology, rides: dict[str, set[str]]) -> None:
    f.mapping()
    f.check_keys({"link", "mgmt"})
    link_field = f.require("link", 'name the link by one endpoint, e.g. link: "core:eth2"')
    link = topo.find_link(link_field.str())
    if link is None:
        choices = ", ".join(l.name for l in topo.links) or "the topology has no links"
        raise link_field.fail("no such link", f"name one endpoint (node:interface) of a link: {choices}")
    nodes = _link_mgmt_nodes(f.require("mgmt", "write mgmt: inband, inband:<end node> or oob"), link)
    for end in (link.a.node, link.b.node):
        rides.get(end, set()).discard(link.name)
    for node in nodes:
        rides.setdefault(node, set()).add(link.name)


def _file_workload(f: Field, topo: Topology) -> Workload:
    f.mapping()
    f.check_keys(FILE_WORKLOAD_KEYS)
    name_field = f.require("name", "give the workload a name")
    name = name_field.str()
    if not _NAME.match(name):
        raise name_field.fail("invalid workload name", "use letters, digits, '-', '_' and '.'")
    node = _node_ref(f.require("node", "name the node the workload runs on"), topo, allow_bridge=False)
    depends: list[Dependency] = []
    if f.has("depends"):
        for item in f["depends"].sequence():
            if isinstance(item.value, dict):
                item.check_keys({"node", "port", "address"})
                target = _node_ref(item.require("node", "name the node the workload must reach"), topo,
                                   allow_bridge=False)
                if target == node:
                    raise item["node"].fail("a workload cannot depend on its own node",
                                            "name another node, or remove the dependency")
                port = item["port"].int(minimum=1, maximum=65535) if item.has("port") else None
                address = _address(item["address"]) if item.has("address") else None
                depends.append(Dependency(node=target, port=port, address=address))
            else:
                depends.append(_dependency_text(item, item.str(), topo, node))
    tolerance = f["tolerance"].duration(allow_zero=False) if f.has("tolerance") else None
    managed = _vantage(f["managed_from"], topo) if f.has("managed_from") else ""
    return Workload(name=name, node=node, depends=tuple(depends), managed_from=managed, tolerance_s=tolerance,
                    path=f.path, line=f.line)


# -- shared checks --------------------------------------------------------------


def _dependency_text(f: Field, text: str, topo: Topology, own_node: str) -> Dependency:
    node, _, port_text = text.partition(":")
    node = node.strip()
    if node not in topo.nodes:
        raise f.fail(f"unknown node {node!r} in dependency {text!r}",
                     f"write node[:port] with a node of the topology: {', '.join(topo.nodes)}")
    if topo.nodes[node].kind == "bridge":
        raise f.fail(f"dependency {text!r} names a bridge, which has no address to reach",
                     "name the linux node behind the bridge")
    if node == own_node:
        raise f.fail(f"dependency {text!r} names the workload's own node", "name another node")
    port = None
    if port_text:
        try:
            port = int(port_text)
        except ValueError:
            raise f.fail(f"invalid port {port_text!r} in dependency {text!r}",
                         "write node:port with a port from 1 to 65535, e.g. feed:8000") from None
        if not 1 <= port <= 65535:
            raise f.fail(f"port {port} of dependency {text!r} is out of range", "use a port from 1 to 65535")
    return Dependency(node=node, port=port)


def _node_ref(f: Field, topo: Topology, *, allow_bridge: bool) -> str:
    name = f.str()
    if name not in topo.nodes:
        raise f.fail("unknown node", f"nodes in {Path(topo.path).name}: {', '.join(topo.nodes)}")
    if not allow_bridge and topo.nodes[name].kind == "bridge":
        raise f.fail("a bridge cannot be used here", "name a linux node")
    return name


def _vantage(f: Field, topo: Topology) -> str:
    name = f.str()
    if name == JAIL:
        return name
    if name not in topo.nodes or topo.nodes[name].kind == "bridge":
        linux = [n.name for n in topo.nodes.values() if n.kind != "bridge"]
        raise f.fail("unknown management vantage", f"name a linux node ({', '.join(linux)}) or jail")
    return name


def _uplink(f: Field, topo: Topology) -> str | None:
    name = f.str()
    if name == "oob":
        return None
    if name not in topo.nodes:
        raise f.fail("unknown node for the console server's uplink",
                     f"write oob, or the node whose port carries the uplink: {', '.join(topo.nodes)}")
    return name


def _address(f: Field) -> str:
    try:
        return str(ipaddress.IPv4Address(f.str()))
    except ValueError:
        raise f.fail("invalid IPv4 address", "write the dependency's production address, e.g. 10.0.0.6") from None


def _default_reference(topo: Topology) -> tuple[str, str]:
    """Return the NOC, else the linux node with the most links (first in topology order on a tie)."""
    if topo.noc:
        return topo.noc, "drillkit.role: noc"
    linux = [n.name for n in topo.nodes.values() if n.kind != "bridge"] or list(topo.nodes)
    best = max(linux, key=lambda name: (len(topo.node_links(name)), -linux.index(name)))
    return best, "the node with the most links, as no node has drillkit.role: noc"


def _with_defaults(workload: Workload, topo: Topology, vantage: str) -> Workload:
    depends = tuple(dep if dep.address else Dependency(dep.node, dep.port, production_address(topo.nodes[dep.node]))
                    for dep in workload.depends)
    return Workload(name=workload.name, node=workload.node, depends=depends,
                    managed_from=workload.managed_from or vantage, tolerance_s=workload.tolerance_s,
                    path=workload.path, line=workload.line)


def _check_unique_nodes(workloads: tuple[Workload, ...]) -> None:
    for workload in workloads:
        seen: set[str] = set()
        for dep in workload.depends:
            if str(dep) in seen:
                raise AuditError(f"workload {workload.name!r} lists dependency {dep} twice",
                                 path=workload.path, line=workload.line, fix="list each dependency once")
            seen.add(str(dep))


def production_address(node: Node) -> str | None:
    """Return the first address that the node's ``exec`` commands add to an interface other than eth0."""
    for command in node.exec:
        for address, _prefix, device in _IP_ADDR_ADD.findall(command):
            if device != "eth0":
                return address
    return None
