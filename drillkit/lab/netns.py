"""The embedded lab backend: one network namespace per node, built from real kernel parts.

Layout of a lab named ``L``:

- ``clab-L-<node>``: one namespace per node, named as containerlab names containers.
  Its ``eth0`` is a veth into the management (OOB) network; data-plane links are veth
  pairs named after the topology's endpoints. ``kind: bridge`` nodes hold a Linux
  bridge ``br0`` that their endpoints join.
- ``dk-L-mgmt``: the OOB network, a bridge ``oob0`` holding the management gateway
  address. It has no link to the host, so lab traffic cannot leave the lab.
- ``dk-L-jail``: the OOB jail, whose only interface joins the OOB network; recovery
  scripts run there, so the production network is unreachable by construction.
- an OpenSSH server in every linux node, listening on the node's management address.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..clock import Clock
from ..errors import LabError, LabStateError, TopologyError
from ..oob import guard
from . import frr, nsexec
from .state import LabState, known_labs
from .console import consrv_namespace, start_consoles
from .topology import Node, Topology, assign_mgmt_addresses, consrv_address, gateway_address, jail_address

log = logging.getLogger(__name__)

#: Kinds the netns backend builds, and where to go for the others.
SUPPORTED_KINDS = {"linux", "bridge", "frr"}
CONTAINERLAB_ONLY_HINT = "use backend: containerlab, which runs that kind's container image"

MGMT_BRIDGE = "oob0"
SSHD = "/usr/sbin/sshd"


def mgmt_namespace(lab: str) -> str:
    return f"dk-{lab}-mgmt"


def jail_namespace(lab: str) -> str:
    return f"dk-{lab}-jail"


@dataclass(frozen=True)
class InterfaceStatus:
    name: str
    oper_state: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeStatus:
    name: str
    kind: str
    namespace: str
    mgmt_ipv4: str | None
    running: bool
    processes: int
    interfaces: tuple[InterfaceStatus, ...] = ()


@dataclass(frozen=True)
class LabStatus:
    """Status of a running lab, as ``drillkit lab status`` prints it."""

    lab: str
    topology: str
    status: str
    nodes: tuple[NodeStatus, ...]
    jail: str | None
    mgmt_gateway: str | None
    missing: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return self.status == "up" and not self.missing


def check_supported(topo: Topology) -> None:
    """Raise TopologyError for node kinds this backend cannot build."""
    for node in topo.nodes.values():
        if node.kind not in SUPPORTED_KINDS:
            raise TopologyError(
                f"node {node.name!r}: kind {node.kind!r} is not supported by the netns backend "
                f"(it builds: {', '.join(sorted(SUPPORTED_KINDS))})",
                path=topo.path, line=node.line, field=f"topology.nodes.{node.name}.kind",
                fix=CONTAINERLAB_ONLY_HINT)


class NetnsBackend:
    """Build, inspect and tear down labs of network namespaces."""

    name = "netns"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()

    # -- up ----------------------------------------------------------------

    def up(self, topo: Topology) -> LabState:
        """Build the lab described by ``topo``.

        Raises:
            NeedsRootError: not running as root.
            LabStateError: the lab is already up, or its namespaces exist from another tool.
            LabError: a kernel object or an ``exec`` command failed; the partial lab is removed.
        """
        nsexec.require_root("drillkit lab up")
        check_supported(topo)
        self._check_not_running(topo)

        state = LabState(lab=topo.name, topology=str(Path(topo.path).resolve()), backend=self.name,
                         created_wall=self.clock.wall())
        state.lab_dir.mkdir(parents=True, exist_ok=True)
        state.save()
        started = time.monotonic()
        try:
            self._build(topo, state)
        except BaseException:
            log.error("lab %s: build failed, removing what was created", topo.name)
            self.down(topo.name, topo=topo)
            raise
        state.status = "up"
        state.save()
        log.info("lab %s: up in %.2f s (%d nodes, %d links)", topo.name, time.monotonic() - started,
                 len(topo.nodes), len(topo.links))
        return state

    def _check_not_running(self, topo: Topology) -> None:
        existing = LabState.load(topo.name)
        if existing is not None:
            alive = [ns for ns in existing.namespaces if nsexec.exists(ns)]
            if alive:
                raise LabStateError(
                    f"lab {topo.name!r} is already up (built {existing.created_wall} from {existing.topology}); "
                    f"run 'drillkit lab down {topo.path}' first")
            log.warning("lab %s: removing the state of an earlier run whose namespaces are gone", topo.name)
            self.down(topo.name, topo=topo)
        clashes = [topo.namespace(n) for n in topo.nodes if nsexec.exists(topo.namespace(n))]
        clashes += [ns for ns in (mgmt_namespace(topo.name), jail_namespace(topo.name),
                                  consrv_namespace(topo.name)) if nsexec.exists(ns)]
        if clashes:
            raise LabStateError(
                f"network namespaces of lab {topo.name!r} already exist but drillkit did not create them: "
                f"{', '.join(clashes)}; another tool (containerlab?) runs this lab. Remove them "
                "(ip netns delete NAME) or rename the lab")

    def _add_namespace(self, state: LabState, ns: str) -> None:
        state.namespaces.append(ns)
        state.save()
        nsexec.ip("netns", "add", ns)
        nsexec.ip("link", "set", "lo", "up", ns=ns)

    def _build(self, topo: Topology, state: LabState) -> None:
        lab = topo.name
        addresses = assign_mgmt_addresses(topo)
        prefixlen = topo.mgmt.subnet.prefixlen
        mgmt_ns = mgmt_namespace(lab)
        gateway = gateway_address(topo)
        state.mgmt_ns = mgmt_ns
        state.mgmt_gateway = gateway

        self._add_namespace(state, mgmt_ns)
        nsexec.ip("link", "add", MGMT_BRIDGE, "type", "bridge", ns=mgmt_ns)
        nsexec.ip("addr", "add", f"{gateway}/{prefixlen}", "dev", MGMT_BRIDGE, ns=mgmt_ns)
        nsexec.ip("link", "set", MGMT_BRIDGE, "up", ns=mgmt_ns)

        for index, node in enumerate(topo.nodes.values()):
            ns = topo.namespace(node.name)
            self._add_namespace(state, ns)
            state.nodes[node.name] = {"namespace": ns, "kind": node.kind, "mgmt_ipv4": addresses.get(node.name)}
            if node.kind == "bridge":
                nsexec.ip("link", "add", "br0", "type", "bridge", ns=ns)
                nsexec.ip("link", "set", "br0", "up", ns=ns)
                continue
            self._join_mgmt(ns, f"m{index}", addresses[node.name], prefixlen, mgmt_ns)
            for key in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                        "net.ipv4.conf.default.rp_filter=0"):
                nsexec.run(["sysctl", "-q", "-w", key], ns=ns, check=True)
        state.save()

        for link in topo.links:
            self._add_link(topo, link.a.node, link.a.interface, link.b.node, link.b.interface)

        jail = jail_namespace(lab)
        self._add_namespace(state, jail)
        self._join_mgmt(jail, "mjail", str(jail_address(topo)), prefixlen, mgmt_ns, name="eth0")
        # The default route only lets the jail's guard table see (record and reject)
        # attempts to leave the OOB network; the OOB gateway forwards nothing.
        nsexec.ip("route", "add", "default", "via", gateway, ns=jail)
        guard.install(jail, guard.jail_ruleset(str(topo.mgmt.subnet)))
        state.jail = jail
        state.save()

        for node in topo.nodes.values():
            if node.binds or frr.is_frr(node):
                self._mount_binds(topo, node, state)
        for node in topo.nodes.values():
            if frr.is_frr(node):
                frr.start(topo.namespace(node.name), state.mount_pins[node.name], node.name)
        for node in topo.nodes.values():
            self._run_exec(topo, node, state)
        self._start_sshd(topo, state, addresses)
        if topo.nodes and any(n.kind != "bridge" for n in topo.nodes.values()):
            start_consoles(topo, state, str(consrv_address(topo)), prefixlen, mgmt_ns, self._join_mgmt)

    def _join_mgmt(self, ns: str, peer: str, address: str, prefixlen: int, mgmt_ns: str,
                   name: str = "eth0") -> None:
        nsexec.ip("link", "add", name, "netns", ns, "type", "veth", "peer", "name", peer, "netns", mgmt_ns)
        nsexec.ip("link", "set", peer, "master", MGMT_BRIDGE, "up", ns=mgmt_ns)
        nsexec.ip("addr", "add", f"{address}/{prefixlen}", "dev", name, ns=ns)
        nsexec.ip("link", "set", name, "up", ns=ns)

    def _add_link(self, topo: Topology, node_a: str, if_a: str, node_b: str, if_b: str) -> None:
        ns_a, ns_b = topo.namespace(node_a), topo.namespace(node_b)
        nsexec.ip("link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        for node, ns, ifname in ((node_a, ns_a, if_a), (node_b, ns_b, if_b)):
            if topo.nodes[node].kind == "bridge":
                nsexec.ip("link", "set", ifname, "master", "br0", ns=ns)
            nsexec.ip("link", "set", ifname, "up", ns=ns)

    def _mount_binds(self, topo: Topology, node: Node, state: LabState) -> None:
        """Give ``node`` a private mount namespace in which its binds are mounted."""
        pins = state.lab_dir / "mnt"
        if not pins.exists():
            pins.mkdir(parents=True)
            # A namespace pin must sit on a private mount, or the kernel refuses it.
            nsexec.run(["mount", "--bind", str(pins), str(pins)], check=True)
            nsexec.run(["mount", "--make-private", str(pins)], check=True)
        pin = pins / node.name
        pin.touch()
        state.mount_pins[node.name] = str(pin)
        state.save()

        script = []
        skip: set[str] = set()
        if frr.is_frr(node):
            etc = frr.prepare_etc(topo, node, state.lab_dir / "frr" / node.name)
            script += frr.mount_script(etc)
            skip = {f"/etc/frr/{name}" for name in frr.frr_binds(node)}
        for bind in node.binds:
            if bind.target in skip:
                continue
            source = (topo.directory / bind.source).resolve()
            if not source.exists():
                raise TopologyError(f"node {node.name!r}: bind source {bind.source!r} not found "
                                    f"(looked for {source})", path=topo.path, line=node.line,
                                    field=f"topology.nodes.{node.name}.binds",
                                    fix="paths are relative to the topology file's folder")
            target = Path(bind.target)
            others = {p for other in self.list_labs() if other.lab != topo.name for p in other.placeholders}
            for path in [target, *target.parents]:
                if str(path) in others and str(path) not in state.placeholders:
                    # Another lab's placeholder: share it, so the last lab down removes it.
                    state.placeholders.insert(0, str(path))
            if not target.exists():
                # NOTE: the netns backend shares the host's filesystem, so a missing bind
                # target is created on the host as an empty placeholder and removed at lab down.
                self._create_placeholder(target, source.is_dir(), state)
            script.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}")
            if bind.mode == "ro":
                script.append(f"mount -o remount,bind,ro {shlex.quote(str(target))}")
        nsexec.run(["unshare", f"--mount={pin}", "--propagation", "private", "sh", "-ec",
                    "; ".join(script) or "true"], check=True)

    def _create_placeholder(self, target: Path, is_dir: bool, state: LabState) -> None:
        missing = []
        probe = target
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            state.placeholders.append(str(path))
            state.save()
            if path == target and not is_dir:
                path.touch()
            else:
                path.mkdir()

    def _run_exec(self, topo: Topology, node: Node, state: LabState) -> None:
        if not node.exec:
            return
        ns = topo.namespace(node.name)
        pin = state.mount_pins.get(node.name)
        log_path = state.lab_dir / f"{node.name}.exec.log"
        env = {**os.environ, **node.env}
        for command in node.exec:
            log.debug("lab %s: node %s: exec %s", topo.name, node.name, command)
            with open(log_path, "a+", encoding="utf-8") as out:
                out.write(f"$ {command}\n")
                out.flush()
                start = out.tell()
                try:
                    # Output goes to a file, not a pipe: a command that starts a daemon
                    # with '&' would otherwise keep the pipe open and hang the lab build.
                    proc = subprocess.run(nsexec.prefix(ns, pin) + ["sh", "-c", command], stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                          cwd=topo.directory, timeout=120, start_new_session=True)
                except subprocess.TimeoutExpired:
                    raise LabError(f"lab {topo.name}: node {node.name}: exec command timed out after 120 s: "
                                   f"{command}") from None
                out.seek(start)
                output = out.read().strip()
            if proc.returncode != 0:
                raise LabError(
                    f"lab {topo.name}: node {node.name}: exec command failed (exit {proc.returncode}): {command}"
                    + (f": {output[-500:]}" if output else "")
                    + f"; see {topo.path}:{node.line}")

    # -- OpenSSH on the management network ---------------------------------

    def _start_sshd(self, topo: Topology, state: LabState, addresses: dict[str, str]) -> None:
        nodes = [n for n in topo.nodes.values()
                 if n.kind == "linux" and n.labels.get("drillkit.sshd", "true").lower() != "false"]
        if not nodes:
            return
        if not Path(SSHD).exists():
            raise LabError(f"OpenSSH server not found at {SSHD}; install the openssh-server package")
        ssh_dir = state.lab_dir / "ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        key = ssh_dir / "id_ed25519"
        host_key = ssh_dir / "host_ed25519"
        for path in (key, host_key):
            if not path.exists():
                nsexec.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"drillkit-{topo.name}",
                            "-f", str(path)], check=True)
        shutil.copyfile(f"{key}.pub", ssh_dir / "authorized_keys")
        host_pub = Path(f"{host_key}.pub").read_text().split()
        known = [f"{addresses[n.name]} {host_pub[0]} {host_pub[1]}" for n in nodes]
        (ssh_dir / "known_hosts").write_text("\n".join(known) + "\n")
        state.ssh_key = str(key)
        state.known_hosts = str(ssh_dir / "known_hosts")
        state.save()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # OpenSSH's privilege separation folder

        for node in nodes:
            address = addresses[node.name]
            config = ssh_dir / f"sshd_{node.name}.conf"
            config.write_text("\n".join([
                f"ListenAddress {address}",
                f"HostKey {host_key}",
                f"PidFile {ssh_dir / (node.name + '.pid')}",
                f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PrintMotd no",
                "MaxStartups 50:30:100",
                "",
            ]))
            argv = nsexec.prefix(topo.namespace(node.name), state.mount_pins.get(node.name)) + [
                SSHD, "-f", str(config), "-E", str(ssh_dir / f"sshd_{node.name}.log")]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, start_new_session=True)
            if proc.returncode != 0:
                raise LabError(f"lab {topo.name}: node {node.name}: sshd failed to start: {proc.stderr.strip()}")

    # -- down --------------------------------------------------------------

    def down(self, lab: str, *, topo: Topology | None = None) -> list[str]:
        """Remove every namespace, process, mount and placeholder of ``lab``.

        Works from the state file, and from the topology too when given, so a lab
        whose build crashed before its state was written is still removed.

        Returns:
            The namespaces that were deleted.
        """
        nsexec.require_root("drillkit lab down")
        state = LabState.load(lab)
        namespaces: list[str] = list(state.namespaces) if state else []
        if topo is not None:
            for ns in [mgmt_namespace(lab), jail_namespace(lab), consrv_namespace(lab)] + \
                    [topo.namespace(n) for n in topo.nodes]:
                if ns not in namespaces:
                    namespaces.append(ns)
        alive = [ns for ns in namespaces if nsexec.exists(ns)]

        self._kill_processes(alive)
        lab_dir = state.lab_dir if state is not None else LabState(lab=lab, topology="").lab_dir
        pins = lab_dir / "mnt"
        if pins.is_dir():
            # Unmount every pin found, not only those in the state file, which may be lost.
            for pin in pins.iterdir():
                subprocess.run(["umount", str(pin)], capture_output=True)
            subprocess.run(["umount", "-l", str(pins)], capture_output=True)
        if state is not None:
            shared = {p for other in self.list_labs() if other.lab != lab for p in other.placeholders}
            for path in reversed(state.placeholders):
                if path in shared:
                    log.info("lab %s: placeholder %s is in use by another lab, kept", lab, path)
                    continue
                p = Path(path)
                try:
                    if p.is_dir():
                        p.rmdir()
                    elif p.exists():
                        p.unlink()
                except OSError as exc:
                    log.warning("lab %s: could not remove placeholder %s: %s", lab, path, exc)
        deleted = []
        for ns in alive:
            result = nsexec.ip("netns", "delete", ns, check=False)
            if result.ok:
                deleted.append(ns)
            else:
                log.error("lab %s: cannot delete namespace %s: %s", lab, ns, result.stderr.strip())
        shutil.rmtree(lab_dir, ignore_errors=True)
        if state is not None:
            state.remove()
        log.info("lab %s: down (%d namespaces removed)", lab, len(deleted))
        return deleted

    def _kill_processes(self, namespaces: list[str], grace_s: float = 1.0) -> None:
        """Kill every process in ``namespaces``, looking again after each round.

        Supervisors in the lab (the console loops, watchfrr) start new children
        while the old ones die, so one pass over a list of pids leaves some behind;
        a process left in a deleted namespace would keep it alive.
        """
        deadline = time.monotonic() + grace_s + 4.0
        sig = signal.SIGTERM
        term_until = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            victims = {pid for ns in namespaces for pid in nsexec.pids(ns)}
            victims.discard(os.getpid())
            victims = {pid for pid in victims if _alive(pid)}
            if not victims:
                return
            if time.monotonic() >= term_until:
                sig = signal.SIGKILL
            for pid in victims:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        log.error("processes still running in %s after kill: %s", ", ".join(namespaces),
                  sorted(pid for ns in namespaces for pid in nsexec.pids(ns)))

    # -- status ------------------------------------------------------------

    def status(self, lab: str) -> LabStatus:
        """Report the nodes, interfaces and processes of a running lab.

        Raises:
            LabStateError: the lab is not up.
        """
        state = LabState.load(lab)
        if state is None:
            raise LabStateError(f"lab {lab!r} is not up; start it with 'drillkit lab up <topology>'")
        nodes = []
        missing = []
        for name, info in state.nodes.items():
            ns = info["namespace"]
            running = nsexec.exists(ns)
            if not running:
                missing.append(ns)
            interfaces = tuple(_interfaces(ns)) if running else ()
            procs = len(nsexec.pids(ns)) if running else 0
            nodes.append(NodeStatus(name=name, kind=info["kind"], namespace=ns, mgmt_ipv4=info.get("mgmt_ipv4"),
                                    running=running, processes=procs, interfaces=interfaces))
        return LabStatus(lab=lab, topology=state.topology, status=state.status, nodes=tuple(nodes),
                         jail=state.jail, mgmt_gateway=state.mgmt_gateway, missing=tuple(missing))

    @staticmethod
    def list_labs() -> list[LabState]:
        return [s for s in (LabState.load(name) for name in known_labs()) if s is not None]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _interfaces(ns: str) -> list[InterfaceStatus]:
    import json

    result = nsexec.run(["ip", "-j", "-n", ns, "addr", "show"], timeout=10)
    if not result.ok:
        return []
    out = []
    for entry in json.loads(result.stdout or "[]"):
        if entry.get("ifname") == "lo":
            continue
        addrs = tuple(f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", []) if a.get("family") == "inet")
        out.append(InterfaceStatus(entry["ifname"], entry.get("operstate", "UNKNOWN"), addrs))
    return out
