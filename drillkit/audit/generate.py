"""Drill scenarios from audit findings: cut the dependency, probe it, recover over OOB.

Each finding (a workload and a failure that cuts one or more of its dependencies)
becomes ``drill_audit-<workload>-<failure>.yaml``:

- faults: ``link_down`` (both ends) for a link, ``node_isolation`` for a node;
- probes: a tcp probe (ping without a port) from the workload's node to each
  dependency the failure cuts. Each touched node that the audit expects to reach
  over eth0 also gets an ``observe`` ping from the OOB jail to its management address;
- steps: for each touched node that the audit expects to reach over OOB, a console
  step (an ssh step for FRR routers, whose console is vtysh, and for nodes without a
  console) that sets the cut interfaces up and puts back the static routes through
  them, which the kernel deleted when they went down; then a wait step on the
  dependency probes;
- SLA: ``outage`` and ``recover`` set to the workload's tolerance (60 s without one).

Interfaces' addresses and routes come from the nodes' ``exec`` commands
(``ip addr add A/P dev IF`` and ``ip route add DST via GW``), as in the bundled labs.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..lab.frr import is_frr
from ..lab.topology import Topology
from .analysis import AuditReport, Failure, WorkloadResult
from .spec import AuditError, Dependency, Workload

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE_S = 60.0
_ADDR = re.compile(r"\bip\s+(?:-4\s+)?addr(?:ess)?\s+add\s+(\d+\.\d+\.\d+\.\d+/\d+)\s+dev\s+(\S+)")
_ROUTE = re.compile(r"\bip\s+(?:-4\s+)?route\s+(?:add|replace)\s+(\S+)\s+via\s+(\d+\.\d+\.\d+\.\d+)(?:\s+dev\s+(\S+))?")
_SLUG = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class InterfacePlan:
    """Interface networks and static routes that a node's ``exec`` commands configure."""

    networks: dict[str, tuple[ipaddress.IPv4Interface, ...]] = field(default_factory=dict)
    routes: tuple[tuple[str, str, str | None], ...] = ()

    def routes_via(self, ifname: str) -> list[tuple[str, str]]:
        """Return (destination, gateway) of the static routes that leave through ``ifname``."""
        found = []
        for destination, gateway, device in self.routes:
            if device == ifname or (device is None and any(
                    ipaddress.IPv4Address(gateway) in iface.network for iface in self.networks.get(ifname, ()))):
                found.append((destination, gateway))
        return found


def interface_plan(commands: tuple[str, ...]) -> InterfacePlan:
    networks: dict[str, list[ipaddress.IPv4Interface]] = {}
    routes = []
    for command in commands:
        for address, device in _ADDR.findall(command):
            try:
                networks.setdefault(device, []).append(ipaddress.IPv4Interface(address))
            except ValueError:
                continue
        for destination, gateway, device in _ROUTE.findall(command):
            routes.append((destination, gateway, device or None))
    return InterfacePlan({k: tuple(v) for k, v in networks.items()}, tuple(routes))


@dataclass(frozen=True)
class GeneratedScenario:
    """A scenario file written for one finding."""

    path: Path
    name: str
    workload: str
    failure: tuple[str, ...]
    dependencies: tuple[str, ...]
    oob_nodes: tuple[str, ...]
    unreachable_nodes: tuple[str, ...]


def generate_scenarios(topo: Topology, report: AuditReport, folder: str | Path) -> list[GeneratedScenario]:
    """Write one drill scenario per workload finding into ``folder``.

    Raises:
        AuditError: a cut dependency has no production address for its probe.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for result in report.workloads:
        for failure, deps in _findings(result):
            written.append(_write(topo, report, result.workload, failure, deps, out))
    log.info("wrote %d scenarios to %s", len(written), out)
    return written


def _findings(result: WorkloadResult) -> list[tuple[Failure, list[Dependency]]]:
    """Group the workload's failures, keeping the dependencies each one cuts."""
    grouped: dict[tuple[str, ...], tuple[Failure, list[Dependency]]] = {}
    for dep in result.dependencies:
        for failure in dep.single + dep.pairs:
            entry = grouped.setdefault(failure.elements, (failure, []))
            entry[1].append(dep.dependency)
    return list(grouped.values())


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.replace(":", "-")).strip("-")


def _probe_name(dep: Dependency) -> str:
    return _slug(f"reach-{dep.node}" + (f"-{dep.port}" if dep.port else ""))


