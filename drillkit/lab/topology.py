"""containerlab topology files (``*.clab.yml``) as frozen dataclasses.

The parser accepts the containerlab schema: ``name``, ``prefix``, ``mgmt``, and
``topology.defaults|kinds|groups|nodes|links``. Node settings are merged the way
containerlab merges them: node over group over kind over defaults. Keys that
containerlab accepts but a backend does not use are kept in ``Node.extra``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import yamldoc
from ..errors import TopologyError
from ..yamldoc import Field

log = logging.getLogger(__name__)

#: Node keys containerlab accepts (from its topology schema); the netns backend
#: uses some and keeps the rest in ``Node.extra``.
CLAB_NODE_KEYS = {
    "kind", "group", "type", "image", "image-pull-policy", "license", "position", "entrypoint",
    "cmd", "exec", "startup-config", "startup-delay", "enforce-startup-config",
    "suppress-startup-config", "auto-remove", "restart-policy", "binds", "ports", "mgmt-ipv4",
    "mgmt-ipv6", "network-mode", "env", "env-files", "labels", "user", "publish", "runtime",
    "cpu", "cpu-set", "memory", "components", "config", "sandbox", "kernel", "extras",
    "wait-for", "dns", "certificate", "healthcheck", "aliases", "stages", "devices", "sysctls",
    "shm-size", "mac-address", "cap-add", "extra-hosts", "ipv4-subnet",
}
CLAB_TOP_KEYS = {"name", "prefix", "mgmt", "topology", "settings", "debug"}
CLAB_MGMT_KEYS = {"network", "ipv4-subnet", "ipv6-subnet", "ipv4-gw", "ipv6-gw", "ipv4-range",
                  "ipv6-range", "mtu", "bridge", "external-access", "driver-opts"}
CLAB_LINK_KEYS = {"endpoints", "type", "mtu", "vars", "labels", "endpoint", "host-interface",
                  "mode", "remote", "vni", "udp-port"}

DEFAULT_MGMT_SUBNET = "172.20.20.0/24"
DEFAULT_MGMT_NETWORK = "clab"
#: ``prefix`` value that makes containerlab name containers ``<lab>-<node>`` (containerlab's createNodeCfg).
LAB_NAME_PREFIX = "__lab-name"
_IFNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,15}$")
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

#: Role label: which node is the operator side (NOC).
ROLE_LABEL = "drillkit.role"


@dataclass(frozen=True)
class Endpoint:
    """One end of a link: ``node:interface``."""

    node: str
    interface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.interface}"


@dataclass(frozen=True)
class Link:
    """A point-to-point link of the primary (production) network."""

    a: Endpoint
    b: Endpoint
    line: int | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.a}--{self.b}"

    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        return (self.a, self.b)

    def touches(self, node: str) -> bool:
        return node in (self.a.node, self.b.node)


@dataclass(frozen=True)
class Bind:
    """A containerlab bind: host ``source`` mounted at ``target`` inside the node."""

    source: str
    target: str
    mode: str = "rw"


@dataclass(frozen=True)
class Node:
    """A lab node after merging defaults, kind and group settings."""

    name: str
    kind: str
    image: str | None = None
    mgmt_ipv4: str | None = None
    exec: tuple[str, ...] = ()
    binds: tuple[Bind, ...] = ()
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    startup_config: str | None = None
    group: str | None = None
    line: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def role(self) -> str | None:
        return self.labels.get(ROLE_LABEL)


@dataclass(frozen=True)
class Mgmt:
    """The management (OOB) network of the lab."""

    network: str = DEFAULT_MGMT_NETWORK
    ipv4_subnet: str = DEFAULT_MGMT_SUBNET
    ipv4_gw: str | None = None

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(self.ipv4_subnet, strict=False)


@dataclass(frozen=True)
class Topology:
    """A parsed topology file."""

    name: str
    path: str
    #: containerlab's ``prefix`` as written ("clab" when absent); ``namespace`` applies it.
    prefix: str
    mgmt: Mgmt
    nodes: dict[str, Node]
    links: tuple[Link, ...]

    @property
    def directory(self) -> Path:
        return Path(self.path).resolve().parent

    def namespace(self, node: str) -> str:
        """Return the network namespace (container) name of ``node``, as containerlab names it."""
        if self.prefix == "":
            return node
        if self.prefix == LAB_NAME_PREFIX:
            return f"{self.name}-{node}"
        return f"{self.prefix}-{self.name}-{node}"

    def node_links(self, node: str) -> list[Link]:
        return [link for link in self.links if link.touches(node)]

    def find_link(self, spec: str) -> Link | None:
        """Find a link by one endpoint ``node:if`` or by ``a:if--b:if`` / ``a:if,b:if``."""
        parts = [p.strip() for p in re.split(r"--|,", spec) if p.strip()]
        for link in self.links:
            names = {str(link.a), str(link.b)}
            if all(p in names for p in parts):
                return link
        return None

    def mgmt_address(self, node: str) -> str:
        """Return the management IPv4 address of ``node`` (assigned when not fixed)."""
        return assign_mgmt_addresses(self)[node]

    @property
    def noc(self) -> str | None:
        for node in self.nodes.values():
            if node.role == "noc":
                return node.name
        return None


def assign_mgmt_addresses(topo: Topology) -> dict[str, str]:
    """Give every non-bridge node a management address: its ``mgmt-ipv4`` or the next free one."""
    subnet = topo.mgmt.subnet
    taken = {topo.mgmt.ipv4_gw or str(next(subnet.hosts()))}
    taken.add(str(jail_address(topo)))
    taken.add(str(consrv_address(topo)))
    result: dict[str, str] = {}
    for node in topo.nodes.values():
        if node.mgmt_ipv4:
            taken.add(node.mgmt_ipv4)
            result[node.name] = node.mgmt_ipv4
    free = (str(h) for h in subnet.hosts() if str(h) not in taken)
    for node in topo.nodes.values():
        if node.kind == "bridge" or node.name in result:
            continue
        try:
            result[node.name] = next(free)
        except StopIteration:
            raise TopologyError(f"the management subnet {subnet} has no free address for node {node.name!r}",
                                path=topo.path, line=node.line, field="mgmt.ipv4-subnet",
                                fix="use a larger subnet") from None
    return result


def gateway_address(topo: Topology) -> str:
    return topo.mgmt.ipv4_gw or str(next(topo.mgmt.subnet.hosts()))


def jail_address(topo: Topology) -> ipaddress.IPv4Address:
    """Return the OOB jail's address: the last host address of the management subnet."""
    return topo.mgmt.subnet.broadcast_address - 1


