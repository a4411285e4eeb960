"""Shared fixtures: the CLI as users run it, and real labs built from the bundled topology."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EDGE_TOPOLOGY = REPO / "labs" / "edge-ai" / "edge-ai.clab.yml"
SCENARIOS = REPO / "scenarios"

# Drill runs record their history; keep the suite's runs out of the user's database.
os.environ.setdefault("DRILLKIT_HOME", str(Path(__import__("tempfile").mkdtemp(prefix="drillkit-home-"))))

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root (network namespaces), as containerlab does")


def run_cli(*args: str, timeout: float = 180, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``drillkit`` the way a user does, in a child process."""
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, **kwargs)


def lab_namespaces(lab: str) -> list[str]:
    """Return the namespaces of ``lab``, not those of a lab whose name starts with it (edge-ai-proxy)."""
    names = sorted(p.name for p in Path("/run/netns").iterdir()) if Path("/run/netns").is_dir() else []
    labs_dir = Path(os.environ.get("DRILLKIT_STATE_DIR", "/run/drillkit")) / "labs"
    longer = [p.stem for p in labs_dir.glob(f"{lab}-*.json")] if labs_dir.is_dir() else []
    ours = [n for n in names if n.startswith((f"clab-{lab}-", f"dk-{lab}-"))]
    return [n for n in ours if not any(n.startswith((f"clab-{o}-", f"dk-{o}-")) for o in longer)]


def copy_lab(tmp_path: Path, name: str) -> Path:
    """Copy the edge-ai lab under another lab name, so a test owns its namespaces."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(EDGE_TOPOLOGY.parent / "edge_service.py", folder)
    text = EDGE_TOPOLOGY.read_text().replace("name: edge-ai", f"name: {name}", 1)
    topo = folder / f"{name}.clab.yml"
    topo.write_text(text)
    return topo


@pytest.fixture(scope="module")
def edge_lab():
    """The bundled edge-ai lab, up for one test module and removed after it."""
    from drillkit.lab.netns import NetnsBackend
    from drillkit.lab.topology import load_topology

    if os.geteuid() != 0:
        pytest.skip("labs need root (network namespaces), as containerlab does")
    topo = load_topology(EDGE_TOPOLOGY)
    backend = NetnsBackend()
    if lab_namespaces(topo.name):
        pytest.fail("lab edge-ai is already up on this machine; run 'drillkit lab down edge-ai' before the tests")
    state = backend.up(topo)
    try:
        yield topo, state
    finally:
        from drillkit.engine.rollback import restore_pending

        restore_pending(topo.name)
        backend.down(topo.name, topo=topo)


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Exit even when fakenos left its SSH server threads behind.

    fakenos (the stand-in for physical devices) runs each session in a non-daemon
    thread that never ends, which would keep the test process alive after the report.
    """
    import threading

    stuck = [t for t in threading.enumerate()
             if not t.daemon and t is not threading.main_thread()
             and ("connection_function" in t.name or "channel_tap" in t.name)]
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash.get(_EXIT_STATUS, 0))


_EXIT_STATUS = pytest.StashKey[int]()
