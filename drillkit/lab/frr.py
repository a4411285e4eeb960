"""FRR routers in the embedded lab: the host's FRR daemons inside a node's namespaces.

As in a container built from an FRR image, each router gets its own ``/etc/frr``
(the node's ``frr.conf``, ``daemons`` and ``vtysh.conf``, from binds or
``startup-config``) and its own ``/var/run/frr``, through the node's private mount
namespace; ``frrinit.sh`` then starts watchfrr and the daemons the ``daemons``
file enables, and ``vtysh`` inside the node talks to that node's daemons only.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from ..errors import LabError, TopologyError
from . import nsexec
from .topology import Node, Topology

log = logging.getLogger(__name__)

FRR_LIB = Path("/usr/lib/frr")
FRR_ETC_FILES = ("frr.conf", "daemons", "vtysh.conf")


#: Routing daemons enabled in a generated daemons file when frr.conf configures them.
_DAEMON_FOR = {r"^router bgp": "bgpd", r"^router ospf\b": "ospfd", r"^router ospf6": "ospf6d",
               r"^router isis": "isisd", r"^router rip\b": "ripd", r"^router ripng": "ripngd",
               r"^router eigrp": "eigrpd", r"^router babel": "babeld", r"^bfd": "bfdd", r"^ip pim|^router pim": "pimd",
               r"^pbr-map": "pbrd", r"^router openfabric": "fabricd", r"^vrrp": "vrrpd"}


def is_frr(node: Node) -> bool:
    """Return True for containerlab ``frr`` nodes and ``linux`` nodes with an FRR image."""
    if node.kind == "frr":
        return True
    return node.kind == "linux" and bool(node.image) and "frr" in (node.image or "").lower()


def frr_binds(node: Node) -> dict[str, str]:
    """Return the node's binds that target files in /etc/frr, as file name to host source."""
    return {Path(b.target).name: b.source for b in node.binds
            if str(Path(b.target).parent) == "/etc/frr" and Path(b.target).name in FRR_ETC_FILES}


def generated_daemons(frr_conf: str) -> str:
    """Return a daemons file that enables the daemons ``frr_conf`` configures (zebra and staticd always run)."""
    enabled = {daemon for pattern, daemon in _DAEMON_FOR.items() if re.search(pattern, frr_conf, re.MULTILINE)}
    lines = [f"{daemon}={'yes' if daemon in enabled else 'no'}" for daemon in sorted(set(_DAEMON_FOR.values()))]
    lines += ["vtysh_enable=yes", 'zebra_options="  -A 127.0.0.1 -s 90000000"']
    lines += [f'{daemon}_options="  -A 127.0.0.1"' for daemon in sorted(set(_DAEMON_FOR.values()))]
    return "\n".join(lines) + "\n"


def prepare_etc(topo: Topology, node: Node, folder: Path) -> Path:
    """Write the node's /etc/frr into ``folder``; return it.

    Raises:
        TopologyError: a bound or startup-config file is missing.
    """
    if not FRR_LIB.joinpath("frrinit.sh").exists():
        raise LabError(f"node {node.name!r} is an FRR router but FRR is not installed on this host; "
                       "install the frr package (scripts/setup.sh does)")
    folder.mkdir(parents=True, exist_ok=True)
    sources = {name: (topo.directory / src).resolve() for name, src in frr_binds(node).items()}
    if node.startup_config and "frr.conf" not in sources:
        sources["frr.conf"] = (topo.directory / node.startup_config).resolve()
    for name, source in sources.items():
        if not source.is_file():
            raise TopologyError(f"node {node.name!r}: {name} source {source} not found", path=topo.path,
                                line=node.line, field=f"topology.nodes.{node.name}",
                                fix="paths are relative to the topology file's folder")
        shutil.copyfile(source, folder / name)
    frr_conf = (folder / "frr.conf").read_text() if (folder / "frr.conf").exists() else ""
    if not (folder / "frr.conf").exists():
        (folder / "frr.conf").write_text(f"frr defaults traditional\nhostname {node.name}\n!\n")
    if not (folder / "daemons").exists():
        (folder / "daemons").write_text(generated_daemons(frr_conf))
    if not (folder / "vtysh.conf").exists():
        (folder / "vtysh.conf").write_text("service integrated-vtysh-config\n")
    shutil.chown(folder, "frr", "frr")
    for path in folder.iterdir():
        shutil.chown(path, "frr", "frr")
        path.chmod(0o640)
    return folder


def mount_script(etc: Path) -> list[str]:
    """Shell lines that give a mount namespace the node's /etc/frr and a private /var/run/frr."""
    return [f"mount --bind {etc} /etc/frr", "mkdir -p /var/run/frr",
            "mount -t tmpfs -o mode=0755 tmpfs /var/run/frr", "chown frr:frr /var/run/frr"]


def start(namespace: str, mount_pin: str, node: str) -> None:
    """Start watchfrr and the daemons inside the node."""
    result = nsexec.run([str(FRR_LIB / "frrinit.sh"), "start"], ns=namespace, mount_pin=mount_pin, timeout=60)
    if not result.ok:
        raise LabError(f"node {node}: FRR failed to start: {(result.stderr or result.stdout).strip()[-400:]}")
    log.debug("node %s: FRR started: %s", node, result.stdout.strip())


def vtysh(namespace: str, mount_pin: str, command: str, timeout_s: float = 10.0) -> nsexec.CommandResult:
    """Run one vtysh command on the node's own daemons."""
    return nsexec.run(["vtysh", "-c", command], ns=namespace, mount_pin=mount_pin, timeout=timeout_s)
