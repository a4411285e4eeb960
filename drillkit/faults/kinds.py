"""Fault kinds of the netns backend (also valid on labs containerlab deployed).

- ``link_down``: set one or both ends of a link administratively down (netlink).
- ``blackhole``: drop all traffic on a link, or traffic to and from a prefix at a
  node, with an nftables table; the link keeps its carrier, as in a gray failure.
- ``node_isolation``: take down the node's end of every primary link.
- ``command``: run operator-given inject and restore commands in a node.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ..errors import FaultError, LabError
from ..lab import nsexec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interface:
    """A node interface inside a namespace."""

    node: str
    namespace: str
    ifname: str

    def to_record(self) -> dict[str, str]:
        return {"node": self.node, "namespace": self.namespace, "ifname": self.ifname}


def set_link_state(iface: Interface, up: bool) -> None:
    """Set an interface administratively up or down through netlink.

    Raises:
        FaultError: the namespace or interface does not exist.
    """
    if not nsexec.exists(iface.namespace):
        raise FaultError(f"namespace {iface.namespace} of node {iface.node} not found; is the lab up?")
    try:
        # flags=0: open the namespace only if it exists; pyroute2 creates it by default.
        with IPRoute(netns=iface.namespace, flags=0) as ipr:
            found = ipr.link_lookup(ifname=iface.ifname)
            if not found:
                raise FaultError(f"interface {iface.ifname} not found on node {iface.node}")
            ipr.link("set", index=found[0], state="up" if up else "down")
    except (NetlinkError, OSError) as exc:
        raise FaultError(f"cannot set {iface.node}:{iface.ifname} {'up' if up else 'down'}: {exc}") from None


def link_oper_state(iface: Interface) -> str:
    """Return the kernel's operational state of an interface (UP, DOWN, LOWERLAYERDOWN...)."""
    if not nsexec.exists(iface.namespace):
        return "MISSING"
    # flags=0: open the namespace only if it exists; pyroute2 creates it by default.
    with IPRoute(netns=iface.namespace, flags=0) as ipr:
        found = ipr.link_lookup(ifname=iface.ifname)
        if not found:
            return "MISSING"
        return str(ipr.get_links(found[0])[0].get("operstate"))


#: Route protocols drillkit puts back after a link comes up. Routes of routing
#: daemons (zebra, bgp, ospf...) are left to the daemon that owns them.
RESTORED_ROUTE_PROTOCOLS = {"boot", "static"}


def snapshot_routes(iface: Interface) -> list[dict[str, Any]]:
    """Return the static routes through ``iface``, which the kernel deletes when it goes down."""
    result = nsexec.run(["ip", "-j", "route", "show", "dev", iface.ifname, "table", "all"], ns=iface.namespace,
                        timeout=10)
    if not result.ok:
        return []
    try:
        routes = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    return [r for r in routes if r.get("protocol", "boot") in RESTORED_ROUTE_PROTOCOLS
            and r.get("table", "main") != "local" and r.get("dst")]


def readd_routes(iface: Interface, routes: list[dict[str, Any]]) -> list[str]:
    """Put back routes dropped with the link; return errors."""
    errors = []
    for route in routes:
        argv = ["ip", "route", "replace", route["dst"]]
        if route.get("gateway"):
            argv += ["via", route["gateway"]]
        argv += ["dev", iface.ifname]
        for key, option in (("metric", "metric"), ("table", "table"), ("protocol", "proto"), ("scope", "scope"),
                            ("prefsrc", "src")):
            if route.get(key) is not None and not (key == "table" and route[key] == "main"):
                argv += [option, str(route[key])]
        if "onlink" in route.get("flags", []):
            argv.append("onlink")
        result = nsexec.run(argv, ns=iface.namespace, timeout=10)
        if not result.ok:
            errors.append(f"{iface.node}: ip route replace {route['dst']}: {result.stderr.strip()}")
    return errors


class LinkDown:
    """Set interfaces administratively down; restore sets them up.

    Setting an interface down makes the kernel delete the static routes through it,
    so the fault saves them before inject and restore puts them back.
    """

    kind: ClassVar[str] = "link_down"

    def __init__(self, name: str, interfaces: list[Interface], routes: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.name = name
        self.interfaces = interfaces
        self.routes = routes or {}

    @staticmethod
    def _key(iface: Interface) -> str:
        return f"{iface.node}:{iface.ifname}"

    def describe(self) -> str:
        ends = ", ".join(f"{i.node}:{i.ifname}" for i in self.interfaces)
        return f"set {ends} down"

    def prepare(self) -> None:
        for iface in self.interfaces:
            self.routes[self._key(iface)] = snapshot_routes(iface)

    def inject(self) -> None:
        for iface in self.interfaces:
            set_link_state(iface, up=False)

    def restore(self) -> None:
        errors = []
        for iface in self.interfaces:
            try:
                set_link_state(iface, up=True)
            except FaultError as exc:
                errors.append(str(exc))
                continue
            errors += readd_routes(iface, self.routes.get(self._key(iface), []))
        if errors:
            raise FaultError("; ".join(errors), fault=self.name)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "interfaces": [i.to_record() for i in self.interfaces],
                "routes": self.routes}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LinkDown:
        return cls(record["name"], [Interface(**i) for i in record["interfaces"]], record.get("routes"))


