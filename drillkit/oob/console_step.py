"""Recovery steps through a node's console: log in over OOB, find the prompt, send, expect."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ..errors import OobError
from ..faults.base import LabContext
from ..lab.console import ConsolePlan
from .console import (ConsoleSession, LineBusy, SerialTransport, SshConsoleTransport, clear_line, in_namespace,
                      strip_ansi)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsoleCommand:
    """One line to send and the pattern that ends its output (None: the prompt)."""

    send: str
    expect: str | None = None
    timeout_s: float = 10.0
    hide: bool = False


@dataclass
class ConsoleOutcome:
    """Outcome of a console step."""

    ok: bool
    transcript: str
    error: str | None = None
    prompt_ns: int | None = None
    cleared_line: bool = False
    notes: list[str] = field(default_factory=list)


def open_session(plan: ConsolePlan | None, ctx: LabContext, node: str, *, transport: str = "ssh",
                 user: str | None = None, password: str | None = None, url: str | None = None,
                 prompt: str | None = None, secrets: frozenset[str] = frozenset(),
                 timeout_s: float = 10.0) -> ConsoleSession:
    """Open a console session to ``node``; call from a thread inside the OOB jail.

    Raises:
        OobError: the node has no console line, or the transport failed.
    """
    kwargs = {"prompt": prompt} if prompt else {}
    if transport == "serial" or (url and transport in ("rfc2217", "telnet")):
        # An explicit URL needs no console plan: a USB cable, or a console port of real gear.
        if not url:
            raise OobError("transport serial needs url: (a device such as /dev/ttyUSB0, or rfc2217://host:port)")
        return ConsoleSession(SerialTransport(url, timeout_s=timeout_s), node, secrets=secrets, **kwargs)
    vr_url = _vr_console_url(ctx, node)
    if vr_url and (plan is None or node not in plan.lines):
        return ConsoleSession(SerialTransport(vr_url, timeout_s=timeout_s), node, secrets=secrets, **kwargs)
    if plan is None:
        raise OobError(f"lab {ctx.lab} has no console server; give the step a url: (serial device or "
                       "rfc2217://host:port)")
    line = plan.lines.get(node)
    if line is None:
        raise OobError(f"node {node!r} has no console line (lines: {', '.join(plan.lines)})")
    if transport == "ssh":
        mover = SshConsoleTransport(plan.address, user or line.user, password=password,
                                    key_file=None if password else ctx.ssh_key, timeout_s=timeout_s)
    elif transport in ("rfc2217", "telnet"):
        if line.authenticated:
            raise OobError(f"console line {line.line} ({node}) accepts only authenticated SSH sessions; "
                           f"its {transport} port listens on the console server's loopback only. Use "
                           f"transport: ssh, or label the node drillkit.console.auth: none in the topology")
        port = line.rfc2217_port if transport == "rfc2217" else line.telnet_port
        scheme = "rfc2217" if transport == "rfc2217" else "socket"
        mover = SerialTransport(url or f"{scheme}://{plan.address}:{port}", timeout_s=timeout_s)
    elif transport == "serial":
        if not url:
            raise OobError("transport serial needs url: (a device such as /dev/ttyUSB0, or rfc2217://host:port)")
        mover = SerialTransport(url, timeout_s=timeout_s)
    else:
        raise OobError(f"unknown console transport {transport!r}; use ssh, rfc2217, telnet, serial or netmiko")
    return ConsoleSession(mover, node, secrets=secrets, **kwargs)


def _vr_console_url(ctx: LabContext, node: str) -> str | None:
    """Return the console of a vrnetlab node on a containerlab lab: telnet port 5000 in its container."""
    if ctx.backend != "containerlab" or not ctx.mgmt.get(node):
        return None
    from ..lab.containerlab import VR_CONSOLE_PORT, is_vm_kind

    if not is_vm_kind(ctx.kinds.get(node, "")):
        return None
    return f"socket://{ctx.mgmt[node]}:{VR_CONSOLE_PORT}"


#: ser2net keeps a line busy for a moment after a session closes, so a quick
#: second login sees "already in use"; these retries ride that out before a line
#: counts as held by another session.
BUSY_RETRIES = 4
BUSY_RETRY_DELAY_S = 0.25


def open_ready_session(plan: ConsolePlan | None, ctx: LabContext, node: str, **kwargs) -> ConsoleSession:
    """Open a session and check the line is free, retrying briefly while ser2net releases it.

    Raises:
        LineBusy: the line is still held after the retries.
        OobError: the transport failed.
    """
    for attempt in range(BUSY_RETRIES):
        session = open_session(plan, ctx, node, **kwargs)
        try:
            session.expect(r"(?!x)x", 0.25)  # reads for a moment; raises LineBusy on the busy message
        except LineBusy:
            session.close()
            if attempt == BUSY_RETRIES - 1:
                raise
            time.sleep(BUSY_RETRY_DELAY_S)
            continue
        except OobError:
            pass  # nothing matched, as intended: the line is free
        return session
    raise AssertionError("unreachable")


def run_console_step(plan: ConsolePlan | None, ctx: LabContext, node: str, commands: list[ConsoleCommand], *,
                     transport: str = "ssh", user: str | None = None, password: str | None = None,
                     url: str | None = None, prompt: str | None = None, clear: bool = True,
                     secrets: frozenset[str] = frozenset(), timeout_s: float = 60.0) -> ConsoleOutcome:
    """Run commands on ``node``'s console from the OOB jail; never raises for a failed command."""
    if transport == "netmiko":
        if plan is None:
            return ConsoleOutcome(False, "", error=f"lab {ctx.lab} has no console server for netmiko; use a "
                                                   "device step on a testbed connection")
        return in_namespace(ctx.jail, lambda: _netmiko_step(plan, ctx, node, commands, password, user), timeout_s)

    def work() -> ConsoleOutcome:
        outcome = ConsoleOutcome(ok=False, transcript="")
        session = None
        for attempt in (1, 2):
            try:
                session = open_ready_session(plan, ctx, node, transport=transport, user=user, password=password,
                                             url=url, prompt=prompt, secrets=secrets)
                session.wake()
                break
            except LineBusy as exc:
                if session is not None:
                    outcome.transcript += session.transcript_text()
                    session.close()
                    session = None
                if not clear or attempt == 2 or plan is None:
                    outcome.error = str(exc)
                    return outcome
                clear_line(plan, node)
                outcome.cleared_line = True
                outcome.notes.append(f"line {plan.lines[node].line if node in plan.lines else '?'} was held by "
                                     "another session: cleared it")
                log.warning("console %s: line held by another session, cleared", node)
                time.sleep(0.3)
            except OobError as exc:
                if session is not None:
                    outcome.transcript += session.transcript_text()
                    session.close()
                outcome.error = str(exc)
                return outcome
        assert session is not None
        outcome.prompt_ns = time.monotonic_ns()
        try:
            for command in commands:
                session.buffer = ""
                session.send(command.send, hide=command.hide)
                session.expect(command.expect or session.prompt, command.timeout_s)
            outcome.ok = True
        except OobError as exc:
            outcome.error = str(exc)
        finally:
            outcome.transcript += session.transcript_text()
            session.close()
        return outcome

    return in_namespace(ctx.jail, work, timeout_s + 30)


