"""The fault contract: inject, restore, and an undo record that survives a crash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class LabContext:
    """What a fault or step needs to know about the running lab.

    Attributes:
        lab: lab name.
        namespaces: node name to network namespace.
        mount_pins: node name to mount namespace pin, for nodes with binds.
        mgmt: node name to management IPv4 address.
        jail: the OOB jail namespace.
        mgmt_ns: the OOB network's namespace.
        ssh_key: private key that logs in to every node over the OOB network.
        known_hosts: the lab's known_hosts file.
    """

    lab: str
    namespaces: dict[str, str]
    mount_pins: dict[str, str] = field(default_factory=dict)
    mgmt: dict[str, str] = field(default_factory=dict)
    jail: str | None = None
    mgmt_ns: str | None = None
    ssh_key: str | None = None
    known_hosts: str | None = None
    backend: str = "netns"
    kinds: dict[str, str] = field(default_factory=dict)

    def namespace(self, node: str) -> str:
        return self.namespaces[node]


class Fault(Protocol):
    """A fault kind. ``inject`` and ``restore`` must be safe to call more than once."""

    kind: ClassVar[str]
    name: str

    def describe(self) -> str:
        """One line saying what the fault does, for plans and reports."""

    def prepare(self) -> None:
        """Read the state that restore must put back, before the undo record is written."""

    def inject(self) -> None:
        """Apply the fault."""

    def restore(self) -> None:
        """Undo the fault; succeed when it is already undone."""

    def to_record(self) -> dict[str, Any]:
        """Everything ``restore`` needs, as JSON, so a later process can undo the fault."""
