"""The containerlab backend: drills on labs that containerlab deployed.

``lab up`` and ``lab down`` call ``containerlab deploy`` and ``destroy`` when the
binary is on the PATH (or named by ``DRILLKIT_CONTAINERLAB_BIN``); otherwise the
user deploys the lab and drillkit attaches to it. Nodes and links come from
``clab-<lab>/topology-data.json`` and ``containerlab inspect --format json``, whose
older flat list and newer object keyed by lab name are both accepted.

Containers live in network namespaces that containerlab names ``clab-<lab>-<node>``
under /run/netns, so faults, probes and the in-band guard act on them exactly as
in the embedded lab. drillkit adds an OOB jail: a namespace whose only interface
joins the lab's management bridge.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LabError, LabStateError, TopologyError
from ..oob import guard
from . import nsexec
from .state import LabState
from .topology import Topology, load_topology

log = logging.getLogger(__name__)

#: Kinds that run a VM inside the container (vrnetlab and friends): the guest does
#: not see the container's veth lose carrier, so a cut needs 100 % loss instead.
VM_KIND_PREFIXES = ("vr-", "vr_")
VM_KINDS = {"cisco_xrv", "cisco_xrv9k", "cisco_csr1000v", "cisco_n9kv", "cisco_nxos", "cisco_c8000v",
            "cisco_cat9kv", "cisco_ftdv", "juniper_vmx", "juniper_vqfx", "juniper_vsrx", "juniper_vjunosrouter",
            "juniper_vjunosswitch", "juniper_vjunosevolved", "juniper_vevo", "nokia_sros", "arista_veos",
            "paloalto_panos", "fortinet_fortigate", "aruba_aoscx", "mikrotik_ros", "huawei_vrp", "openbsd",
            "freebsd", "generic_vm", "vyosnetworks_vyos", "sonic-vm", "dell_sonic", "ipinfusion_ocnos",
            "checkpoint_cloudguard", "cisco_iol", "6wind_vsr"}
#: Kinds whose node is a bridge in the host namespace rather than a container.
HOST_BRIDGE_KINDS = {"bridge", "ovs-bridge"}
#: Telnet port of a vrnetlab node's serial console, inside its container.
VR_CONSOLE_PORT = 5000


def is_vm_kind(kind: str) -> bool:
    return kind.startswith(VM_KIND_PREFIXES) or kind in VM_KINDS


def binary() -> str | None:
    """Return the containerlab executable to use, or None when there is none."""
    explicit = os.environ.get("DRILLKIT_CONTAINERLAB_BIN")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return shutil.which("containerlab") or shutil.which("clab")


@dataclass(frozen=True)
class ClabNode:
    """A node as containerlab reports it."""

    name: str
    container: str
    kind: str
    image: str
    state: str
    mgmt_ipv4: str | None


def parse_inspect(text: str, lab: str | None = None) -> list[dict[str, Any]]:
    """Read ``containerlab inspect --format json``: a flat list (older releases), an object
    with ``containers`` (0.4x), or an object keyed by lab name (newer releases).

    Older releases print nothing on stdout when no container is found (they log
    "no containers found" to stderr), so empty output means no containers.

    Raises:
        LabError: the output is not one of these shapes.
    """
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LabError(f"cannot read containerlab inspect output as JSON: {exc}") from None
    if isinstance(data, list):
        entries = data
    elif isinstance(data, dict) and isinstance(data.get("containers"), list):
        entries = data["containers"]
    elif isinstance(data, dict):
        entries = [entry for key, value in data.items() if lab is None or key == lab
                   for entry in (value if isinstance(value, list) else [])]
    else:
        raise LabError("containerlab inspect output is neither a list nor an object")
    if lab is not None:
        entries = [e for e in entries if e.get("lab_name", lab) == lab]
    return entries


def parse_topology_data(path: Path) -> dict[str, Any]:
    """Read ``clab-<lab>/topology-data.json``; links come in the legacy ``{a, z}`` or the newer
    ``{endpoints: {a, z}}`` shape, both returned as ``{"a": ..., "z": ...}``.

    Raises:
        LabError: the file is missing or invalid.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabError(f"{path} not found: is the lab deployed by containerlab from this topology file?") from None
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read {path}: {exc}") from None
    links = []
    for raw in data.get("links", []) or []:
        ends = raw.get("endpoints", raw) if isinstance(raw, dict) else {}
        if isinstance(ends, dict) and "a" in ends and "z" in ends:
            links.append({"a": ends["a"], "z": ends["z"]})
    data["links"] = links
    return data


