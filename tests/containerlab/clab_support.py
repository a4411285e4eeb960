"""Helpers of the containerlab tests: the stand-ins or a real containerlab, topologies, leftover checks.

By default the tests run against the stand-ins in tests/standins: a containerlab
command built from network namespaces and a Docker Engine API server on a unix
socket. With ``DRILLKIT_CONTAINERLAB=1`` they run against the containerlab and the
Docker engine of the host instead, with nodes from a real image
(``DRILLKIT_CLAB_IMAGE``, default ``alpine:3``).

Labs here are named ``t-clab*``, live in pytest's temporary folders and use only
addresses inside their own namespaces (10.x for links, 172.20.20.0/24 for management).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from conftest import REPO, run_cli

REAL = os.environ.get("DRILLKIT_CONTAINERLAB") == "1"
STANDINS = REPO / "tests" / "standins"
STANDIN_CONTAINERLAB = STANDINS / "containerlab"
IMAGE = os.environ.get("DRILLKIT_CLAB_IMAGE", "alpine:3")
NETNS_DIR = Path("/run/netns")

standin_only = pytest.mark.skipif(REAL, reason="needs the containerlab stand-in (DRILLKIT_CONTAINERLAB=1 is set)")


@contextlib.contextmanager
def clab_environment(state_dir: Path) -> Iterator[None]:
    """Point drillkit at the containerlab stand-in, or check that a real containerlab is installed."""
    with pytest.MonkeyPatch.context() as patch:
        if REAL:
            if shutil.which("containerlab") is None and shutil.which("clab") is None:
                pytest.fail("DRILLKIT_CONTAINERLAB=1 is set but containerlab is not on the PATH")
            patch.delenv("DRILLKIT_CONTAINERLAB_BIN", raising=False)
        else:
            assert os.access(STANDIN_CONTAINERLAB, os.X_OK), f"{STANDIN_CONTAINERLAB} must be executable"
            patch.setenv("DRILLKIT_CONTAINERLAB_BIN", str(STANDIN_CONTAINERLAB))
            patch.setenv("CLAB_STANDIN_STATE_DIR", str(state_dir))
            # The stand-in's "#!/usr/bin/env python3" must find an interpreter with PyYAML: this one.
            patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        yield


@contextlib.contextmanager
def docker_api_environment(folder: Path, state_dir: Path) -> Iterator[None]:
    """Serve the Docker API stand-in and point ``DOCKER_HOST`` at it. With a real Docker engine, change nothing."""
    if REAL:
        yield
        return
    spec = importlib.util.spec_from_file_location("docker_api_standin", STANDINS / "docker_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.DockerApiStandin(folder / "docker.sock", state_dir).start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DOCKER_HOST", server.url)
            yield
    finally:
        server.stop()


def containerlab_argv() -> list[str]:
    """Return the command that runs the containerlab in use (the stand-in unless DRILLKIT_CONTAINERLAB=1)."""
    if REAL:
        return [shutil.which("containerlab") or "clab"]
    return [str(STANDIN_CONTAINERLAB)]


def write_topology(folder: Path, lab: str, nodes: dict[str, dict[str, Any]],
                   links: list[tuple[str, str]]) -> Path:
    """Write ``<lab>.clab.yml`` with linux nodes of the test image unless a node sets its own kind."""
    document = {
        "name": lab,
        "topology": {
            "defaults": {"kind": "linux", "image": IMAGE},
            "nodes": nodes,
            "links": [{"endpoints": [a, b]} for a, b in links],
        },
    }
    path = folder / f"{lab}.clab.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def write_scenario(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / f"{document['name']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]


def run_dir_from(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("report: "))
    return Path(line.split(" ", 1)[1]).parent


def in_ns(ns: str, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net={NETNS_DIR / ns}", "--", *argv], capture_output=True, text=True,
                          timeout=timeout)


def ping_ok(ns: str, address: str, count: int = 1) -> bool:
    """Ping an in-lab address from namespace ``ns``; at most ``count`` packets, one second each."""
    return in_ns(ns, "ping", "-c", str(count), "-W", "1", "-n", address, timeout=count + 5).returncode == 0


def operstate(ns: str, ifname: str) -> str:
    result = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname], capture_output=True, text=True)
    return json.loads(result.stdout or "[{}]")[0].get("operstate", "MISSING")


def wait_until(predicate, timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def lab_objects(lab: str, bridge: str | None, lab_folder: Path) -> list[str]:
    """Return what is left of a lab on the host: namespaces, its bridge, its folder and drillkit's state."""
    names = sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
    left = [n for n in names if n.startswith((f"clab-{lab}-", f"dk-{lab}-", f"clab-park-clab-{lab}-"))]
    if bridge and Path(f"/sys/class/net/{bridge}").exists():
        left.append(f"bridge {bridge}")
    if lab_folder.exists():
        left.append(f"folder {lab_folder}")
    from drillkit.lab.state import LabState

    if LabState.path_for(lab).exists():
        left.append(f"drillkit state {LabState.path_for(lab)}")
    return left


def mgmt_bridge(topology: Path, lab: str) -> str | None:
    """Return the management bridge named in the lab's topology-data.json, if the lab is deployed."""
    path = topology.parent / f"clab-{lab}" / "topology-data.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())["clab"]["config"]["mgmt"].get("bridge")


def tear_down(topology: Path, lab: str) -> list[str]:
    """Take a lab down as a user does, fall back to containerlab destroy, and return what is left."""
    bridge = mgmt_bridge(topology, lab)
    run_cli("lab", "down", str(topology))
    lab_folder = topology.parent / f"clab-{lab}"
    if lab_objects(lab, None, lab_folder):
        subprocess.run([*containerlab_argv(), "destroy", "-t", str(topology), "--cleanup"], capture_output=True,
                       timeout=300)
        for ns in [n for n in lab_objects(lab, None, lab_folder) if not n.startswith(("folder", "drillkit"))]:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
    # Namespaces and the veth pairs in them are freed asynchronously by the kernel.
    wait_until(lambda: not lab_objects(lab, bridge, lab_folder), 5)
    return lab_objects(lab, bridge, lab_folder)
