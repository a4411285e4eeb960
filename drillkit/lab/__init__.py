"""Labs: topology files and the backends that build or attach to them.

Backends register under the ``drillkit.backends`` entry-point group, so a site can
add its own (a PDU-driven rack, a vendor lab manager) without forking drillkit.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

from ..errors import LabError


class Backend(Protocol):
    """Contract between a lab backend and the CLI and drill runner."""

    name: str

    def up(self, topo: Any) -> Any:
        """Build (or attach to) the lab and return its state."""

    def down(self, lab: str, *, topo: Any = None) -> list[str]:
        """Remove what the lab created; return the removed namespaces."""


BUILTIN = {"netns": "drillkit.lab.netns:NetnsBackend", "containerlab": "drillkit.lab.containerlab:ContainerlabBackend"}


def get_backend(name: str) -> Backend:
    """Return a backend instance by name.

    Raises:
        LabError: no backend has that name.
    """
    target = BUILTIN.get(name)
    if target is None:
        for ep in entry_points(group="drillkit.backends"):
            if ep.name == name:
                return ep.load()()
        known = sorted(set(BUILTIN) | {ep.name for ep in entry_points(group="drillkit.backends")})
        raise LabError(f"unknown lab backend {name!r}; available: {', '.join(known)}")
    module, _, cls = target.partition(":")
    import importlib

    return getattr(importlib.import_module(module), cls)()


def load_lab_topology(path: str, backend: str = "netns") -> Any:
    """Return the Topology of a lab: a containerlab file, or a testbed file for backend physical."""
    if backend == "physical":
        from .physical import load_testbed

        return load_testbed(path).topology()
    from .topology import load_topology

    return load_topology(path)