class NodeIsolation(LinkDown):
    """Take down the node's end of every primary link."""

    kind: ClassVar[str] = "node_isolation"

    def describe(self) -> str:
        node = self.interfaces[0].node if self.interfaces else "?"
        return f"isolate {node}: set {', '.join(i.ifname for i in self.interfaces)} down"


def nft_table_name(fault: str) -> str:
    return "drillkit_" + re.sub(r"[^A-Za-z0-9_]", "_", fault)


class Blackhole:
    """Drop traffic with nftables: everything on some interfaces, or to and from a prefix.

    Each namespace gets its own table ``drillkit_<fault>``; restore deletes it.
    """

    kind: ClassVar[str] = "blackhole"

    def __init__(self, name: str, *, interfaces: list[Interface] | None = None,
                 namespace: str | None = None, node: str | None = None, prefix: str | None = None) -> None:
        self.name = name
        self.interfaces = interfaces or []
        self.namespace = namespace
        self.node = node
        self.prefix = prefix
        self.table = nft_table_name(name)

    def describe(self) -> str:
        if self.prefix:
            return f"drop traffic to and from {self.prefix} at {self.node} (nftables)"
        return "drop all traffic on " + ", ".join(f"{i.node}:{i.ifname}" for i in self.interfaces) + " (nftables)"

    def _rulesets(self) -> dict[str, str]:
        per_ns: dict[str, list[str]] = {}
        if self.prefix:
            family = "ip6" if ":" in self.prefix else "ip"
            per_ns[self.namespace or ""] = [f"{family} daddr {self.prefix} drop", f"{family} saddr {self.prefix} drop"]
        for iface in self.interfaces:
            per_ns.setdefault(iface.namespace, []).extend(
                [f'iifname "{iface.ifname}" drop', f'oifname "{iface.ifname}" drop'])
        rulesets = {}
        for ns, rules in per_ns.items():
            chains = []
            for hook in ("input", "forward", "output"):
                body = "\n".join(f"    {rule}" for rule in rules if not (hook == "input" and rule.startswith("oif"))
                                 and not (hook == "output" and rule.startswith("iif")))
                chains.append(f"  chain {hook} {{\n    type filter hook {hook} priority -10; policy accept;\n{body}\n  }}")
            rulesets[ns] = f"table inet {self.table} {{\n" + "\n".join(chains) + "\n}\n"
        return rulesets

    def prepare(self) -> None:
        pass

    def inject(self) -> None:
        for ns, ruleset in self._rulesets().items():
            result = nsexec.run(["nft", "-f", "-"], ns=ns, input_text=ruleset, timeout=10)
            if not result.ok:
                raise FaultError(f"nftables rejected the blackhole in {ns}: {result.stderr.strip()}", fault=self.name)

    def restore(self) -> None:
        errors = []
        for ns in self._rulesets():
            if not nsexec.exists(ns):
                continue
            listed = nsexec.run(["nft", "list", "table", "inet", self.table], ns=ns, timeout=10)
            if not listed.ok:
                continue
            result = nsexec.run(["nft", "delete", "table", "inet", self.table], ns=ns, timeout=10)
            if not result.ok:
                errors.append(f"{ns}: {result.stderr.strip()}")
        if errors:
            raise FaultError("cannot delete nftables table: " + "; ".join(errors), fault=self.name)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "interfaces": [i.to_record() for i in self.interfaces],
                "namespace": self.namespace, "node": self.node, "prefix": self.prefix}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Blackhole:
        return cls(record["name"], interfaces=[Interface(**i) for i in record["interfaces"]],
                   namespace=record.get("namespace"), node=record.get("node"), prefix=record.get("prefix"))


