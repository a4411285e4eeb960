"""Stand-in for the Docker Engine API, for tests on hosts without a Docker engine.

drillkit reads a container's state through the Docker Engine API (the docker SDK).
No Docker engine can run on the test machines, so this HTTP server handles the
few requests drillkit and the docker SDK make, on a unix socket as dockerd does,
from the state files of the containerlab stand-in (``containerlab`` next to this
file):

- ``GET /_ping`` returns ``OK`` with the ``Api-Version`` header.
- ``GET /version`` returns the engine's version object.
- ``GET /containers/{name or id}/json`` returns the container object, with ``Name``
  (with Docker's leading slash), ``State`` (``Status``, ``Running``, ``Pid``,
  ``ExitCode``, ``StartedAt``, ``FinishedAt`` and, for nodes with a ``healthcheck``,
  ``Health``), ``Config`` and ``NetworkSettings``. An unknown container gets 404
  with ``{"message": "No such container: ..."}``, which the docker SDK raises as
  ``docker.errors.NotFound``.

Paths may carry an API version prefix (``/v1.41/...``), as the SDK sends them.

Health is not tracked over time: each request runs the node's healthcheck ``test``
once in the node's network namespace, so a container is ``healthy`` or
``unhealthy``, never ``starting``.

Start it from a test with ``DockerApiStandin(socket_path, state_dir).start()`` and
point ``DOCKER_HOST`` at ``unix://<socket_path>``, or run
``python docker_api.py --socket PATH --state-dir DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

API_VERSION = "1.41"
ENGINE_VERSION = "0.0.0-standin"
_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")
#: Maximum seconds a healthcheck command may run here, whatever timeout the node sets.
MAX_HEALTHCHECK_S = 10.0


def _iso(timestamp: float | None) -> str:
    if not timestamp:
        return "0001-01-01T00:00:00Z"
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _process_start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def _healthcheck_argv(test: Any) -> list[str] | None:
    """Return the command of a Docker healthcheck ``test`` (``CMD``, ``CMD-SHELL`` or a shell string)."""
    if isinstance(test, str):
        return ["sh", "-c", test]
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", " ".join(str(part) for part in test[1:])]
    if test[0] == "CMD":
        return [str(part) for part in test[1:]]
    return [str(part) for part in test]


class ContainerStore:
    """Containers as the containerlab stand-in records them, one JSON file per lab in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def _labs(self) -> list[dict[str, Any]]:
        labs = []
        for path in sorted(self.state_dir.glob("*.json")):
            try:
                labs.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:  # a lab being written or removed right now
                log.warning("skipping stand-in state file %s: %s", path, exc)
        return labs

    def find(self, reference: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Return (lab, node) for a container name, full id or unique id prefix, as Docker resolves them."""
        reference = reference.lstrip("/")
        by_prefix = []
        for lab in self._labs():
            for node in lab.get("nodes", {}).values():
                if node["kind"] == "bridge":
                    continue  # a host bridge of the topology, not a container
                if reference in (node["container"], node["container_id"]):
                    return lab, node
                if node["container_id"].startswith(reference):
                    by_prefix.append((lab, node))
        return by_prefix[0] if len(by_prefix) == 1 else None

    @staticmethod
    def status(node: dict[str, Any]) -> str:
        if node["state"] == "running" and _process_start_ticks(node["pid"]) != node.get("pid_start"):
            return "exited"
        return "running" if node["state"] == "running" else "exited"

    def container_json(self, lab: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
        status = self.status(node)
        running = status == "running"
        state: dict[str, Any] = {
            "Status": status, "Running": running, "Paused": False, "Restarting": False, "OOMKilled": False,
            "Dead": False, "Pid": node["pid"] if running else 0, "ExitCode": 0 if running else node.get("exit_code", 0),
            "Error": "", "StartedAt": _iso(node.get("started_at")), "FinishedAt": _iso(node.get("finished_at")),
        }
        health = self._health(node, running)
        if health is not None:
            state["Health"] = health
        mgmt = lab["mgmt"]
        return {
            "Id": node["container_id"], "Name": "/" + node["container"], "Created": lab.get("created", ""),
            "Path": "sleep", "Args": ["infinity"], "State": state, "Image": node["image"],
            "Config": {"Hostname": node["container"].rsplit("-", 1)[-1], "Image": node["image"],
                       "Labels": node.get("labels", {}), "Env": [f"{k}={v}" for k, v in node.get("env", {}).items()]},
            "NetworkSettings": {"Networks": {mgmt["network"]: {
                "IPAddress": node["mgmt_ipv4"], "IPPrefixLen": node["mgmt_prefixlen"], "Gateway": mgmt["ipv4-gw"],
                "MacAddress": node.get("mac_address", "")}}},
        }

    @staticmethod
    def _health(node: dict[str, Any], running: bool) -> dict[str, Any] | None:
        check = node.get("healthcheck") or {}
        argv = _healthcheck_argv(check.get("test"))
        if argv is None:
            return None
        if not running:
            # NOTE: Docker keeps the last probe result of a stopped container; this stand-in keeps
            # no history, so it reports the check as failing.
            return {"Status": "unhealthy", "FailingStreak": 1, "Log": []}
        timeout = min(float(check.get("timeout") or MAX_HEALTHCHECK_S), MAX_HEALTHCHECK_S)
        started = _iso(dt.datetime.now().timestamp())
        try:
            result = subprocess.run(["nsenter", f"--net=/run/netns/{node['container']}", "--", *argv],
                                    capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            exit_code, output = result.returncode, (result.stdout + result.stderr)[-4096:]
        except subprocess.TimeoutExpired:
            exit_code, output = -1, f"health check timed out after {timeout:g} s"
        entry = {"Start": started, "End": _iso(dt.datetime.now().timestamp()), "ExitCode": exit_code,
                 "Output": output}
        return {"Status": "healthy" if exit_code == 0 else "unhealthy",
                "FailingStreak": 0 if exit_code == 0 else 1, "Log": [entry]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DockerApiServer

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        self.send_header("Server", f"Docker/{ENGINE_VERSION} (linux)")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document).encode())

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        path = _VERSION_PREFIX.sub("", self.path.split("?", 1)[0])
        if path == "/_ping":
            self._send(200, b"OK", "text/plain; charset=utf-8")
            return
        if path == "/version":
            self._send_json(200, {"Version": ENGINE_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": "1.12",
                                  "Os": "linux", "Arch": os.uname().machine, "KernelVersion": os.uname().release,
                                  "Components": [{"Name": "Engine", "Version": ENGINE_VERSION}]})
            return
        match = re.fullmatch(r"/containers/([^/]+)/json", path)
        if match:
            found = self.server.store.find(match.group(1))
            if found is None:
                self._send_json(404, {"message": f"No such container: {match.group(1)}"})
            else:
                self._send_json(200, self.server.store.container_json(*found))
            return
        self._send_json(404, {"message": "page not found"})

    do_HEAD = do_GET

    def address_string(self) -> str:
        return "unix-socket"  # the peer of a unix socket has no address

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server signature)
        log.debug("docker API stand-in: " + format, *args)


class DockerApiServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The HTTP server on a unix socket."""

    daemon_threads = True

    def __init__(self, socket_path: str | Path, store: ContainerStore) -> None:
        self.store = store
        super().__init__(str(socket_path), _Handler)


class DockerApiStandin:
    """Run the Docker API stand-in in a background thread of the calling process."""

    def __init__(self, socket_path: str | Path, state_dir: str | Path) -> None:
        self.socket_path = Path(socket_path)
        self.state_dir = Path(state_dir)
        self._server: DockerApiServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The ``DOCKER_HOST`` value that reaches this server."""
        return f"unix://{self.socket_path}"

    def start(self) -> DockerApiStandin:
        self.socket_path.unlink(missing_ok=True)
        self._server = DockerApiServer(self.socket_path, ContainerStore(self.state_dir))
        self._thread = threading.Thread(target=self._server.serve_forever, name="docker-api-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.socket_path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Docker Engine API stand-in backed by the containerlab stand-in")
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    parser.add_argument("--state-dir", default=os.environ.get("CLAB_STANDIN_STATE_DIR", "/run/clab-standin"),
                        help="the containerlab stand-in's state folder (default: $CLAB_STANDIN_STATE_DIR)")
    args = parser.parse_args()
    Path(args.socket).unlink(missing_ok=True)
    with DockerApiServer(args.socket, ContainerStore(Path(args.state_dir))) as server:
        print(f"listening on unix://{args.socket}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