def consrv_address(topo: Topology) -> ipaddress.IPv4Address:
    """Return the console server's address: the second-to-last host address of the management subnet."""
    return topo.mgmt.subnet.broadcast_address - 2


def load_topology(path: str | Path, *, text: str | None = None) -> Topology:
    """Parse a containerlab topology file.

    Raises:
        TopologyError: the file is invalid; the message names the line, field and fix.
    """
    path = str(path)
    root = Field(yamldoc.load(path, error=TopologyError, text=text, what="topology"), path,
                 error=TopologyError).mapping()
    root.check_keys(CLAB_TOP_KEYS, warn=log.warning)

    name = root.require("name", "add name: <lab name> at the top level").str()
    if not _NODE_NAME.match(name):
        raise root["name"].fail("invalid lab name", "use letters, digits, '-', '_' and '.'")
    prefix = "clab"
    if root.has("prefix") or (isinstance(root.value, dict) and root.value.get("prefix") == ""):
        prefix = root["prefix"].str(allow_empty=True)

    mgmt = _parse_mgmt(root["mgmt"]) if root.has("mgmt") else Mgmt()

    topo_field = root.require("topology", "add a topology: mapping with nodes and links").mapping()
    topo_field.check_keys({"defaults", "kinds", "groups", "nodes", "links"}, warn=log.warning)
    defaults = _raw_map(topo_field["defaults"]) if topo_field.has("defaults") else {}
    kinds = {k: _raw_map(v) for k, v in topo_field["kinds"].items()} if topo_field.has("kinds") else {}
    groups = {k: _raw_map(v) for k, v in topo_field["groups"].items()} if topo_field.has("groups") else {}

    nodes_field = topo_field.require("nodes", "add nodes: with at least one node")
    nodes: dict[str, Node] = {}
    for node_name, node_field in nodes_field.items():
        nodes[node_name] = _parse_node(node_name, node_field, defaults, kinds, groups)
    if not nodes:
        raise nodes_field.fail("the topology has no nodes", "add at least one node")

    links = tuple(_parse_links(topo_field["links"], nodes)) if topo_field.has("links") else ()
    topo = Topology(name=name, path=path, prefix=prefix, mgmt=mgmt, nodes=nodes, links=links)
    _check_mgmt_addresses(topo, nodes_field)
    return topo


def _raw_map(f: Field) -> dict[str, Any]:
    _check_settings(f)
    return dict(f.value)


def _check_settings(f: Field) -> None:
    """Check the types of the node settings that are merged or used as keys, so errors name their line."""
    f.mapping()
    if f.has("kind"):
        f["kind"].str()
    for key in ("env", "labels"):
        if f.has(key):
            _string_map(f[key])
    if f.has("binds"):
        for bind in f["binds"].sequence():
            _parse_bind(bind)