def _netmiko_step(plan: ConsolePlan, ctx: LabContext, node: str, commands: list[ConsoleCommand],
                  password: str | None, user: str | None) -> ConsoleOutcome:
    """SSH to the console server with netmiko's terminal_server driver, then redispatch to linux."""
    from netmiko import ConnectHandler, redispatch
    from netmiko.exceptions import NetmikoBaseException

    line = plan.lines.get(node)
    if line is None:
        return ConsoleOutcome(False, "", error=f"node {node!r} has no console line")
    params = {"device_type": "terminal_server", "host": plan.address, "username": user or line.user,
              "timeout": 15, "fast_cli": False}
    if password:
        params.update(password=password, use_keys=False)
    else:
        params.update(use_keys=True, key_file=ctx.ssh_key, password="", allow_agent=False)
    transcript = []
    try:
        conn = ConnectHandler(**params)
        if params["username"] == plan.admin_user:
            conn.write_channel(f"{node}\r")  # the admin user picks the line at the line> prompt
        conn.write_channel("\r")
        time.sleep(0.5)
        transcript.append(conn.read_channel())
        redispatch(conn, device_type="linux")
        prompt_ns = time.monotonic_ns()
        for command in commands:
            output = conn.send_command(command.send, expect_string=command.expect or r"[#$]\s*$",
                                       read_timeout=command.timeout_s)
            transcript.append(f"{conn.find_prompt()} {command.send}\n{output}\n")
        # Skip the linux driver's logout: "exit" would end the console shell and netmiko
        # would wait for a prompt that never comes.
        conn.cleanup = lambda *args, **kwargs: None
        conn.disconnect()
    except (NetmikoBaseException, OSError, ValueError) as exc:
        return ConsoleOutcome(False, strip_ansi("".join(transcript)), error=f"netmiko: {exc}")
    return ConsoleOutcome(True, strip_ansi("".join(transcript)), prompt_ns=prompt_ns)
