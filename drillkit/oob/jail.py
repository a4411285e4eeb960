"""Recovery over the OOB path: commands in the OOB jail and SSH to node management addresses.

The jail namespace has one interface, on the management network, and no route
anywhere else, so a script in it cannot reach a production address even by mistake.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from ..errors import OobError
from ..faults.base import LabContext
from ..lab import nsexec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessOutcome:
    """Result of a command run over the OOB path."""

    returncode: int | None
    output: str
    duration_s: float
    timed_out: bool = False
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.cancelled


def ssh_argv(ctx: LabContext, node: str, user: str = "root", connect_timeout_s: float = 5.0) -> list[str]:
    """Return the ssh command line that reaches ``node`` on its management address."""
    if not ctx.ssh_key or not ctx.known_hosts:
        raise OobError(f"lab {ctx.lab} has no SSH key for OOB access; bring it up with drillkit lab up")
    if node not in ctx.mgmt:
        raise OobError(f"node {node!r} has no management address in lab {ctx.lab}")
    return ["ssh", "-F", "/dev/null", "-i", ctx.ssh_key, "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={ctx.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(connect_timeout_s))}",
            "-o", "LogLevel=ERROR", f"{user}@{ctx.mgmt[node]}"]


def jail_env(ctx: LabContext) -> dict[str, str]:
    """Environment for scripts in the jail: how to reach each node over OOB."""
    env = {
        "DRILLKIT_LAB": ctx.lab,
        "DRILLKIT_SSH": shlex.join(ssh_argv(ctx, next(iter(ctx.mgmt)))[:-1]) if ctx.mgmt and ctx.ssh_key else "",
    }
    for node, address in ctx.mgmt.items():
        env[f"DRILLKIT_MGMT_{node.upper().replace('-', '_').replace('.', '_')}"] = address
    return env


def run_in_jail(ctx: LabContext, argv: list[str], *, timeout_s: float, cancel: threading.Event | None = None,
                env: dict[str, str] | None = None, cwd: str | None = None) -> ProcessOutcome:
    """Run a command in the OOB jail, killing its whole process group on timeout or cancel."""
    if not ctx.jail or not nsexec.exists(ctx.jail):
        raise OobError(f"the OOB jail of lab {ctx.lab} is missing; is the lab up?")
    full_env = {**os.environ, **jail_env(ctx), **(env or {})}
    started = time.monotonic()
    proc = subprocess.Popen(nsexec.prefix(ctx.jail) + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=full_env, cwd=cwd, start_new_session=True)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read() if proc.stdout else b""),
                              daemon=True)
    reader.start()
    timed_out = cancelled = False
    while proc.poll() is None:
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        if time.monotonic() - started > timeout_s:
            timed_out = True
            break
        time.sleep(0.02)
    if proc.poll() is None:
        _kill_group(proc)
    reader.join(2)
    output = b"".join(chunks).decode("utf-8", errors="replace")
    return ProcessOutcome(proc.returncode, output, time.monotonic() - started, timed_out, cancelled)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(0.5)
            return
        except subprocess.TimeoutExpired:
            continue
