"""Physical labs: a pyATS-style testbed inventory of real devices, console servers and links.

A testbed names each device's netmiko device type (``os``), its credentials (as
``${env:NAME}`` or ``${file:PATH}`` references only: literal secrets are
rejected), and its connections, each with ``protocol`` (ssh, telnet, serial),
``host``/``ip``, ``port`` and ``path`` (``inband`` through the production network,
``oob`` through the management network or a console server). Links between
device interfaces let scenarios name links as they do in emulated labs.

Connections are opened from the drillkit host, or from a network namespace named
by ``namespace:`` (for testbeds emulated in network namespaces).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import yamldoc
from ..errors import ConfigError, LabError
from ..scenario import refs
from ..yamldoc import Field
from .topology import Endpoint, Link, Mgmt, Node, Topology

log = logging.getLogger(__name__)

PROTOCOLS = ("ssh", "telnet", "serial")
PATHS = ("inband", "oob")


class TestbedError(ConfigError):
    """A testbed file is invalid."""

    kind = "testbed"


@dataclass(frozen=True)
class Credential:
    username: str
    password: str | None = field(default=None, repr=False)
    enable: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Connection:
    """One named way into a device."""

    name: str
    protocol: str
    path: str
    host: str | None = None
    port: int | None = None
    url: str | None = None
    console_server: str | None = None
    line: int | None = None
    namespace: str | None = None
    credential: str = "default"

    @property
    def target(self) -> str:
        if self.protocol == "serial":
            return self.url or "?"
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ConsoleServer:
    """A console server and its line plan (device name to line number)."""

    name: str
    host: str
    protocol: str = "ssh"
    port: int = 22
    telnet_base: int = 2000
    rfc2217_base: int = 5000
    user_format: str = "{device}"
    lines: dict[str, int] = field(default_factory=dict)
    credentials: dict[str, Credential] = field(default_factory=dict, repr=False)
    namespace: str | None = None


@dataclass(frozen=True)
class Device:
    name: str
    os: str
    connections: dict[str, Connection]
    credentials: dict[str, Credential] = field(default_factory=dict, repr=False)
    line: int | None = None

    def connection(self, name: str | None = None, *, path: str | None = None) -> Connection:
        """Return a named connection, or the first on ``path`` (consoles first for oob).

        Raises:
            LabError: no such connection.
        """
        if name:
            try:
                return self.connections[name]
            except KeyError:
                raise LabError(f"device {self.name} has no connection {name!r} "
                               f"(connections: {', '.join(self.connections)})") from None
        candidates = [c for c in self.connections.values() if path is None or c.path == path]
        candidates.sort(key=lambda c: (c.console_server is None and c.protocol != "serial", c.name))
        if not candidates:
            raise LabError(f"device {self.name} has no {path or ''} connection")
        return candidates[0]


@dataclass(frozen=True)
class Testbed:
    name: str
    path: str
    devices: dict[str, Device]
    console_servers: dict[str, ConsoleServer]
    links: tuple[Link, ...]
    secrets: frozenset[str] = field(default=frozenset(), repr=False)

    def topology(self) -> Topology:
        """Return the testbed as a Topology, so scenarios name nodes and links the same way."""
        nodes = {name: Node(name=name, kind="physical", line=d.line, labels={"drillkit.os": d.os})
                 for name, d in self.devices.items()}
        return Topology(name=self.name, path=self.path, prefix="", mgmt=Mgmt(), nodes=nodes, links=self.links)


def _credentials(f: Field, base: Path, secrets: set[str]) -> dict[str, Credential]:
    result = {}
    for name, cf in f.items():
        cf.check_keys({"username", "password", "enable"})
        values = {}
        for key in ("username", "password", "enable"):
            if not cf.has(key):
                continue
            raw = cf[key].str(allow_empty=True)
            if key != "username" and "${" not in raw:
                raise cf[key].fail("a literal secret in the testbed file",
                                   "write a reference: ${env:NAME} or ${file:path/to/secret}", show_value=False)
            try:
                values[key] = refs.resolve(raw, variables={}, base=base, secrets=secrets)
            except refs.RefError as exc:
                raise cf[key].fail(str(exc), show_value=False) from None
        if "username" not in values:
            raise cf.fail(f"credential {name!r} has no username", "add username:", show_value=False)
        result[name] = Credential(values["username"], values.get("password"), values.get("enable"))
    return result


def load_testbed(path: str | Path, *, text: str | None = None) -> Testbed:
    """Read a testbed file.

    Raises:
        TestbedError: the file is invalid; the message names the line, field and fix.
    """
    path = str(path)
    base = Path(path).resolve().parent
    root = Field(yamldoc.load(path, error=TestbedError, text=text, what="testbed"), path,
                 error=TestbedError).mapping()
    root.check_keys({"testbed", "devices", "console_servers", "topology"})
    tb = root.require("testbed", "add testbed: {name: ...}").mapping()
    tb.check_keys({"name", "credentials", "alias"})
    name = tb.require("name").str()
    secrets: set[str] = set()
    default_creds = _credentials(tb["credentials"], base, secrets) if tb.has("credentials") else {}

    servers: dict[str, ConsoleServer] = {}
    if root.has("console_servers"):
        for sname, sf in root["console_servers"].items():
            sf.check_keys({"host", "ip", "protocol", "port", "telnet_base", "rfc2217_base", "user_format", "lines",
                           "credentials", "namespace"})
            host = (sf["host"] if sf.has("host") else sf.require("ip", "give host: or ip:")).str()
            lines = {dev: lf.int(minimum=1, maximum=4096) for dev, lf in sf["lines"].items()} if sf.has("lines") else {}
            servers[sname] = ConsoleServer(
                name=sname, host=host,
                protocol=sf["protocol"].str(choices=("ssh", "telnet")) if sf.has("protocol") else "ssh",
                port=sf["port"].int(minimum=1, maximum=65535) if sf.has("port") else 22,
                telnet_base=sf["telnet_base"].int(minimum=1) if sf.has("telnet_base") else 2000,
                rfc2217_base=sf["rfc2217_base"].int(minimum=1) if sf.has("rfc2217_base") else 5000,
                user_format=sf["user_format"].str() if sf.has("user_format") else "{device}",
                lines=lines, credentials=_credentials(sf["credentials"], base, secrets) if sf.has("credentials")
                else default_creds, namespace=sf["namespace"].str() if sf.has("namespace") else None)

    devices: dict[str, Device] = {}
    for dname, df in root.require("devices", "add devices:").items():
        df.check_keys({"os", "type", "credentials", "connections", "platform", "alias"})
        os_name = df.require("os", "set os: to the netmiko device type, e.g. cisco_ios").str()
        creds = {**default_creds, **(_credentials(df["credentials"], base, secrets) if df.has("credentials") else {})}
        connections = {}
        for cname, cf in df.require("connections", "add connections: with at least one").items():
            cf.check_keys({"protocol", "host", "ip", "port", "path", "url", "console_server", "line", "namespace",
                           "credential"})
            protocol = cf.require("protocol", "set protocol: ssh, telnet or serial").str(choices=PROTOCOLS)
            conn_path = cf.require("path", "set path: inband or oob").str(choices=PATHS)
            server = cf["console_server"].str() if cf.has("console_server") else None
            if server is not None and server not in servers:
                raise cf["console_server"].fail("unknown console server",
                                                f"define it under console_servers ({', '.join(servers) or 'none'})")
            line = None
            if cf.has("line"):
                line = cf["line"].int(minimum=1)
            elif server:
                line = servers[server].lines.get(dname)
            host = None
            port = cf["port"].int(minimum=1, maximum=65535) if cf.has("port") else None
            if protocol != "serial" and server is None:
                host = (cf["host"] if cf.has("host") else cf.require("ip", "give host: or ip:")).str()
                port = port or (22 if protocol == "ssh" else 23)
            if server is not None:
                if line is None:
                    raise cf.fail(f"no console line for {dname} on {server}", "set line: N, or list the device "
                                  f"under console_servers.{server}.lines", show_value=False)
                srv = servers[server]
                host = srv.host
                port = port or (srv.port if protocol == "ssh" else srv.telnet_base + line)
            url = cf["url"].str() if cf.has("url") else None
            if protocol == "serial" and not url:
                raise cf.fail("a serial connection needs url", "set url: /dev/ttyUSB0 or rfc2217://HOST:PORT",
                              show_value=False)
            connections[cname] = Connection(
                name=cname, protocol=protocol, path=conn_path, host=host, port=port, url=url, console_server=server,
                line=line, namespace=cf["namespace"].str() if cf.has("namespace") else
                (servers[server].namespace if server else None),
                credential=cf["credential"].str() if cf.has("credential") else "default")
        devices[dname] = Device(dname, os_name, connections, creds, df.line)

    links = []
    if root.has("topology"):
        topo_f = root["topology"].mapping()
        topo_f.check_keys({"links"})
        for lf in topo_f["links"].sequence():
            lf.check_keys({"endpoints", "labels"})
            eps = lf.require("endpoints").sequence()
            if len(eps) != 2:
                raise lf["endpoints"].fail("a link needs two endpoints", 'write endpoints: ["a:Gi0/1", "b:Gi0/2"]',
                                           show_value=False)
            parsed = []
            for ef in eps:
                text_ep = ef.str()
                device, sep, iface = text_ep.partition(":")
                if not sep or device not in devices or not iface:
                    raise ef.fail("invalid endpoint", f"write device:interface with a device of this testbed "
                                  f"({', '.join(devices)})")
                parsed.append(Endpoint(device, iface))
            links.append(Link(parsed[0], parsed[1], lf.line))
    return Testbed(name=name, path=path, devices=devices, console_servers=servers, links=tuple(links),
                   secrets=frozenset(secrets))


@dataclass(frozen=True)
class ConnectionCheck:
    device: str
    connection: str
    path: str
    target: str
    ok: bool
    detail: str


def _open_socket(host: str, port: int, timeout_s: float) -> None:
    with socket.create_connection((host, port), timeout=timeout_s):
        pass


def check_connection(conn: Connection, timeout_s: float = 3.0) -> tuple[bool, str]:
    """Check that a connection's endpoint accepts a connection (TCP), or that its serial device opens."""
    from ..oob.console import in_namespace

    if conn.protocol == "serial":
        url = conn.url or ""
        if url.startswith("/dev/"):
            return (os.access(url, os.R_OK | os.W_OK), "serial device present" if os.path.exists(url)
                    else "serial device missing")
        host_port = url.split("://", 1)[-1].split("?", 1)[0]
        host, _, port = host_port.rpartition(":")
        target = (host, int(port or 0))
    else:
        target = (conn.host or "", int(conn.port or 0))
    try:
        in_namespace(conn.namespace, lambda: _open_socket(target[0], target[1], timeout_s), timeout_s + 5)
    except OSError as exc:
        return False, exc.strerror or str(exc)
    except Exception as exc:
        return False, str(exc)
    return True, "reachable"


