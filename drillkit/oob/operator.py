"""``drillkit console``: an operator's interactive session to a node's console over the OOB path."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from ..clock import NS_PER_S, Clock
from ..engine.rollback import active_journal
from ..errors import LabStateError, OobError
from ..lab import nsexec
from ..lab.console import load_plan
from ..lab.state import LabState
from .console import strip_ansi


def console_argv(lab: str, node: str, user: str | None = None) -> list[str]:
    """Return the command that opens ``node``'s console from the OOB jail, with the lab's key."""
    state = LabState.load(lab)
    plan = load_plan(lab)
    if state is None or plan is None or not state.jail:
        raise LabStateError(f"lab {lab!r} is not up (or has no console server); run 'drillkit lab up' first")
    if node not in plan.lines:
        raise OobError(f"node {node!r} has no console line in lab {lab} (lines: {', '.join(plan.lines)})")
    ssh = ["ssh", "-F", "/dev/null", "-tt", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR"]
    if user is None:
        ssh += ["-i", state.ssh_key or "", "-o", "IdentitiesOnly=yes", f"{plan.lines[node].user}@{plan.address}"]
    else:
        ssh += ["-o", "PubkeyAuthentication=no", f"{user}@{plan.address}", node]
    return nsexec.prefix(state.jail) + ssh


def _append(journal: Path, type_: str, mono_ns: int, **fields: object) -> None:
    with open(journal, encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    event = {"seq": 0, "type": type_, "t": round((mono_ns - first["mono_ns"]) / NS_PER_S, 6), "mono_ns": mono_ns,
             "wall": Clock().wall(), **fields}
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(event) + "\n")


def interactive_console(lab: str, node: str, user: str | None = None) -> int:
    """Run an interactive console session; record it in the running drill's journal, if any.

    Returns:
        The exit status of the session.
    """
    nsexec.require_root("drillkit console")
    argv = console_argv(lab, node, user)
    journal = active_journal(lab)
    operator = os.environ.get("SUDO_USER") or os.environ.get("USER") or "operator"
    if journal is None:
        return subprocess.call(argv)

    start = time.monotonic_ns()
    _append(journal, "operator.session", start, state="start", node=node, operator=operator)
    with tempfile.TemporaryDirectory() as folder:
        transcript = Path(folder) / "transcript"
        status = subprocess.call(["script", "-q", "-f", "-e", "-c", shlex.join(argv), str(transcript)])
        text = strip_ansi(transcript.read_text(errors="replace")) if transcript.exists() else ""
    _append(journal, "operator.session", time.monotonic_ns(), state="end", node=node, operator=operator,
            exit=status, transcript=text[-8000:], duration_s=(time.monotonic_ns() - start) / NS_PER_S)
    return status