class CommandFault:
    """Run an operator-given command in a node to inject, and another to restore."""

    kind: ClassVar[str] = "command"

    def __init__(self, name: str, node: str, namespace: str, inject_cmd: str, restore_cmd: str,
                 mount_pin: str | None = None, timeout_s: float = 30.0) -> None:
        self.name = name
        self.node = node
        self.namespace = namespace
        self.inject_cmd = inject_cmd
        self.restore_cmd = restore_cmd
        self.mount_pin = mount_pin
        self.timeout_s = timeout_s

    def describe(self) -> str:
        return f"run on {self.node}: {self.inject_cmd} (restore: {self.restore_cmd})"

    def _run(self, command: str, what: str) -> None:
        result = nsexec.run(command, ns=self.namespace, mount_pin=self.mount_pin, timeout=self.timeout_s)
        if not result.ok:
            raise FaultError(f"{what} command failed on {self.node} (exit {result.returncode}): {command}: "
                             f"{(result.stderr or result.stdout).strip()[-300:]}", fault=self.name)

    def prepare(self) -> None:
        pass

    def inject(self) -> None:
        self._run(self.inject_cmd, "inject")

    def restore(self) -> None:
        if not nsexec.exists(self.namespace):
            raise FaultError(f"namespace {self.namespace} not found; the lab is gone", fault=self.name)
        self._run(self.restore_cmd, "restore")

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "node": self.node, "namespace": self.namespace,
                "inject": self.inject_cmd, "restore": self.restore_cmd, "mount_pin": self.mount_pin}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CommandFault:
        return cls(record["name"], record["node"], record["namespace"], record["inject"], record["restore"],
                   record.get("mount_pin"))


class NetemCut:
    """Cut a link of a VM-based node with 100 % loss through ``containerlab tools netem``.

    The VM inside a vrnetlab container does not see its container's veth lose
    carrier, so setting the link down would not reach the guest's routing.
    """

    kind: ClassVar[str] = "netem_cut"

    def __init__(self, name: str, interfaces: list[Interface], reason: str = "") -> None:
        self.name = name
        self.interfaces = interfaces
        self.reason = reason

    def describe(self) -> str:
        ends = ", ".join(f"{i.node}:{i.ifname}" for i in self.interfaces)
        return f"100 % loss on {ends} with containerlab tools netem ({self.reason})"

    def prepare(self) -> None:
        pass

    def _set(self, loss: float) -> None:
        from ..lab.containerlab import ContainerlabBackend

        backend = ContainerlabBackend()
        for iface in self.interfaces:
            try:
                backend.netem_loss(iface.namespace, iface.ifname, loss)
            except LabError as exc:
                raise FaultError(str(exc), fault=self.name) from None

    def inject(self) -> None:
        self._set(100)

    def restore(self) -> None:
        self._set(0)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "interfaces": [i.to_record() for i in self.interfaces],
                "reason": self.reason}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NetemCut:
        return cls(record["name"], [Interface(**i) for i in record["interfaces"]], record.get("reason", ""))


class NodeStop:
    """Stop a node with ``containerlab stop --node`` and start it again on restore.

    ``docker stop`` would destroy the container's veth links; containerlab's own
    stop and start keep the wiring.
    """

    kind: ClassVar[str] = "node_stop"

    def __init__(self, name: str, node: str, topology: str) -> None:
        self.name = name
        self.node = node
        self.topology = topology

    def describe(self) -> str:
        return f"stop node {self.node} (containerlab stop --node)"

    def prepare(self) -> None:
        pass

    def _backend_and_topo(self):
        from ..lab.containerlab import ContainerlabBackend
        from ..lab.topology import load_topology

        return ContainerlabBackend(), load_topology(self.topology)

    def inject(self) -> None:
        backend, topo = self._backend_and_topo()
        try:
            backend.stop_node(topo, self.node)
        except LabError as exc:
            raise FaultError(str(exc), fault=self.name) from None

    def restore(self) -> None:
        backend, topo = self._backend_and_topo()
        try:
            backend.start_node(topo, self.node)
        except LabError as exc:
            raise FaultError(str(exc), fault=self.name) from None

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "node": self.node, "topology": self.topology}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NodeStop:
        return cls(record["name"], record["node"], record["topology"])


RECORD_TYPES: dict[str, Any] = {cls.kind: cls for cls in (LinkDown, NodeIsolation, Blackhole, CommandFault,
                                                          NetemCut, NodeStop)}


def fault_from_record(record: dict[str, Any]):
    """Rebuild a fault from its undo record."""
    if record.get("kind") in ("device_link_down", "external", "manual"):
        from .physical import DeviceLinkCut, ExternalFault, ManualFault

        return {"device_link_down": DeviceLinkCut, "external": ExternalFault,
                "manual": ManualFault}[record["kind"]].from_record(record)
    if record.get("kind") == "toxiproxy":
        from .toxiproxy import ToxiproxyFault

        return ToxiproxyFault.from_record(record)
    if record.get("kind") == "inband_guard":
        from ..oob.guard import InbandGuard

        return InbandGuard.from_record(record)
    try:
        return RECORD_TYPES[record["kind"]].from_record(record)
    except KeyError as exc:
        raise FaultError(f"undo record of unknown kind {record.get('kind')!r}: missing {exc}") from None
