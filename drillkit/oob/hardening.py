"""OOB hardening checks, run before a fault and reported as findings.

- ``console_auth``: the console server rejects an SSH login without credentials.
- ``default_passwords``: it rejects well-known default passwords.
- ``prod_to_oob``: no production interface of any node reaches the OOB network.
- ``telnet_exposure``: no console line is open to telnet or RFC 2217 without login.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from ..faults.base import LabContext
from ..lab import nsexec
from ..lab.console import ConsolePlan
from .console import in_namespace

log = logging.getLogger(__name__)

CHECKS = ("console_auth", "default_passwords", "prod_to_oob", "telnet_exposure")
DEFAULT_PASSWORDS = (("admin", "admin"), ("admin", "password"), ("admin", "default"), ("root", "root"),
                     ("root", "default"), ("admin", "1234"))
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


@dataclass(frozen=True)
class Finding:
    """The result of one hardening check on one target."""

    check: str
    ok: bool
    target: str
    detail: str


def _ssh_login(host: str, user: str, password: str | None) -> bool:
    """Return True when the console server accepts the login (which is the finding)."""
    import paramiko

    transport = paramiko.Transport(socket.create_connection((host, 22), timeout=5))
    try:
        transport.start_client(timeout=5)
        try:
            if password is None:
                transport.auth_none(user)
            else:
                transport.auth_password(user, password)
        except paramiko.BadAuthenticationType:
            return False
        except paramiko.AuthenticationException:
            return False
        return transport.is_authenticated()
    finally:
        transport.close()


def check_console_auth(plan: ConsolePlan, ctx: LabContext) -> list[Finding]:
    def work() -> list[Finding]:
        findings = []
        for user in [plan.admin_user] + [line.user for line in plan.lines.values()][:3]:
            accepted = _ssh_login(plan.address, user, None)
            findings.append(Finding("console_auth", not accepted, f"ssh {user}@{plan.address}",
                                    "login without credentials accepted" if accepted
                                    else "login without credentials rejected"))
        return findings

    return in_namespace(ctx.jail, work, 60)


def check_default_passwords(plan: ConsolePlan, ctx: LabContext) -> list[Finding]:
    def work() -> list[Finding]:
        findings = []
        first_line = next(iter(plan.lines.values()), None)
        candidates = list(DEFAULT_PASSWORDS) + ([(first_line.user, first_line.user)] if first_line else [])
        for user, password in candidates:
            accepted = _ssh_login(plan.address, user, password)
            findings.append(Finding("default_passwords", not accepted, f"ssh {user}@{plan.address}",
                                    f"default password for {user} accepted" if accepted
                                    else f"default password for {user} rejected"))
        return findings

    return in_namespace(ctx.jail, work, 120)


def check_telnet_exposure(plan: ConsolePlan, ctx: LabContext) -> list[Finding]:
    def work() -> list[Finding]:
        findings = []
        for line in plan.lines.values():
            for proto, port in (("telnet", line.telnet_port), ("rfc2217", line.rfc2217_port)):
                try:
                    with socket.create_connection((plan.address, port), timeout=1):
                        open_ = True
                except OSError:
                    open_ = False
                if open_:
                    findings.append(Finding("telnet_exposure", False, f"{plan.address}:{port}",
                                            f"console line {line.line} ({line.node}) is open to {proto} "
                                            "without login"))
        if not findings:
            findings.append(Finding("telnet_exposure", True, plan.address,
                                    f"no console line of {len(plan.lines)} is open without login"))
        return findings

    return in_namespace(ctx.jail, work, 120)


def _production_interfaces(namespace: str) -> list[str]:
    import json

    result = nsexec.run(["ip", "-j", "link", "show"], ns=namespace, timeout=10)
    links = json.loads(result.stdout or "[]") if result.ok else []
    return [link["ifname"] for link in links if link["ifname"] not in ("lo", "eth0")]


def check_prod_to_oob(plan: ConsolePlan | None, ctx: LabContext) -> list[Finding]:
    """Try the console server and the OOB gateway from every production interface of every node."""
    targets = [(plan.address, 22)] if plan else []
    findings = []
    for node, namespace in ctx.namespaces.items():
        interfaces = _production_interfaces(namespace)

        def work(interfaces: list[str] = interfaces) -> list[tuple[str, str, int, str | None]]:
            results = []
            for ifname in interfaces:
                for host, port in targets:
                    with socket.socket() as sock:
                        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
                        sock.settimeout(1)
                        try:
                            sock.connect((host, port))
                            results.append((ifname, host, port, None))
                        except OSError as exc:
                            results.append((ifname, host, port, exc.strerror or str(exc)))
            return results

        for ifname, host, port, error in in_namespace(namespace, work, 120):
            findings.append(Finding("prod_to_oob", error is not None, f"{node}:{ifname} -> {host}:{port}",
                                    f"OOB unreachable from production ({error})" if error
                                    else "the OOB network is reachable from a production interface"))
    return findings


def run_checks(names: list[str], plan: ConsolePlan | None, ctx: LabContext) -> list[Finding]:
    """Run the named checks; a check that cannot run is a failed finding, not a crash."""
    findings: list[Finding] = []
    for name in names:
        try:
            if name == "prod_to_oob":
                findings += check_prod_to_oob(plan, ctx)
            elif plan is None:
                findings.append(Finding(name, False, ctx.lab, "the lab has no console server"))
            elif name == "console_auth":
                findings += check_console_auth(plan, ctx)
            elif name == "default_passwords":
                findings += check_default_passwords(plan, ctx)
            elif name == "telnet_exposure":
                findings += check_telnet_exposure(plan, ctx)
        except Exception as exc:  # report, so the drill still restores and renders
            log.error("hardening check %s failed to run: %s", name, exc)
            findings.append(Finding(name, False, ctx.lab, f"check could not run: {exc}"))
    return findings