def _write(topo: Topology, report: AuditReport, workload: Workload, failure: Failure, deps: list[Dependency],
           out: Path) -> GeneratedScenario:
    tolerance = workload.tolerance_s or DEFAULT_TOLERANCE_S
    parts = [f"{report.elements[e].kind}-{e}" for e in failure.elements]
    name = _slug(f"audit-{workload.name}-" + "_and_".join(parts))
    faults = [_fault(topo, report, element, index) for index, element in enumerate(failure.elements, start=1)]

    probes: list[dict[str, Any]] = []
    for dep in deps:
        if not dep.address:
            raise AuditError(f"dependency {dep} of workload {workload.name!r} has no production address, "
                             "so a generated scenario cannot probe it",
                             path=workload.path, line=workload.line,
                             field="depends", value=str(dep),
                             fix=f"give address: in the audit file, or add an 'ip addr add' exec command to "
                                 f"node {dep.node}")
        probe: dict[str, Any] = {"name": _probe_name(dep), "kind": "tcp" if dep.port else "ping",
                                 "from": workload.node,
                                 "target": f"{dep.address}:{dep.port}" if dep.port else dep.address,
                                 "interval": "500ms", "timeout": "400ms", "failure_threshold": 2}
        probes.append(probe)
    dep_probes = [p["name"] for p in probes]

    steps: list[dict[str, Any]] = []
    oob_nodes, unreachable = [], []
    for access in failure.management:
        commands = _recovery_commands(topo, report, failure, access.node)
        if access.status != "oob":
            unreachable.append(access.node)
            continue
        oob_nodes.append(access.node)
        if "eth0" in access.oob:
            probes.append({"name": _slug(f"mgmt-{access.node}"), "kind": "ping", "from": "jail",
                           "target": topo.mgmt_address(access.node), "role": "observe", "interval": "1s",
                           "timeout": "800ms"})
        if not commands:
            continue
        node = topo.nodes[access.node]
        if "console" in access.oob and not is_frr(node):
            steps.append({"name": _slug(f"console-{access.node}"), "kind": "console", "node": access.node,
                          "commands": commands, "timeout": "30s"})
        elif "eth0" in access.oob:
            steps.append({"name": _slug(f"ssh-{access.node}"), "kind": "ssh", "node": access.node,
                          "command": " && ".join(commands), "timeout": "20s"})
    steps.append({"name": "dependency-back", "kind": "wait", "probes": dep_probes, "timeout": _seconds(tolerance)})

    prediction = (f"{workload.name} on {workload.node} loses {', '.join(str(d) for d in deps)} when "
                  f"{' and '.join(str(report.elements[e]) for e in failure.elements)} "
                  f"{'fails' if len(failure.elements) == 1 else 'fail'}. ")
    if unreachable:
        prediction += (f"The audit finds no OOB path to {', '.join(unreachable)} during the failure, so this drill "
                       "is expected to miss its SLA; the fault is restored at the end.")
    elif oob_nodes:
        prediction += f"Management of {', '.join(oob_nodes)} survives over OOB, which the recovery steps use."
    else:
        prediction += "No managed node is touched; the drill waits for the dependency to come back."
    scenario: dict[str, Any] = {
        "name": name,
        "description": prediction,
        "tags": ["audit", _slug(workload.name)],
        "lab": {"topology": os.path.relpath(Path(topo.path).resolve(), out.resolve())},
        "faults": faults,
        "probes": probes,
        "steps": steps,
        "sla": {"outage": _seconds(tolerance), "recover": _seconds(tolerance)},
        "timing": {"baseline": "2s", "settle": "1s", "detect_timeout": "10s",
                   "recover_timeout": _seconds(max(2 * tolerance, 30.0))},
        "stop_conditions": {"max_outage": _seconds(max(2 * tolerance, tolerance + 30.0))},
    }
    header = (f"# Generated by drillkit audit from {topo.path}.\n"
              f"# Finding: {prediction}\n")
    path = out / f"drill_{name}.yaml"
    path.write_text(header + yaml.safe_dump(scenario, sort_keys=False, width=110), encoding="utf-8")
    return GeneratedScenario(path=path, name=name, workload=workload.name, failure=failure.elements,
                             dependencies=tuple(str(d) for d in deps), oob_nodes=tuple(oob_nodes),
                             unreachable_nodes=tuple(unreachable))


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _fault(topo: Topology, report: AuditReport, element_name: str, index: int) -> dict[str, Any]:
    element = report.elements[element_name]
    name = f"cut-{index}-{_slug(element_name)}"
    if element.kind == "link":
        return {"name": name, "kind": "link_down", "link": element.endpoint, "ends": ["both"]}
    return {"name": name, "kind": "node_isolation", "node": element.name}


def _cut_interfaces(topo: Topology, failure: Failure, node: str) -> list[str]:
    """Return the interfaces of ``node`` that the failure's faults set down."""
    interfaces: list[str] = []
    for name in failure.elements:
        links = [link for link in topo.links if link.name == name]
        if links:
            endpoints = [ep for ep in links[0].endpoints() if ep.node == node]
        elif name == node:
            endpoints = [ep for link in topo.node_links(node) for ep in link.endpoints() if ep.node == node]
        else:
            endpoints = []
        for endpoint in endpoints:
            if endpoint.interface not in interfaces:
                interfaces.append(endpoint.interface)
    return interfaces


def _recovery_commands(topo: Topology, report: AuditReport, failure: Failure, node: str) -> list[str]:
    """Return the shell commands that undo the failure on ``node``: interfaces up, static routes back."""
    plan = interface_plan(topo.nodes[node].exec)
    commands = []
    for ifname in _cut_interfaces(topo, failure, node):
        commands.append(f"ip link set dev {ifname} up")
        for destination, gateway in plan.routes_via(ifname):
            commands.append(f"ip route replace {destination} via {gateway} dev {ifname}")
    return commands