def check_testbed(testbed: Testbed) -> list[ConnectionCheck]:
    """Check every connection of every device, on both paths, before anyone cuts anything."""
    results = []
    for device in testbed.devices.values():
        for conn in device.connections.values():
            ok, detail = check_connection(conn)
            results.append(ConnectionCheck(device.name, conn.name, conn.path, conn.target, ok, detail))
    return results


def open_netmiko(testbed: Testbed, device: Device, conn: Connection, *, timeout_s: float = 20.0) -> Any:
    """Open a netmiko session to ``device`` over ``conn``; call from the connection's namespace.

    SSH and telnet go straight to the device with its own driver. A console-server
    connection logs in to the console server (``terminal_server`` over SSH, or the
    line's telnet port) and then redispatches to the device's driver.

    Raises:
        LabError: the login or the driver failed.
    """
    from netmiko import ConnectHandler, redispatch
    from netmiko.exceptions import NetmikoBaseException

    cred = device.credentials.get(conn.credential) or device.credentials.get("default")
    params: dict[str, Any] = {"host": conn.host, "port": conn.port, "timeout": timeout_s, "fast_cli": False,
                              "conn_timeout": timeout_s, "banner_timeout": timeout_s, "auth_timeout": timeout_s}
    try:
        if conn.console_server:
            server = testbed.console_servers[conn.console_server]
            server_cred = server.credentials.get("default")
            if conn.protocol == "ssh":
                user = server.user_format.format(device=device.name, line=conn.line,
                                                 user=server_cred.username if server_cred else "")
                params.update(device_type="terminal_server", username=user,
                              password=server_cred.password if server_cred and server_cred.password else "",
                              use_keys=False, allow_agent=False)
            else:
                params.update(device_type="generic_termserver_telnet", username="", password="")
            session = _connect_retrying(ConnectHandler, params)
            session.write_channel("\r")
            session.read_channel_timing(read_timeout=2)
            if cred is not None:
                session.username = cred.username
                session.password = cred.password or ""
                session.secret = cred.enable or ""
            redispatch(session, device_type=device.os)
            return session
        params["username"] = cred.username if cred else ""
        params["password"] = cred.password if cred and cred.password else ""
        if cred and cred.enable:
            params["secret"] = cred.enable
        params["device_type"] = device.os if conn.protocol == "ssh" else f"{device.os}_telnet"
        return ConnectHandler(**params)
    except (NetmikoBaseException, OSError, ValueError) as exc:
        raise LabError(f"device {device.name}: cannot open {conn.name} ({conn.protocol} {conn.target}): {exc}") from None


