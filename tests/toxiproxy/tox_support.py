"""Helpers for the Toxiproxy tests: a Toxiproxy API to test against, loopback TCP servers, lab copies.

The API is a real Toxiproxy server when ``TOXIPROXY_URL`` is set. That server must
listen on loopback on this host, because the tests send traffic only to loopback.
Otherwise the API is drillkit's stand-in (``drillkit.lab.toxiproxy_standin``),
started for the test, because the Toxiproxy server cannot be installed on every
test machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from conftest import REPO

from drillkit.lab import nsexec

PROXY_LAB = REPO / "labs" / "edge-ai-proxy"
EDGE_SERVICE = REPO / "labs" / "edge-ai" / "edge_service.py"
# Management addresses of the Toxiproxy APIs in labs/edge-ai-proxy/edge-ai-proxy.clab.yml.
RELAY_API = {"edge1": "http://172.20.20.21:8474", "edge2": "http://172.20.20.31:8474"}
# An API call with no proxy from the environment: every URL here is loopback or inside a test lab.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- the API under test ------------------------------------------------------

@contextlib.contextmanager
def standin_server() -> Iterator[str]:
    """Run the stand-in on a free loopback port in a child process; yield its API URL."""
    proc = subprocess.Popen([sys.executable, "-m", "drillkit.lab.toxiproxy_standin", "--listen", "127.0.0.1:0",
                             "--log-level", "warning"], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline() if ready else ""
        if "API listening on " not in line:
            raise RuntimeError(f"the toxiproxy stand-in did not start (output {line!r}, exit {proc.poll()})")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def toxiproxy_api() -> Iterator[str]:
    """Yield the URL of a real Toxiproxy server (``TOXIPROXY_URL``) or of a stand-in started for the test."""
    url = os.environ.get("TOXIPROXY_URL")
    if not url:
        with standin_server() as standin_url:
            yield standin_url
        return
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise RuntimeError(f"TOXIPROXY_URL={url} is not a loopback address; the tests send traffic only to "
                           "loopback, so run toxiproxy-server on this host (e.g. -host 127.0.0.1)")
    yield url.rstrip("/")


def api(url: str, method: str, path: str, body: Any = None, timeout: float = 5) -> tuple[int, Any]:
    """Call a Toxiproxy API with urllib; return the status and the decoded JSON (None when empty)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw.strip() else None


def create_proxy(url: str, name: str, upstream_port: int) -> tuple[str, int]:
    """Create a proxy on a free loopback port to ``upstream_port``; return its listen host and port."""
    status, body = api(url, "POST", "/proxies", {"name": name, "listen": "127.0.0.1:0",
                                                 "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})
    assert status == 201, body
    host, _, port = body["listen"].rpartition(":")
    return host.strip("[]"), int(port)


# -- loopback upstream servers -----------------------------------------------

class TcpServer:
    """A loopback TCP server that echoes what it reads, or sends ``blob`` bytes and closes.

    Connections are served for at most 30 s each, so a test that fails cannot leave a thread running.
    """

    def __init__(self, blob: int | None = None) -> None:
        self.blob = blob
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with conn:
            try:
                if self.blob is not None:
                    conn.sendall(b"x" * self.blob)
                    return
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def echo_round_trip(host: str, port: int, payload: bytes = b"ping", timeout: float = 5) -> float:
    """Send ``payload`` through an echo path and return the seconds until it came back."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        started = time.monotonic()
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = conn.recv(65536)
            assert chunk, f"connection closed after {len(received)} of {len(payload)} bytes"
            received += chunk
        return time.monotonic() - started


def read_all(host: str, port: int, timeout: float = 10) -> tuple[bytes, list[int], float]:
    """Read until the server closes; return the data, the size of each recv() and the seconds taken."""
    sizes = []
    data = b""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        started = time.monotonic()
        while chunk := conn.recv(65536):
            sizes.append(len(chunk))
            data += chunk
        return data, sizes, time.monotonic() - started


# -- labs --------------------------------------------------------------------

def copy_proxy_lab(tmp_path: Path, name: str) -> Path:
    """Copy the edge-ai-proxy lab under another lab name, so a test owns its namespaces."""
    folder = tmp_path / name
    shutil.copytree(PROXY_LAB, folder)
    topology = folder / "edge-ai-proxy.clab.yml"
    text = topology.read_text().replace("name: edge-ai-proxy", f"name: {name}", 1)
    text = text.replace("../edge-ai/edge_service.py", str(EDGE_SERVICE))
    target = folder / f"{name}.clab.yml"
    target.write_text(text)
    topology.unlink()
    return target


def copy_scenario(scenario: Path, topology: Path, folder: Path) -> Path:
    """Point a bundled scenario at a lab copy; its playbooks come from the copy's folder."""
    text = scenario.read_text()
    text = text.replace("../labs/edge-ai-proxy/edge-ai-proxy.clab.yml", str(topology))
    text = text.replace("../labs/edge-ai-proxy/playbooks/", f"{topology.parent}/playbooks/")
    target = folder / scenario.name
    target.write_text(text)
    return target


def api_in_namespace(namespace: str, url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call a lab's Toxiproxy API from a thread inside ``namespace``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            nsexec.enter_thread(namespace)
            box["result"] = api(url, method, path, body)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(15)
    if "error" in box:
        raise box["error"]
    assert "result" in box, f"{method} {url}{path} from {namespace} did not finish within 15 s"
    return box["result"]