def _string_map(f: Field) -> dict[str, str]:
    """Read ``env`` or ``labels``: a mapping of names to plain values, as strings."""
    result: dict[str, str] = {}
    for key, value_field in f.items():
        if value_field.value is None:
            result[key] = ""
        elif isinstance(value_field.value, bool):
            result[key] = "true" if value_field.value else "false"
        else:
            result[key] = value_field.str(allow_empty=True)
    return result


def _parse_mgmt(f: Field) -> Mgmt:
    f.mapping()
    f.check_keys(CLAB_MGMT_KEYS, warn=log.warning)
    subnet = DEFAULT_MGMT_SUBNET
    if f.has("ipv4-subnet"):
        sf = f["ipv4-subnet"]
        try:
            net = ipaddress.ip_network(sf.str(), strict=False)
        except ValueError:
            raise sf.fail("invalid IPv4 subnet", "write it as 172.20.20.0/24") from None
        if net.version != 4 or net.prefixlen > 29:
            raise sf.fail("the management subnet must be IPv4 with room for nodes (/29 or larger)",
                          "use a /29 or larger IPv4 subnet, such as 172.20.20.0/24")
        subnet = str(net)
    gw = None
    if f.has("ipv4-gw"):
        gf = f["ipv4-gw"]
        try:
            gw_addr = ipaddress.IPv4Address(gf.str())
        except ValueError:
            raise gf.fail("invalid IPv4 address", "write it as 172.20.20.1") from None
        net = ipaddress.ip_network(subnet)
        reserved = (net.network_address, net.broadcast_address, net.broadcast_address - 1, net.broadcast_address - 2)
        if gw_addr not in net or gw_addr in reserved:
            raise gf.fail(f"the gateway must be a host address of {net} other than the last two, "
                          "which the OOB jail and the console server use",
                          "pick another address inside mgmt.ipv4-subnet")
        gw = str(gw_addr)
    network = f["network"].str() if f.has("network") else DEFAULT_MGMT_NETWORK
    return Mgmt(network=network, ipv4_subnet=subnet, ipv4_gw=gw)


