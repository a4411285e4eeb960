"""The embedded lab's console server: serial consoles of every node behind ser2net and OpenSSH.

Layout for a lab ``L`` whose node has console line N (1-based, in topology order):

- a pty per node, made by socat, whose far side runs a shell inside the node's
  namespace (the router CLI on router nodes);
- ser2net (the distribution's daemon) in the console-server namespace
  ``dk-L-consrv`` serves each pty with the usual port plan: telnet 2000+N,
  RFC 2217 5000+N, and a raw TCP port 3000+N used by the SSH front end;
- OpenSSH in the same namespace, on the console server's OOB address, is the
  authenticated way in: ``ssh <node>@<consrv>`` (one user per line, as
  commercial console servers do) or ``ssh admin@<consrv> <node>``. The users
  exist only inside the console server's private mount namespace, whose
  /etc/passwd and /etc/shadow are the lab's own.

ser2net's ports listen on the namespace's loopback address, out of reach of the
OOB network, unless a node has the label ``drillkit.console.auth: none``; then
that line's telnet and RFC 2217 ports listen on the OOB address without any
login, which the hardening checks report.

Why ser2net rather than conserver: ser2net speaks telnet and RFC 2217, which the
field's Python transports (pyserial's ``rfc2217://``, netmiko's telnet drivers)
use directly; conserver needs its own client.
"""

from __future__ import annotations

import json
import logging
import secrets
import shlex
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import LabError
from . import nsexec
from .state import LabState
from .topology import Node, Topology

log = logging.getLogger(__name__)

SER2NET = "/usr/sbin/ser2net"
SOCAT = "/usr/bin/socat"
TELNET_BASE, RAW_BASE, RFC2217_BASE = 2000, 3000, 5000
ADMIN_PORT = 3999
AUTH_LABEL = "drillkit.console.auth"
CONSOLE_USER_ADMIN = "admin"


def consrv_namespace(lab: str) -> str:
    return f"dk-{lab}-consrv"


@dataclass(frozen=True)
class ConsoleLine:
    """One console line of the console server's port plan."""

    node: str
    line: int
    telnet_port: int
    rfc2217_port: int
    raw_port: int
    pty: str
    authenticated: bool
    user: str

    @property
    def name(self) -> str:
        return self.node


@dataclass(frozen=True)
class ConsolePlan:
    """The console server of a lab: where it is and its lines."""

    namespace: str
    address: str
    admin_user: str
    password_file: str
    lines: dict[str, ConsoleLine]

    def to_json(self) -> dict:
        return {**asdict(self), "lines": {k: asdict(v) for k, v in self.lines.items()}}

    @classmethod
    def from_json(cls, data: dict) -> ConsolePlan:
        return cls(namespace=data["namespace"], address=data["address"], admin_user=data["admin_user"],
                   password_file=data["password_file"],
                   lines={k: ConsoleLine(**v) for k, v in data["lines"].items()})

    def password(self) -> str:
        """Return the console password (the lab's own, from a root-only file)."""
        return Path(self.password_file).read_text(encoding="utf-8").strip()


def console_nodes(topo: Topology) -> list[Node]:
    return [n for n in topo.nodes.values() if n.kind != "bridge"]


def plan_console(topo: Topology, state: LabState, address: str) -> ConsolePlan:
    """Assign console lines in topology order (line 1 is the first non-bridge node)."""
    lines = {}
    for number, node in enumerate(console_nodes(topo), start=1):
        auth = node.labels.get(AUTH_LABEL, "ssh").lower()
        lines[node.name] = ConsoleLine(
            node=node.name, line=number, telnet_port=TELNET_BASE + number, rfc2217_port=RFC2217_BASE + number,
            raw_port=RAW_BASE + number, pty=str(state.lab_dir / "console" / f"{node.name}.pty"),
            authenticated=auth != "none", user=node.name)
    return ConsolePlan(namespace=consrv_namespace(topo.name), address=address, admin_user=CONSOLE_USER_ADMIN,
                       password_file=str(state.lab_dir / "console" / "secret" / "password"), lines=lines)


SHELL_SCRIPT = """#!/bin/sh
# Far side of a linux node's console: an interactive shell with the node's name as prompt.
exec env -i HOME=/root TERM=vt100 PATH=/usr/sbin:/usr/bin:/sbin:/bin PS1="$1# " bash --noprofile --norc -i
"""
VTYSH_SCRIPT = """#!/bin/sh
# Far side of a router's console: the FRR CLI of the node's own daemons.
exec env -i HOME=/root TERM=vt100 PATH=/usr/sbin:/usr/bin:/sbin:/bin VTYSH_PAGER=cat vtysh
"""


