"""The in-band guard: during the outage window nothing may reach a device in-band.

Every node gets an nftables table ``drillkit_guard`` while faults are active. New
connections to management services (SSH, telnet, HTTP, HTTPS, NETCONF, SNMP) that
arrive on a production interface (anything but ``eth0``) are dropped and added to
a dynamic set; the OOB jail has the same table for life, for any destination
outside the management network. Reading the sets gives each attempt's source,
destination, protocol and port, and its time to within a second (from the set
element's remaining timeout).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from dataclasses import dataclass

from ..errors import OobError
from ..lab import nsexec

log = logging.getLogger(__name__)

TABLE = "drillkit_guard"
SET_TIMEOUT_S = 3600
#: Management services of network devices: SSH, telnet, HTTP, HTTPS, NETCONF (TCP); SNMP (UDP).
MGMT_TCP_PORTS = (22, 23, 80, 443, 830)
MGMT_UDP_PORTS = (161,)


@dataclass(frozen=True)
class Attempt:
    """One in-band attempt seen by the guard."""

    where: str
    source: str
    destination: str
    protocol: str
    port: int
    packets: int
    age_s: float

    def describe(self) -> str:
        return f"{self.protocol}/{self.port} {self.source} -> {self.destination} (seen at {self.where})"


def _set_block() -> str:
    return (f"  set attempts {{\n    type ipv4_addr . ipv4_addr . inet_proto . inet_service\n"
            f"    flags dynamic,timeout\n    timeout {SET_TIMEOUT_S}s\n    counter\n  }}\n")


def node_ruleset(block: bool = True) -> str:
    """Return the guard table for a lab node: record (and drop) management traffic on production interfaces."""
    verdict = "drop" if block else "accept"
    tcp = ", ".join(str(p) for p in MGMT_TCP_PORTS)
    udp = ", ".join(str(p) for p in MGMT_UDP_PORTS)
    return (f"table inet {TABLE} {{\n{_set_block()}"
            "  chain input {\n    type filter hook input priority -20; policy accept;\n"
            f"    iifname != \"eth0\" tcp dport {{ {tcp} }} ct state new "
            f"add @attempts {{ ip saddr . ip daddr . meta l4proto . tcp dport }} {verdict}\n"
            f"    iifname != \"eth0\" udp dport {{ {udp} }} "
            f"add @attempts {{ ip saddr . ip daddr . meta l4proto . udp dport }} {verdict}\n"
            "  }\n}\n")


def jail_ruleset(mgmt_subnet: str) -> str:
    """Return the jail's table: record and reject everything leaving for outside the OOB network."""
    net = ipaddress.ip_network(mgmt_subnet, strict=False)
    return (f"table inet {TABLE} {{\n{_set_block()}"
            "  chain output {\n    type filter hook output priority -20; policy accept;\n"
            f"    oifname \"lo\" accept\n"
            f"    ip daddr != {net} meta l4proto {{ tcp, udp }} "
            "add @attempts { ip saddr . ip daddr . meta l4proto . th dport } reject with icmpx admin-prohibited\n"
            f"    ip daddr != {net} add @attempts {{ ip saddr . ip daddr . meta l4proto . 0 }} "
            "reject with icmpx admin-prohibited\n"
            "  }\n}\n")


def install(namespace: str, ruleset: str) -> None:
    """Load a guard table into ``namespace`` (replacing an earlier one)."""
    remove(namespace)
    result = nsexec.run(["nft", "-f", "-"], ns=namespace, input_text=ruleset, timeout=10)
    if not result.ok:
        raise OobError(f"cannot install the in-band guard in {namespace}: {result.stderr.strip()}")


def remove(namespace: str) -> None:
    if nsexec.exists(namespace):
        nsexec.run(["nft", "delete", "table", "inet", TABLE], ns=namespace, timeout=10)


def read_attempts(namespace: str, where: str) -> list[Attempt]:
    """Return the attempts recorded in ``namespace``'s guard table."""
    if not nsexec.exists(namespace):
        return []
    result = nsexec.run(["nft", "-j", "list", "set", "inet", TABLE, "attempts"], ns=namespace, timeout=10)
    if not result.ok:
        return []
    attempts = []
    for item in json.loads(result.stdout).get("nftables", []):
        for elem in (item.get("set") or {}).get("elem", []) or []:
            body = elem.get("elem", elem) if isinstance(elem, dict) else {}
            try:
                source, destination, protocol, port = body["val"]["concat"]
            except (KeyError, TypeError, ValueError):
                continue
            expires = float(body.get("expires", SET_TIMEOUT_S))
            packets = int((body.get("counter") or {}).get("packets", 1))
            attempts.append(Attempt(where, str(source), str(destination), str(protocol), int(port), packets,
                                    max(0.0, SET_TIMEOUT_S - expires)))
    return attempts


def flush(namespace: str) -> None:
    if nsexec.exists(namespace):
        nsexec.run(["nft", "flush", "set", "inet", TABLE, "attempts"], ns=namespace, timeout=10)


class InbandGuard:
    """Guard tables on every node of a running lab for one outage window.

    It has the fault interface (``name``, ``kind``, ``restore``, ``to_record``), so
    its undo record removes the tables after a killed run too.
    """

    kind = "inband_guard"
    name = "inband-guard"

    def __init__(self, namespaces: dict[str, str], jail: str | None, block: bool = True) -> None:
        self.namespaces = namespaces
        self.jail = jail
        self.block = block
        self.active = False
        self.started = 0.0

    def start(self) -> None:
        ruleset = node_ruleset(self.block)
        for node, ns in self.namespaces.items():
            install(ns, ruleset)
        if self.jail:
            flush(self.jail)
        self.active = True
        self.started = time.monotonic()

    def collect(self) -> list[Attempt]:
        attempts = [a for node, ns in self.namespaces.items() for a in read_attempts(ns, node)]
        if self.jail:
            attempts += read_attempts(self.jail, "jail")
        return attempts

    def describe(self) -> str:
        action = "drop and record" if self.block else "record"
        return f"{action} in-band management attempts on {len(self.namespaces)} nodes"

    def to_record(self) -> dict:
        return {"kind": self.kind, "name": self.name, "namespaces": self.namespaces, "jail": self.jail,
                "block": self.block}

    @classmethod
    def from_record(cls, record: dict) -> InbandGuard:
        return cls(record["namespaces"], record.get("jail"), record.get("block", True))

    def restore(self) -> None:
        self.stop()

    def stop(self) -> None:
        for ns in self.namespaces.values():
            try:
                remove(ns)
            except Exception as exc:  # a missing namespace must not stop the restore
                log.error("in-band guard: cannot remove the table in %s: %s", ns, exc)
        self.active = False