def _merge(*layers: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in ("env", "labels") and isinstance(value, dict):
                merged[key] = {**(merged.get(key) or {}), **value}
            elif key == "binds" and isinstance(value, list):
                below = merged.get(key) or []
                merged[key] = list(below) + [b for b in value if b not in below]
            else:
                merged[key] = value
    return merged


def _parse_node(name: str, f: Field, defaults: dict, kinds: dict, groups: dict) -> Node:
    if not _NODE_NAME.match(name):
        raise f.fail(f"invalid node name {name!r}", "use letters, digits, '-', '_' and '.'", show_value=False)
    if f.value is None:
        own: dict[str, Any] = {}
    else:
        f.mapping()
        f.check_keys(CLAB_NODE_KEYS, warn=log.warning)
        _check_settings(f)
        own = dict(f.value)
    group = f["group"].str() if f.has("group") else None
    kind = own.get("kind") or (groups.get(group, {}).get("kind") if group else None) or defaults.get("kind")
    if not kind:
        raise f.fail(f"node {name!r} has no kind", "set kind: linux (or bridge) on the node or in topology.defaults",
                     show_value=False)
    if group is not None and group not in groups:
        raise f["group"].fail("unknown group", f"define it under topology.groups (defined: {', '.join(groups) or 'none'})")
    merged = _merge(defaults, kinds.get(kind, {}), groups.get(group, {}) if group else {}, own)
    merged["kind"] = kind

    node_field = Field(merged, f.path, f.field, f.line, TopologyError)
    exec_cmds = tuple(node_field["exec"].str_list()) if node_field.has("exec") else ()
    binds = tuple(_parse_bind(b) for b in node_field["binds"].sequence()) if node_field.has("binds") else ()
    env = _string_map(node_field["env"]) if node_field.has("env") else {}
    labels = _string_map(node_field["labels"]) if node_field.has("labels") else {}
    image = _own_or_merged(f, node_field, "image").str() if node_field.has("image") else None
    startup_config = (_own_or_merged(f, node_field, "startup-config").str()
                      if node_field.has("startup-config") else None)
    mgmt_ipv4 = None
    if merged.get("mgmt-ipv4"):
        mf = _own_or_merged(f, node_field, "mgmt-ipv4")
        try:
            mgmt_ipv4 = str(ipaddress.IPv4Address(mf.str()))
        except ValueError:
            raise mf.fail("invalid IPv4 address", "write it as 172.20.20.11") from None
    used = {"kind", "group", "image", "mgmt-ipv4", "exec", "binds", "env", "labels", "startup-config"}
    extra = {k: v for k, v in merged.items() if k not in used}
    return Node(
        name=name, kind=str(kind), image=image, mgmt_ipv4=mgmt_ipv4, exec=exec_cmds,
        binds=binds, env=env, labels=labels, startup_config=startup_config,
        group=group, line=f.line, extra=extra,
    )


def _own_or_merged(own: Field, merged: Field, key: str) -> Field:
    """Return the node's own field for ``key`` (which has a line), else the merged one."""
    return own[key] if own.has(key) else merged[key]


def _parse_bind(f: Field) -> Bind:
    parts = f.str().split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise f.fail("invalid bind", "write it as source:target or source:target:ro")
    mode = parts[2] if len(parts) == 3 else "rw"
    if not parts[1].startswith("/"):
        raise f.fail("the bind target must be an absolute path", "write it as source:/absolute/target")
    return Bind(source=parts[0], target=parts[1], mode=mode)


def _parse_endpoint(f: Field, nodes: dict[str, Node]) -> Endpoint:
    if isinstance(f.value, dict):
        f.check_keys({"node", "interface", "mac", "vars", "labels"}, warn=log.warning)
        node, iface = f.require("node").str(), f.require("interface").str()
    else:
        text = f.str()
        if text.count(":") != 1:
            raise f.fail("invalid endpoint", "write it as node:interface, for example r1:eth1")
        node, iface = text.split(":")
    if node in ("host", "mgmt-net", "macvlan", "vxlan", "vxlan-stitch"):
        raise f.fail(f"special endpoint {node!r} is not supported by the netns backend",
                     "it would reach outside the lab's namespaces; use the containerlab backend")
    if node not in nodes:
        raise f.fail(f"unknown node {node!r}", f"define it under topology.nodes (nodes: {', '.join(nodes)})")
    if not _IFNAME.match(iface):
        raise f.fail(f"invalid interface name {iface!r}", "use at most 15 letters, digits, '-', '_' or '.'")
    if iface == "eth0" and nodes[node].kind != "bridge":
        raise f.fail("eth0 is the management interface", "use eth1 or higher for data-plane links")
    return Endpoint(node, iface)


def _parse_links(f: Field, nodes: dict[str, Node]) -> list[Link]:
    links: list[Link] = []
    seen: dict[Endpoint, int | None] = {}
    for item in f.sequence():
        item.mapping()
        item.check_keys(CLAB_LINK_KEYS, warn=log.warning)
        link_type = item.get("type", "veth")
        if link_type != "veth":
            raise item["type"].fail(f"link type {link_type!r} is not supported by the netns backend",
                                    "use type: veth (the default) or the containerlab backend")
        eps = item.require("endpoints", "add endpoints: [\"a:eth1\", \"b:eth1\"]").sequence()
        if len(eps) != 2:
            raise item["endpoints"].fail(f"a link needs exactly two endpoints, found {len(eps)}",
                                         "write endpoints: [\"a:eth1\", \"b:eth1\"]", show_value=False)
        a, b = (_parse_endpoint(e, nodes) for e in eps)
        for ep, ef in ((a, eps[0]), (b, eps[1])):
            if ep in seen:
                raise ef.fail(f"endpoint {ep} is already used by the link on line {seen[ep]}",
                              "give each link its own interface")
            seen[ep] = ef.line
        labels = _string_map(item["labels"]) if item.has("labels") else {}
        links.append(Link(a=a, b=b, line=item.line, labels=labels))
    return links


def _check_mgmt_addresses(topo: Topology, nodes_field: Field) -> None:
    subnet = topo.mgmt.subnet
    owners: dict[str, str] = {}
    for node in topo.nodes.values():
        if not node.mgmt_ipv4:
            continue
        nf = nodes_field[node.name]
        af = nf["mgmt-ipv4"] if nf.has("mgmt-ipv4") else nf
        addr = ipaddress.IPv4Address(node.mgmt_ipv4)
        if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
            raise af.fail(f"mgmt-ipv4 is outside the management subnet {subnet} or is not a host address",
                          "pick an address inside mgmt.ipv4-subnet")
        if node.mgmt_ipv4 == gateway_address(topo):
            raise af.fail("this address is the management gateway", "pick another address")
        if node.mgmt_ipv4 in owners:
            raise af.fail(f"mgmt-ipv4 is already used by node {owners[node.mgmt_ipv4]!r}", "give each node its own address")
        if addr == consrv_address(topo):
            raise af.fail("this address is reserved for the console server (the second-to-last host address)",
                          "pick another address")
        if addr == jail_address(topo):
            raise af.fail("this address is reserved for the OOB jail (the last host address of the subnet)",
                          "pick another address")
        owners[node.mgmt_ipv4] = node.name
    assign_mgmt_addresses(topo)
