"""The Python API of recovery steps: OOB access to the lab, and no in-band access during the outage.

A ``kind: python`` step calls ``function(oob)`` with an ``OobApi``. The function
runs in a thread inside the OOB jail, so any socket it opens itself can reach the
management network only; the API's own methods refuse the in-band path while a
fault is active and record the attempt as a violation.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import OobError, StepError
from ..faults.base import LabContext
from ..lab import nsexec
from ..lab.console import load_plan
from .console_step import ConsoleCommand, ConsoleOutcome, run_console_step
from .jail import ProcessOutcome, run_in_jail, ssh_argv

log = logging.getLogger(__name__)


class OobApi:
    """OOB access for Python recovery steps.

    Args:
        ctx: the running lab.
        outage_active: returns True while faults are injected.
        on_violation: called with (node, path, detail) when in-band access is requested.
    """

    def __init__(self, ctx: LabContext, outage_active: Callable[[], bool],
                 on_violation: Callable[[str, str, str], None], secrets: frozenset[str] = frozenset()) -> None:
        self.ctx = ctx
        self._outage_active = outage_active
        self._on_violation = on_violation
        self._secrets = secrets

    @property
    def nodes(self) -> list[str]:
        return list(self.ctx.mgmt)

    def mgmt_address(self, node: str) -> str:
        """Return ``node``'s management (OOB) address."""
        try:
            return self.ctx.mgmt[node]
        except KeyError:
            raise OobError(f"node {node!r} has no management address (nodes: {', '.join(self.ctx.mgmt)})") from None

    def inband_addresses(self, node: str) -> list[str]:
        """Return ``node``'s production addresses (every IPv4 address not on eth0)."""
        result = nsexec.run(["ip", "-j", "-4", "addr", "show"], ns=self.ctx.namespace(node), timeout=10)
        entries = json.loads(result.stdout or "[]") if result.ok else []
        return [a["local"] for e in entries if e.get("ifname") not in ("lo", "eth0")
                for a in e.get("addr_info", [])]

    def _check_path(self, node: str, path: str, what: str) -> None:
        if path == "oob":
            return
        if path != "inband":
            raise OobError(f"unknown path {path!r}; use 'oob' (management network or console)")
        if self._outage_active():
            detail = (f"{what} to {node} over the in-band path was requested during the outage window")
            self._on_violation(node, path, detail)
            raise OobError(f"{detail}; rejected. Use path='oob': {node}'s management address "
                           f"{self.ctx.mgmt.get(node, '?')} or its console (oob.console('{node}', [...]))")

    def ssh(self, node: str, command: str, *, path: str = "oob", user: str = "root",
            timeout_s: float = 30.0) -> ProcessOutcome:
        """Run ``command`` on ``node`` over SSH to its management address.

        Raises:
            OobError: ``path='inband'`` during the outage window (recorded as a violation).
        """
        self._check_path(node, path, "SSH")
        return run_in_jail(self.ctx, ssh_argv(self.ctx, node, user) + [command], timeout_s=timeout_s)

    def console(self, node: str, commands: list[str], *, transport: str = "ssh",
                timeout_s: float = 60.0) -> ConsoleOutcome:
        """Run lines on ``node``'s serial console through the console server."""
        plan = load_plan(self.ctx.lab)
        if plan is None:
            raise OobError(f"lab {self.ctx.lab} has no console server")
        return run_console_step(plan, self.ctx, node, [ConsoleCommand(c) for c in commands], transport=transport,
                                secrets=self._secrets, timeout_s=timeout_s)


def load_callable(spec: str, base: Path) -> Callable[[OobApi], Any]:
    """Load ``path/to/file.py:function`` (relative to ``base``) or ``package.module:function``.

    Raises:
        StepError: the file, module or function is missing.
    """
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise StepError(f"invalid call {spec!r}; write file.py:function or package.module:function")
    if target.endswith(".py"):
        path = (base / target).resolve()
        module_name = f"drillkit_step_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None or not path.is_file():
            raise StepError(f"step file {path} not found")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    func = getattr(module, name, None)
    if not callable(func):
        raise StepError(f"{target} has no function {name!r}")
    return func