def console_shell(node: Node, folder: Path) -> str:
    """Return the command on the far side of a node's console (socat splits it on spaces)."""
    from .frr import is_frr

    name, text = ("vtysh", VTYSH_SCRIPT) if is_frr(node) else ("shell", SHELL_SCRIPT)
    script = folder / name
    if not script.exists():
        script.write_text(text)
        script.chmod(0o755)
    return f"{script} {node.name}"


def start_consoles(topo: Topology, state: LabState, address: str, prefixlen: int, mgmt_ns: str,
                   join_mgmt) -> ConsolePlan:
    """Build the console server namespace, the ptys, ser2net and the SSH front end."""
    for tool in (SER2NET, SOCAT):
        if not Path(tool).exists():
            raise LabError(f"{tool} not found: the embedded console server needs the ser2net and socat "
                           "packages (scripts/setup.sh installs them)")
    folder = state.lab_dir / "console"
    folder.mkdir(mode=0o755, exist_ok=True)
    folder.chmod(0o755)
    plan = plan_console(topo, state, address)
    ns = plan.namespace
    state.namespaces.append(ns)
    state.save()
    nsexec.ip("netns", "add", ns)
    nsexec.ip("link", "set", "lo", "up", ns=ns)
    join_mgmt(ns, "mconsrv", address, prefixlen, mgmt_ns)

    for node in console_nodes(topo):
        _start_pty(topo, state, node, plan.lines[node.name], folder)
    _wait_for_ptys(plan)
    _start_ser2net(plan, folder)
    _start_sshd(topo, state, plan, folder)
    (folder / "plan.json").write_text(json.dumps(plan.to_json(), indent=2))
    return plan