def _connect_retrying(connect: Any, params: dict[str, Any], attempts: int = 3) -> Any:
    """Connect, retrying briefly: a console server keeps a line busy for a moment after a session ends."""
    import time as _time

    for attempt in range(attempts):
        try:
            return connect(**params)
        except OSError:
            if attempt == attempts - 1:
                raise
            _time.sleep(0.5)
    raise AssertionError("unreachable")


def close_netmiko(session: Any, conn: Connection) -> None:
    """Close a netmiko session. On a console line, skip the driver's logout ("exit"),
    which would end the device's console shell and make netmiko wait for a prompt."""
    if conn.console_server:
        session.cleanup = lambda *args, **kwargs: None
    session.disconnect()


#: Config lines that take an interface down and up, per netmiko device type.
SHUTDOWN = {
    "cisco_ios": (["interface {ifname}", "shutdown"], ["interface {ifname}", "no shutdown"]),
    "cisco_xe": (["interface {ifname}", "shutdown"], ["interface {ifname}", "no shutdown"]),
    "cisco_nxos": (["interface {ifname}", "shutdown"], ["interface {ifname}", "no shutdown"]),
    "cisco_xr": (["interface {ifname}", "shutdown", "commit"], ["interface {ifname}", "no shutdown", "commit"]),
    "arista_eos": (["interface {ifname}", "shutdown"], ["interface {ifname}", "no shutdown"]),
    "juniper_junos": (["set interfaces {ifname} disable"], ["delete interfaces {ifname} disable"]),
    "linux": (["ip link set dev {ifname} down"], ["ip link set dev {ifname} up"]),
}


def interface_commands(os_name: str, ifname: str, *, down: bool) -> list[str]:
    """Return the lines that set ``ifname`` down (or up) on a device of type ``os_name``.

    Raises:
        LabError: drillkit has no template for that device type.
    """
    key = os_name.removesuffix("_telnet").removesuffix("_ssh").removesuffix("_serial")
    if key not in SHUTDOWN:
        raise LabError(f"no shutdown template for device type {os_name!r} (known: {', '.join(SHUTDOWN)}); "
                       "use a command fault with your own inject and restore lines")
    template = SHUTDOWN[key][0 if down else 1]
    return [line.format(ifname=ifname) for line in template]
