"""The netns backend through the CLI, on real namespaces, veth pairs and bridges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EDGE_TOPOLOGY, copy_lab, lab_namespaces, needs_root, run_cli

pytestmark = [pytest.mark.lab, needs_root]


def in_ns(ns: str, command: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", command], capture_output=True, text=True,
                          timeout=timeout)


def test_lab_up_status_down(tmp_path):
    topo = copy_lab(tmp_path, "t-updown")
    placeholder_before = Path("/opt/edge-ai").exists()

    up = run_cli("lab", "up", str(topo))
    assert up.returncode == 0, up.stderr
    try:
        namespaces = lab_namespaces("t-updown")
        assert "clab-t-updown-core" in namespaces
        assert "dk-t-updown-mgmt" in namespaces
        assert "dk-t-updown-jail" in namespaces
        assert "core" in up.stdout
        assert "eth2:up(10.0.1.1/30)" in up.stdout

        status = run_cli("lab", "status", "t-updown")
        assert status.returncode == 0, status.stderr
        assert "172.20.20.11" in status.stdout

        listed = run_cli("lab", "list")
        assert "t-updown" in listed.stdout

        again = run_cli("lab", "up", str(topo))
        assert again.returncode == 2
        assert "already up" in again.stderr
    finally:
        down = run_cli("lab", "down", str(topo))
    assert down.returncode == 0, down.stderr
    assert lab_namespaces("t-updown") == []
    assert Path("/opt/edge-ai").exists() == placeholder_before


def test_lab_paths_production_and_oob(tmp_path):
    topo = copy_lab(tmp_path, "t-paths")
    assert run_cli("lab", "up", str(topo)).returncode == 0
    try:
        # Production path: NOC to the inference service through core and edge1.
        noc = in_ns("clab-t-paths-noc", "python3 -c \"import urllib.request,json;"
                    "print(json.load(urllib.request.urlopen('http://10.1.1.10:8080/health',timeout=3))['status'])\"")
        assert noc.stdout.strip() == "ok", noc.stderr
        # The jail reaches the management network only.
        jail_prod = in_ns("dk-t-paths-jail", "ping -c1 -W1 10.1.1.10")
        assert jail_prod.returncode != 0
        jail_mgmt = in_ns("dk-t-paths-jail", "ping -c1 -W1 172.20.20.11")
        assert jail_mgmt.returncode == 0, jail_mgmt.stdout
        # OpenSSH in the node answers on its management address, with the lab's key.
        state = json.loads(Path("/run/drillkit/labs/t-paths.json").read_text())
        ssh = in_ns("dk-t-paths-jail", f"ssh -F /dev/null -i {state['ssh_key']} -o BatchMode=yes "
                    f"-o UserKnownHostsFile={state['known_hosts']} root@172.20.20.11 ip -br addr show eth2")
        assert "10.0.1.1/30" in ssh.stdout, ssh.stderr
        # The lab has no route to the host or anything outside it.
        noc_routes = in_ns("clab-t-paths-noc", "ip route show default")
        assert noc_routes.stdout.strip() == ""
    finally:
        run_cli("lab", "down", str(topo))


def test_lab_up_failed_exec_removes_partial_lab(tmp_path):
    topo = tmp_path / "broken.clab.yml"
    topo.write_text("name: t-broken\ntopology:\n  nodes:\n    a:\n      kind: linux\n      exec:\n"
                    "        - ip addr add 10.9.0.1/24 dev eth1\n        - false-command-xyz\n"
                    "    b:\n      kind: linux\n  links:\n    - endpoints: [a:eth1, b:eth1]\n")
    result = run_cli("lab", "up", str(topo))
    assert result.returncode == 2
    assert "node a" in result.stderr
    assert "false-command-xyz" in result.stderr
    assert lab_namespaces("t-broken") == []


def test_lab_down_after_lost_state(tmp_path):
    topo = copy_lab(tmp_path, "t-lost")
    assert run_cli("lab", "up", str(topo)).returncode == 0
    Path("/run/drillkit/labs/t-lost.json").unlink()

    down = run_cli("lab", "down", str(topo))
    assert down.returncode == 0, down.stderr
    assert lab_namespaces("t-lost") == []


def test_lab_up_unsupported_kind(tmp_path):
    topo = tmp_path / "srl.clab.yml"
    topo.write_text("name: t-srl\ntopology:\n  nodes:\n    leaf1:\n      kind: nokia_srlinux\n"
                    "      image: ghcr.io/nokia/srlinux\n")
    result = run_cli("lab", "up", str(topo))
    assert result.returncode == 2
    assert "nokia_srlinux" in result.stderr
    assert f"{topo}:4" in result.stderr
    assert "containerlab" in result.stderr
    assert "Traceback" not in result.stderr


def test_lab_up_without_root():
    """An unprivileged user (uid 65534 in a user namespace) gets the root hint and exit 2."""
    result = subprocess.run(["unshare", "--user", sys.executable, "-m", "drillkit", "lab", "up",
                             str(EDGE_TOPOLOGY)], capture_output=True, text=True, timeout=60,
                            cwd=EDGE_TOPOLOGY.parents[2])
    assert result.returncode == 2, result.stderr
    assert "needs root" in result.stderr
    assert "Traceback" not in result.stderr