def _start_pty(topo: Topology, state: LabState, node: Node, line: ConsoleLine, folder: Path) -> None:
    ns = topo.namespace(node.name)
    socat = shlex.join([SOCAT, f"PTY,link={line.pty},raw,echo=0,mode=600",
                        f"EXEC:{console_shell(node, folder)},pty,setsid,ctty,stderr,sane"])
    # socat ends when the shell exits (an operator typed exit); restart it, as a
    # real console line comes back with a fresh prompt.
    loop = f"while :; do {socat}; sleep 0.2; done"
    subprocess.Popen(nsexec.prefix(ns, state.mount_pins.get(node.name)) + ["sh", "-c", loop],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def _wait_for_ptys(plan: ConsolePlan, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    missing = list(plan.lines.values())
    while missing and time.monotonic() < deadline:
        missing = [line for line in missing if not Path(line.pty).exists()]
        if missing:
            time.sleep(0.02)
    if missing:
        raise LabError(f"console ptys did not appear within {timeout_s:g} s: "
                       + ", ".join(line.node for line in missing))


def _start_ser2net(plan: ConsolePlan, folder: Path) -> None:
    lines = ["%YAML 1.1", "---", "default:", "  name: mdns", "  value: false", "  class: ser2net",
             "admin:", f"  accepter: tcp,127.0.0.1,{ADMIN_PORT}", ""]
    for line in plan.lines.values():
        exposed = "127.0.0.1" if line.authenticated else plan.address
        device = f"serialdev,{line.pty},115200n81,local"
        for suffix, accepter in (("telnet", f"telnet,tcp,{exposed},{line.telnet_port}"),
                                 ("rfc2217", f"telnet(rfc2217),tcp,{exposed},{line.rfc2217_port}"),
                                 ("raw", f"tcp,127.0.0.1,{line.raw_port}")):
            banner = f"drillkit console line {line.line} ({line.node})\\r\\n" if suffix == "telnet" else ""
            lines += [f"connection: &{line.node}-{suffix}", f"  accepter: {accepter}", f"  connector: {device}",
                      "  options:", "    kickolduser: false", "    max-connections: 1"]
            if banner:
                lines.append(f"    banner: \"{banner}\"")
            lines.append("")
    config = folder / "ser2net.yaml"
    config.write_text("\n".join(lines))
    result = nsexec.run([SER2NET, "-c", str(config), "-P", str(folder / "ser2net.pid")], ns=plan.namespace,
                        timeout=15)
    if not result.ok:
        raise LabError(f"ser2net failed to start: {(result.stderr or result.stdout).strip()}")


GATE_SCRIPT = """#!/bin/sh
# Login shell of console users: connect the SSH session to a console line.
# Per-line users get their own line; the admin user names the line as the command.
LINES={lines}
line=${{USER:-$(id -un)}}
if [ "$line" = "{admin}" ]; then
    # sshd runs the login shell as "gate -c COMMAND"; it sets SSH_ORIGINAL_COMMAND only for a ForceCommand.
    line=${{SSH_ORIGINAL_COMMAND:-}}
    if [ -z "$line" ] && [ "${{1:-}}" = "-c" ]; then
        line=${{2:-}}
    fi
    if [ -z "$line" ]; then
        printf 'lines: %s\\r\\nline> ' "$(cut -d' ' -f1 "$LINES" | tr '\\n' ' ')"
        read -r line
    fi
fi
port=$(awk -v want="$line" '$1 == want {{ print $2 }}' "$LINES")
if [ -z "$port" ]; then
    echo "no console line named '$line'"
    exit 1
fi
if [ -t 0 ]; then
    exec {socat} STDIO,raw,echo=0 TCP:127.0.0.1:"$port"
fi
exec {socat} STDIO TCP:127.0.0.1:"$port"
"""


def _start_sshd(topo: Topology, state: LabState, plan: ConsolePlan, folder: Path) -> None:
    """Run OpenSSH as the console server's front end, with the lab's own user database."""
    password = secrets.token_urlsafe(12)
    Path(plan.password_file).parent.mkdir(mode=0o700, exist_ok=True)
    Path(plan.password_file).write_text(password + "\n")
    Path(plan.password_file).chmod(0o600)
    hashed = nsexec.run(["openssl", "passwd", "-6", "-stdin"], input_text=password + "\n", check=True).stdout.strip()

    gate = folder / "gate"
    (folder / "lines").write_text("".join(f"{line.node} {line.raw_port}\n" for line in plan.lines.values()))
    gate.write_text(GATE_SCRIPT.format(lines=folder / "lines", admin=plan.admin_user, socat=SOCAT))
    gate.chmod(0o755)

    etc = folder / "etc"
    etc.mkdir(exist_ok=True)
    host_passwd = Path("/etc/passwd").read_text().splitlines()
    keep = [entry for entry in host_passwd if entry.split(":")[0] in ("root", "sshd")]
    users = [plan.admin_user] + [line.user for line in plan.lines.values()]
    # Console users are unprivileged (nobody's ids): their shell only connects
    # to a loopback port of ser2net.
    passwd = keep + [f"{user}:x:65534:65534:console {user}:/:{gate}" for user in users]
    shadow = [f"{entry.split(':')[0]}:*:19000:0:99999:7:::" for entry in keep]
    shadow += [f"{user}:{hashed}:19000:0:99999:7:::" for user in users]
    group = [entry for entry in Path("/etc/group").read_text().splitlines()
             if entry.split(":")[0] in ("root", "nogroup", "sshd")]
    (etc / "passwd").write_text("\n".join(passwd) + "\n")
    (etc / "shadow").write_text("\n".join(shadow) + "\n")
    (etc / "shadow").chmod(0o600)
    (etc / "group").write_text("\n".join(group) + "\n")

    ssh_dir = state.lab_dir / "ssh"
    shutil.copyfile(ssh_dir / "authorized_keys", folder / "authorized_keys")
    (folder / "authorized_keys").chmod(0o644)
    config = folder / "sshd.conf"
    config.write_text("\n".join([
        f"ListenAddress {plan.address}",
        f"HostKey {ssh_dir / 'host_ed25519'}",
        f"PidFile {folder / 'sshd.pid'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "PermitRootLogin no",
        f"AllowUsers {' '.join(users)}",
        "PasswordAuthentication yes",
        "PermitEmptyPasswords no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "PrintLastLog no",
        "MaxStartups 100:30:200",
        "",
    ]))
    # A private mount namespace gives the console users their own /etc/passwd and
    # /etc/shadow without touching the host's.
    pin = state.lab_dir / "mnt"
    if not pin.exists():
        pin.mkdir(parents=True)
        nsexec.run(["mount", "--bind", str(pin), str(pin)], check=True)
        nsexec.run(["mount", "--make-private", str(pin)], check=True)
    pin_file = pin / "consrv"
    pin_file.touch()
    state.mount_pins["__consrv__"] = str(pin_file)
    state.save()
    binds = "; ".join(f"mount --bind {etc / name} /etc/{name}" for name in ("passwd", "shadow", "group"))
    nsexec.run(["unshare", f"--mount={pin_file}", "--propagation", "private", "sh", "-ec", binds], check=True)
    result = nsexec.run(["/usr/sbin/sshd", "-f", str(config), "-E", str(folder / "sshd.log")],
                        ns=plan.namespace, mount_pin=str(pin_file), timeout=30)
    if not result.ok:
        raise LabError(f"console server sshd failed to start: {result.stderr.strip()}")


def load_plan(lab: str) -> ConsolePlan | None:
    """Return the console plan of a running lab, or None when it has no console server."""
    path = LabState(lab=lab, topology="").lab_dir / "console" / "plan.json"
    try:
        return ConsolePlan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        return None


def remove_console_files(state: LabState) -> None:
    shutil.rmtree(state.lab_dir / "console", ignore_errors=True)