def _ipv4(value: str | None) -> str | None:
    if not value or value in ("N/A", ""):
        return None
    try:
        return str(ipaddress.ip_interface(value).ip)
    except ValueError:
        return None


class ContainerlabBackend:
    """Attach drillkit to labs containerlab deployed (and deploy them when containerlab is here)."""

    name = "containerlab"

    def __init__(self, containerlab: str | None = None) -> None:
        self.containerlab = containerlab or binary()
        #: Whether the last up() deployed the lab (False when it only attached to a running lab).
        self.deployed = False

    def _clab(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        if not self.containerlab:
            raise LabError("containerlab not found: install it, or deploy the lab elsewhere on this host "
                           "and let drillkit attach to it (drillkit lab up attaches when the lab is running)")
        log.info("running %s %s", self.containerlab, " ".join(args))
        try:
            return subprocess.run([self.containerlab, *args], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LabError(f"containerlab {' '.join(args)} timed out after {timeout:g} s") from None
        except OSError as exc:
            raise LabError(f"cannot run {self.containerlab}: {exc.strerror}; check DRILLKIT_CONTAINERLAB_BIN "
                           "or the containerlab install") from None

    def inspect(self, topo: Topology) -> list[ClabNode]:
        """Return the lab's nodes from ``containerlab inspect`` (empty when containerlab is absent)."""
        if not self.containerlab:
            return []
        result = self._clab("inspect", "-t", topo.path, "--format", "json", timeout=60)
        if result.returncode != 0:
            return []
        nodes = []
        for entry in parse_inspect(result.stdout, topo.name):
            container = entry.get("name", "")
            short = entry.get("node_name") or container.removeprefix(f"{topo.namespace('')}")
            nodes.append(ClabNode(name=short, container=container, kind=entry.get("kind", ""),
                                  image=entry.get("image", ""), state=entry.get("state", ""),
                                  mgmt_ipv4=_ipv4(entry.get("ipv4_address"))))
        return nodes

    def lab_folder(self, topo: Topology) -> Path:
        return topo.directory / f"clab-{topo.name}"

    def up(self, topo: Topology) -> LabState:
        """Deploy with containerlab when it is here, then attach.

        Raises:
            LabStateError: the lab is neither running nor deployable here.
        """
        nsexec.require_root("drillkit lab up")
        running = self.inspect(topo)
        self.deployed = False
        if not running and not all(nsexec.exists(topo.namespace(n)) for n in topo.nodes):
            self.deployed = True
            result = self._clab("deploy", "-t", topo.path)
            if result.returncode != 0:
                raise LabError(f"containerlab deploy failed: {(result.stderr or result.stdout).strip()[-800:]}")
        return self.attach(topo)

    def attach(self, topo: Topology) -> LabState:
        """Record a running containerlab lab and add drillkit's OOB jail to its management bridge."""
        nsexec.require_root("drillkit lab up")
        data = parse_topology_data(self.lab_folder(topo) / "topology-data.json")
        inspected = {n.name: n for n in self.inspect(topo)}
        state = LabState(lab=topo.name, topology=str(Path(topo.path).resolve()), backend=self.name)
        state.lab_dir.mkdir(parents=True, exist_ok=True)
        missing = []
        for short, node in (data.get("nodes") or {}).items():
            if node.get("kind") in HOST_BRIDGE_KINDS:
                continue  # a host bridge has no container and no namespace of its own
            container = node.get("longname") or topo.namespace(short)
            if not nsexec.exists(container):
                missing.append(container)
            address = _ipv4(node.get("mgmt-ipv4-address"))
            if short in inspected and inspected[short].mgmt_ipv4:
                address = inspected[short].mgmt_ipv4
            state.nodes[short] = {"namespace": container, "kind": node.get("kind", ""), "mgmt_ipv4": address,
                                  "image": node.get("image", "")}
        if missing:
            raise LabStateError(f"lab {topo.name!r}: network namespaces not found: {', '.join(missing)}; "
                                "containerlab names them under /run/netns when it deploys; is the lab running?")
        mgmt = ((data.get("clab") or {}).get("config") or {}).get("mgmt") or {}
        bridge = mgmt.get("bridge")
        subnet = mgmt.get("ipv4-subnet") or mgmt.get("ipv4_subnet")
        if bridge and subnet and Path(f"/sys/class/net/{bridge}").exists():
            state.jail = self._add_jail(topo.name, bridge, subnet, state)
        else:
            log.warning("lab %s: management bridge %s not found on this host: no OOB jail", topo.name, bridge)
        state.status = "up"
        state.save()
        return state

    def _add_jail(self, lab: str, bridge: str, subnet: str, state: LabState) -> str:
        jail = f"dk-{lab}-jail"
        net = ipaddress.ip_network(subnet, strict=False)
        # NOTE: Docker's IPAM does not know this address. Labs that share a management network
        # (containerlab's default "clab") give their jails the same address, which breaks OOB access.
        address = net.broadcast_address - 1
        state.namespaces.append(jail)
        state.save()
        if not nsexec.exists(jail):
            nsexec.ip("netns", "add", jail)
            nsexec.ip("link", "set", "lo", "up", ns=jail)
            # A hash, not the lab name cut to 15 characters, so that labs whose names share
            # a long start get distinct host-side interfaces.
            peer = "dkj" + hashlib.sha1(lab.encode()).hexdigest()[:12]
            nsexec.ip("link", "add", "eth0", "netns", jail, "type", "veth", "peer", "name", peer)
            nsexec.ip("link", "set", peer, "master", bridge, "up")
            nsexec.ip("addr", "add", f"{address}/{net.prefixlen}", "dev", "eth0", ns=jail)
            nsexec.ip("link", "set", "eth0", "up", ns=jail)
            guard.install(jail, guard.jail_ruleset(str(net)))
        return jail

    def down(self, lab: str, *, topo: Topology | None = None) -> list[str]:
        """Remove drillkit's additions, then ``containerlab destroy`` when containerlab is here."""
        nsexec.require_root("drillkit lab down")
        state = LabState.load(lab)
        removed = []
        jail = f"dk-{lab}-jail"
        if nsexec.exists(jail):
            nsexec.ip("netns", "delete", jail, check=False)
            removed.append(jail)
        if topo is None and state is not None and self.containerlab:
            # ``drillkit lab down <name>`` must destroy the lab as ``lab down <topology file>`` does.
            try:
                topo = load_topology(state.topology)
            except TopologyError as exc:
                log.warning("lab %s: cannot read its topology %s, so containerlab destroy is skipped: %s",
                            lab, state.topology, exc)
        if topo is not None and self.containerlab:
            result = self._clab("destroy", "-t", topo.path, "--cleanup")
            if result.returncode != 0:
                raise LabError(f"containerlab destroy failed: {(result.stderr or result.stdout).strip()[-800:]}")
            removed += [topo.namespace(n) for n in topo.nodes]
        if state is not None:
            shutil.rmtree(state.lab_dir, ignore_errors=True)
            state.remove()
        return removed

    def netem_loss(self, container: str, interface: str, loss_percent: float) -> None:
        """Set packet loss on a node's interface with ``containerlab tools netem``.

        Raises:
            LabError: containerlab is absent or the command failed.
        """
        result = self._clab("tools", "netem", "set", "-n", container, "-i", interface, "--loss",
                            f"{loss_percent:g}", timeout=60)
        if result.returncode != 0:
            raise LabError(f"containerlab tools netem set -n {container} -i {interface} failed: "
                           f"{(result.stderr or result.stdout).strip()[-400:]}")

    def stop_node(self, topo: Topology, node: str) -> None:
        result = self._clab("stop", "-t", topo.path, "--node", node, timeout=300)
        if result.returncode != 0:
            raise LabError(f"containerlab stop --node {node} failed: {(result.stderr or result.stdout).strip()[-400:]}")

    def start_node(self, topo: Topology, node: str) -> None:
        result = self._clab("start", "-t", topo.path, "--node", node, timeout=300)
        if result.returncode != 0:
            raise LabError(f"containerlab start --node {node} failed: {(result.stderr or result.stdout).strip()[-400:]}")


def container_state(container: str) -> dict[str, Any]:
    """Return a container's state (``Status``, ``Health``) through the Docker API (docker SDK).

    ``DOCKER_HOST`` selects the engine, as for the docker command.

    Raises:
        LabError: the Docker API is unreachable or the container is unknown.
    """
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise LabError("the docker Python package is missing; pip install docker") from None
    client = None
    try:
        client = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
                                     version="1.41", timeout=10)
        attrs = client.containers.get(container).attrs
    except (DockerException, OSError) as exc:
        # OSError covers requests' connection errors, which the docker SDK does not wrap.
        raise LabError(f"cannot read container {container} from the Docker API: {exc}") from None
    finally:
        if client is not None:
            client.close()
    state = attrs.get("State") or {}
    return {"status": state.get("Status"), "running": state.get("Running"),
            "health": (state.get("Health") or {}).get("Status")}
