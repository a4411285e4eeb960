"""Undo records: written to disk before a fault is injected, so a killed run can be restored.

One JSON file per run under ``$DRILLKIT_STATE_DIR/undo/``. ``drillkit restore``
reads every file, restores the faults that are not marked restored, and removes it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FaultError
from ..faults import fault_from_record
from ..lab.state import state_dir, write_json_atomic

log = logging.getLogger(__name__)


def undo_dir() -> Path:
    return state_dir() / "undo"


class UndoLog:
    """The undo record of one run."""

    def __init__(self, run_id: str, lab: str, scenario: str, journal: str | None = None) -> None:
        self.path = undo_dir() / f"{run_id}.json"
        self.data: dict[str, Any] = {"run_id": run_id, "lab": lab, "scenario": scenario, "pid": os.getpid(),
                                     "journal": journal, "faults": []}

    def add(self, record: dict[str, Any]) -> None:
        """Record a fault before it is injected (durably, with fsync)."""
        self.data["faults"].append({**record, "restored": False})
        write_json_atomic(self.path, self.data)

    def mark_restored(self, name: str) -> None:
        for record in self.data["faults"]:
            if record["name"] == name:
                record["restored"] = True
        write_json_atomic(self.path, self.data)

    def close(self) -> None:
        """Remove the record once every fault is restored."""
        if all(r["restored"] for r in self.data["faults"]):
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


@dataclass(frozen=True)
class RestoreOutcome:
    """What ``drillkit restore`` did for one fault."""

    run_id: str
    lab: str
    fault: str
    ok: bool
    error: str | None = None


def active_journal(lab: str) -> Path | None:
    """Return the journal of the drill running on ``lab`` now, if one is."""
    for path in pending_records():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("lab") == lab and data.get("journal") and _running(int(data.get("pid") or 0)):
            return Path(data["journal"])
    return None


def pending_records() -> list[Path]:
    folder = undo_dir()
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def restore_pending(lab: str | None = None) -> list[RestoreOutcome]:
    """Restore every fault left by runs that did not finish, newest fault first."""
    outcomes = []
    for path in pending_records():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.error("cannot read undo record %s: %s", path, exc)
            continue
        if lab is not None and data.get("lab") != lab:
            continue
        pid = data.get("pid")
        if pid and pid != os.getpid() and _running(pid):
            log.warning("run %s (pid %s) is still running; skipping its undo record", data.get("run_id"), pid)
            continue
        all_ok = True
        for record in reversed(data.get("faults", [])):
            if record.get("restored"):
                continue
            try:
                fault_from_record(record).restore()
                record["restored"] = True
                outcomes.append(RestoreOutcome(data.get("run_id", "?"), data.get("lab", "?"), record["name"], True))
                log.info("restored fault %s of run %s", record["name"], data.get("run_id"))
            except FaultError as exc:
                all_ok = False
                outcomes.append(RestoreOutcome(data.get("run_id", "?"), data.get("lab", "?"), record.get("name", "?"),
                                               False, str(exc)))
                log.error("cannot restore fault %s of run %s: %s", record.get("name"), data.get("run_id"), exc)
        if all_ok:
            path.unlink()
        else:
            write_json_atomic(path, data)
    return outcomes


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"drillkit" in cmdline or b"pytest" in cmdline
