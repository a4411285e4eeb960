"""Faults: build them from scenario specs, inject, restore and undo after a crash."""

from __future__ import annotations

from ..errors import FaultError
from ..lab.topology import Topology
from ..scenario.model import FaultSpec
from .base import Fault, LabContext
from .kinds import (Blackhole, CommandFault, Interface, LinkDown, NetemCut, NodeIsolation, NodeStop,
                    fault_from_record)

__all__ = ["Fault", "LabContext", "build_fault", "fault_from_record", "Interface"]


def chosen_ends(link, ends: tuple[str, ...]) -> list:
    """Return the link endpoints a fault's ``ends`` names (both, a, b, node or node:interface), in order."""
    chosen = []
    for end in ends or ("both",):
        if end == "both":
            chosen += [link.a, link.b]
        elif end in ("a", "b"):
            chosen.append(link.a if end == "a" else link.b)
        else:
            chosen += [ep for ep in (link.a, link.b) if end in (str(ep), ep.node)]
    return list(dict.fromkeys(chosen))


def build_fault(spec: FaultSpec, topo: Topology, ctx: LabContext) -> Fault:
    """Turn a validated fault spec into a fault bound to the running lab."""

    def iface(node: str, ifname: str) -> Interface:
        return Interface(node, ctx.namespace(node), ifname)

    if spec.kind == "toxiproxy":
        from .toxiproxy import build_toxiproxy_fault

        return build_toxiproxy_fault(spec, ctx)
    if ctx.backend == "physical":
        return _build_physical(spec, topo)
    if spec.kind in ("link_down", "blackhole") and spec.link:
        link = topo.find_link(spec.link)
        if link is None:
            raise FaultError(f"link {spec.link!r} not found in {topo.path}", fault=spec.name)
        unique = chosen_ends(link, spec.ends)
        interfaces = [iface(ep.node, ep.interface) for ep in unique if topo.nodes[ep.node].kind != "bridge"]
        if spec.kind == "link_down":
            if ctx.backend == "containerlab":
                from ..lab.containerlab import is_vm_kind

                vm_kinds = sorted({ctx.kinds.get(ep.node, topo.nodes[ep.node].kind) for ep in (link.a, link.b)
                                   if is_vm_kind(ctx.kinds.get(ep.node, topo.nodes[ep.node].kind))})
                if vm_kinds:
                    # A kind: bridge end is a host bridge, not a container that netem can reach.
                    both = [iface(ep.node, ep.interface) for ep in (link.a, link.b)
                            if topo.nodes[ep.node].kind != "bridge"]
                    return NetemCut(spec.name, both, f"{', '.join(vm_kinds)} runs a VM whose guest does not see "
                                                     "carrier loss, so the link's container ends get 100 % loss")
            return LinkDown(spec.name, interfaces)
        return Blackhole(spec.name, interfaces=interfaces)
    if spec.kind == "blackhole":
        assert spec.node is not None
        return Blackhole(spec.name, namespace=ctx.namespace(spec.node), node=spec.node, prefix=spec.prefix)
    if spec.kind == "node_isolation":
        assert spec.node is not None
        ends = [ep for link in topo.node_links(spec.node) for ep in link.endpoints() if ep.node == spec.node]
        return NodeIsolation(spec.name, [iface(ep.node, ep.interface) for ep in ends])
    if spec.kind == "node_stop":
        assert spec.node is not None
        if ctx.backend != "containerlab":
            raise FaultError("node_stop needs a lab deployed by containerlab (lab.backend: containerlab); "
                             "on the netns backend use node_isolation", fault=spec.name)
        return NodeStop(spec.name, spec.node, topo.path)
    if spec.kind == "command":
        assert spec.node
        assert spec.inject and spec.restore
        return CommandFault(spec.name, spec.node, ctx.namespace(spec.node), spec.inject, spec.restore,
                            ctx.mount_pins.get(spec.node))
    raise FaultError(f"unknown fault kind {spec.kind!r}", fault=spec.name)


def _build_physical(spec: FaultSpec, topo: Topology) -> Fault:
    """Faults on a testbed: device CLI cuts, external gear, or a person."""
    from .physical import DeviceLinkCut, ExternalFault, ManualFault

    if spec.kind == "external":
        return ExternalFault(spec.name, spec.inject or "", spec.restore or "")
    if spec.kind == "manual":
        return ManualFault(spec.name, spec.inject or "", spec.restore or "")
    if spec.kind == "link_down" and spec.link:
        link = topo.find_link(spec.link)
        if link is None:
            raise FaultError(f"link {spec.link!r} not found in testbed {topo.path}", fault=spec.name)
        ends = [(ep.node, ep.interface, spec.via or "") for ep in chosen_ends(link, spec.ends)]
        return DeviceLinkCut(spec.name, topo.path, ends)
    raise FaultError(f"fault kind {spec.kind!r} is not available on physical labs; use link_down, external "
                     "or manual", fault=spec.name)
