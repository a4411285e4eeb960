"""The state file of a running lab: every object the lab created, for teardown after a crash.

State lives under ``$DRILLKIT_STATE_DIR`` (default ``/run/drillkit``), beside the
kernel's own ``/run/netns``, so both vanish together on reboot.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


def state_dir() -> Path:
    return Path(os.environ.get("DRILLKIT_STATE_DIR", "/run/drillkit"))


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON so that a crash leaves either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class LabState:
    """What a lab created; written before each object is created."""

    lab: str
    topology: str
    backend: str = "netns"
    status: str = "creating"
    created_wall: str = ""
    namespaces: list[str] = field(default_factory=list)
    mount_pins: dict[str, str] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)
    nodes: dict[str, dict] = field(default_factory=dict)
    jail: str | None = None
    mgmt_ns: str | None = None
    mgmt_gateway: str | None = None
    ssh_key: str | None = None
    known_hosts: str | None = None

    @staticmethod
    def path_for(lab: str) -> Path:
        return state_dir() / "labs" / f"{lab}.json"

    @property
    def lab_dir(self) -> Path:
        return state_dir() / "labs" / self.lab

    def save(self) -> None:
        write_json_atomic(self.path_for(self.lab), asdict(self))

    @classmethod
    def load(cls, lab: str) -> LabState | None:
        path = cls.path_for(lab)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def remove(self) -> None:
        try:
            self.path_for(self.lab).unlink()
        except FileNotFoundError:
            pass


def known_labs() -> list[str]:
    folder = state_dir() / "labs"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))
