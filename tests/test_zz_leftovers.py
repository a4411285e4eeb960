"""Runs last (files run in name order): the suite left no namespace, process or undo record."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import needs_root


@needs_root
def test_suite_left_no_namespaces():
    names = sorted(p.name for p in Path("/run/netns").iterdir()) if Path("/run/netns").is_dir() else []
    ours = [n for n in names if n.startswith(("clab-edge-ai-", "clab-frr-triangle-", "clab-t-", "dk-"))]
    assert ours == []


@needs_root
def test_suite_left_no_lab_processes():
    # Zombies (state Z) are dead already; a PID 1 that does not reap them keeps them listed.
    rows = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout.splitlines()
    ps = "\n".join(row for row in rows if not row.lstrip().startswith("Z"))
    assert "edge_service.py" not in ps
    assert "/usr/lib/frr/watchfrr" not in ps
    assert "ser2net" not in ps
    assert "/run/drillkit/labs/" not in ps


def test_suite_left_no_undo_records():
    folder = Path("/run/drillkit/undo")
    assert not folder.is_dir() or list(folder.glob("*.json")) == []
