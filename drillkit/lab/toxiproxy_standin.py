"""A stand-in for the Toxiproxy server, for labs on machines where it is not installed.

Toxiproxy (https://github.com/Shopify/toxiproxy) is a TCP proxy whose faults
("toxics") are set through an HTTP API. The server cannot be installed on the
machines this project is built and tested on. This module therefore implements
the Toxiproxy 2.x HTTP API as its README documents it, and it proxies TCP for
real, so each toxic has a real effect on the traffic. Labs start the real
``toxiproxy-server`` when it is on the PATH and fall back to this stand-in only
when it is not (see ``labs/edge-ai-proxy/start-toxiproxy.sh``). The tests use a
real server when ``TOXIPROXY_URL`` is set.

Usage::

    python -m drillkit.lab.toxiproxy_standin --listen HOST:PORT [--config proxies.json]

``--config`` takes the file format of ``toxiproxy-server -config``: a JSON array
of ``{"name", "listen", "upstream", "enabled"}`` objects. Port 0 in ``--listen``
picks a free port. The first line on stdout names the API's URL.

Endpoints (JSON requests and responses; errors are ``{"error": ..., "status": ...}``):
``GET/POST /proxies``, ``POST /populate``, ``GET/POST/PATCH/DELETE /proxies/{proxy}``,
``GET/POST /proxies/{proxy}/toxics``, ``GET/POST/PATCH/DELETE
/proxies/{proxy}/toxics/{toxic}``, ``POST /reset`` and ``GET /version``. Toxiproxy's
``GET /metrics`` is not implemented.

Toxics: latency, bandwidth, slow_close, timeout, reset_peer, slicer and
limit_data, on the ``upstream`` (client to server) or ``downstream`` (server to
client) stream. Setting a proxy's ``enabled`` to false closes its listener and
its connections, which is Toxiproxy's ``down``.

The module uses the standard library only, so it also runs as a plain file
under a python3 that lacks drillkit's dependencies.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import random
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("drillkit.toxiproxy_standin")

#: Version string of ``GET /version``. It names the stand-in, so a drill can tell it from a real server.
VERSION = "drillkit-standin 0.1.0 (Toxiproxy 2.x API)"

#: Attributes of each toxic type with their defaults. Units as in Toxiproxy:
#: milliseconds, except ``rate`` (KB/s, 1 KB = 1000 bytes), the slicer's sizes
#: (bytes) and its ``delay`` (microseconds), and ``bytes`` of limit_data.
TOXIC_DEFAULTS: dict[str, dict[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}
STREAMS = ("upstream", "downstream")

#: How often a pipe with nothing to forward checks its toxics (timeout and reset_peer deadlines).
POLL_S = 0.05
CHUNK_BYTES = 32 * 1024
#: Chunks a pipe buffers before it stops reading, so a slow toxic pushes back on the sender.
QUEUE_CHUNKS = 64
UPSTREAM_CONNECT_TIMEOUT_S = 10.0


class ApiError(Exception):
    """A failed API request, with the HTTP status of its response in ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_address(text: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (IPv6 hosts in brackets) into host and port.

    Raises:
        ValueError: the text is not HOST:PORT with a port from 0 to 65535.
    """
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid address {text!r}; write HOST:PORT, for example 127.0.0.1:8474")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Toxic:
    """A toxic on one stream of a proxy; the JSON fields of Toxiproxy's API."""

    def __init__(self, name: str, type_: str, stream: str, toxicity: float, attributes: dict[str, int]) -> None:
        self.name = name
        self.type = type_
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = attributes

    def attr(self, key: str) -> int:
        return int(self.attributes.get(key, 0))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "stream": self.stream, "toxicity": self.toxicity,
                "attributes": dict(self.attributes)}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"bad request body: {what} must be a number, found {value!r}")
    return value


def _attributes(toxic_type: str, given: Any, current: dict[str, int] | None = None) -> dict[str, int]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ApiError(400, "bad request body: attributes must be an object")
    result = dict(current if current is not None else TOXIC_DEFAULTS[toxic_type])
    for key, value in given.items():
        # Toxiproxy's JSON decoding ignores attributes the toxic type does not have.
        if key in TOXIC_DEFAULTS[toxic_type]:
            number = _number(value, f"attribute {key}")
            if number != int(number):
                raise ApiError(400, f"bad request body: attribute {key} must be a whole number, found {value!r}")
            result[key] = int(number)
    return result


def toxic_from_json(body: Any) -> Toxic:
    """Build a toxic from the body of ``POST /proxies/{proxy}/toxics``.

    Raises:
        ApiError: 400 for an invalid body, type, stream or toxicity.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "bad request body: expected a JSON object")
    toxic_type = body.get("type")
    if toxic_type not in TOXIC_DEFAULTS:
        raise ApiError(400, f"invalid toxic type {toxic_type!r}")
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ApiError(400, "stream was invalid, can be either upstream or downstream")
    toxicity = _toxicity(body.get("toxicity", 1.0))
    name = body.get("name") or f"{toxic_type}_{stream}"
    if not isinstance(name, str):
        raise ApiError(400, "bad request body: name must be a string")
    return Toxic(name, toxic_type, stream, toxicity, _attributes(toxic_type, body.get("attributes")))


def _toxicity(value: Any) -> float:
    toxicity = float(_number(value, "toxicity"))
    if not 0.0 <= toxicity <= 1.0:
        raise ApiError(400, f"bad request body: toxicity must be from 0 to 1, found {value!r}")
    return toxicity


class ToxicState:
    """Per-connection state of one toxic on one stream."""

    def __init__(self, applies: bool, now: float) -> None:
        self.applies = applies
        self.since = now
        self.bytes_sent = 0
        self.reset_at: float | None = None


class Link:
    """One client connection and its upstream connection, with a pipe per direction."""

    def __init__(self, proxy: Proxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._pipes_done = 0

    def start(self) -> None:
        threading.Thread(target=self._connect, name=f"link-{self.proxy.name}", daemon=True).start()

    def _connect(self) -> None:
        host, port = parse_address(self.proxy.upstream)
        try:
            self.upstream = socket.create_connection((host, port), timeout=UPSTREAM_CONNECT_TIMEOUT_S)
        except OSError as exc:
            log.warning("proxy %s: cannot connect to upstream %s: %s", self.proxy.name, self.proxy.upstream, exc)
            self.close()
            return
        self.upstream.settimeout(None)
        self.client.settimeout(None)
        if not self.proxy.register(self):
            self.close()
            return
        Pipe(self, "upstream", self.client, self.upstream).start()
        Pipe(self, "downstream", self.upstream, self.client).start()

    def pipe_done(self) -> None:
        with self._lock:
            self._pipes_done += 1
            done = self._pipes_done == 2
        if done:
            self.close()

    def close(self, *, reset: bool = False) -> None:
        """Close both connections; with ``reset``, with a TCP RST instead of a FIN."""
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            try:
                if reset:
                    # Linger 0 makes close() send RST. SHUT_RD wakes the reader thread
                    # without sending a FIN, so the socket is released and the RST goes out.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.proxy.unregister(self)


class Pipe:
    """Forward one direction of a link through the proxy's toxics of that stream.

    A reader thread timestamps chunks as they arrive; a writer thread applies the
    toxics and sends. Toxics are looked up for every chunk, so toxics added or
    removed while a connection is open act on it, as in Toxiproxy.
    """

    def __init__(self, link: Link, stream: str, src: socket.socket, dst: socket.socket) -> None:
        self.link = link
        self.stream = stream
        self.src = src
        self.dst = dst
        self.chunks: queue.Queue[tuple[float, bytes] | None] = queue.Queue(QUEUE_CHUNKS)
        self.states: dict[int, tuple[Toxic, ToxicState]] = {}
        self.bandwidth_clock = 0.0

    def start(self) -> None:
        name = f"{self.link.proxy.name}-{self.stream}"
        threading.Thread(target=self._read, name=f"{name}-read", daemon=True).start()
        threading.Thread(target=self._write, name=f"{name}-write", daemon=True).start()

    def _read(self) -> None:
        while not self.link.closed.is_set():
            try:
                data = self.src.recv(CHUNK_BYTES)
            except OSError:
                data = b""
            item = (time.monotonic(), data) if data else None
            while not self.link.closed.is_set():
                try:
                    self.chunks.put(item, timeout=POLL_S)
                    break
                except queue.Full:
                    continue
            if item is None:
                return

    def _active(self) -> list[tuple[Toxic, ToxicState]]:
        """Return the toxics acting on this stream; toxicity is drawn once per toxic and connection."""
        active = []
        now = time.monotonic()
        for toxic in self.link.proxy.toxics_of(self.stream):
            entry = self.states.get(id(toxic))
            if entry is None or entry[0] is not toxic:
                entry = (toxic, ToxicState(random.random() < toxic.toxicity, now))
                self.states[id(toxic)] = entry
            if entry[1].applies:
                active.append(entry)
        return active

    def _wait(self, seconds: float) -> bool:
        """Sleep; return False when the link closed meanwhile."""
        return seconds <= 0 or not self.link.closed.wait(seconds)

    def _deadline_passed(self, active: list[tuple[Toxic, ToxicState]]) -> bool:
        """Close the link when a timeout or reset_peer toxic's time is up; return whether it did."""
        now = time.monotonic()
        for toxic, state in active:
            if toxic.type == "timeout" and toxic.attr("timeout") > 0 \
                    and now - state.since >= toxic.attr("timeout") / 1000:
                self.link.close()
                return True
            if toxic.type == "reset_peer" and state.reset_at is not None and now >= state.reset_at:
                self.link.close(reset=True)
                return True
        return False

    def _write(self) -> None:
        try:
            while not self.link.closed.is_set():
                if self._deadline_passed(self._active()):
                    return
                try:
                    item = self.chunks.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if item is None:
                    self._end_of_stream()
                    return
                if not self._forward(*item):
                    return
        except OSError as exc:
            log.debug("proxy %s: %s stream failed: %s", self.link.proxy.name, self.stream, exc)
            self.link.close()

    def _end_of_stream(self) -> None:
        delays = [t.attr("delay") for t, _ in self._active() if t.type == "slow_close"]
        if delays and not self._wait(max(delays) / 1000):
            return
        try:
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.link.pipe_done()

    def _forward(self, arrived: float, data: bytes) -> bool:
        """Apply the toxics to one chunk and send what is left; return False once the link is closed.

        NOTE: the toxics of a stream act in a fixed order (timeout, reset_peer,
        latency, limit_data, slicer, bandwidth), not in the order they were added
        as in Toxiproxy. Latency counts from each chunk's arrival.
        """
        active = self._active()
        if any(t.type == "timeout" for t, _ in active):
            return True  # the timeout toxic drops data until it is removed or its time is up

        for toxic, state in active:
            if toxic.type == "reset_peer":
                if state.reset_at is None:
                    state.reset_at = time.monotonic() + toxic.attr("timeout") / 1000
                return True

        delay = 0.0
        for toxic, _ in active:
            if toxic.type == "latency":
                jitter = toxic.attr("jitter")
                delay += (toxic.attr("latency") + (random.uniform(-jitter, jitter) if jitter > 0 else 0)) / 1000
        if not self._wait(arrived + delay - time.monotonic()):
            return False

        close_after = False
        limits = [(t, s) for t, s in active if t.type == "limit_data"]
        for toxic, state in limits:
            remaining = max(toxic.attr("bytes") - state.bytes_sent, 0)
            if remaining <= len(data):
                data = data[:remaining]
                close_after = True

        for piece in self._slices(data, active):
            if not self._send(piece, active):
                return False
        for toxic, state in limits:
            state.bytes_sent += len(data)
        if close_after:
            self.link.close()
            return False
        return True

    @staticmethod
    def _slices(data: bytes, active: list[tuple[Toxic, ToxicState]]) -> list[tuple[bytes, float]]:
        """Split data as the slicer toxic does; return (piece, seconds to wait after it)."""
        slicer = next((t for t, _ in active if t.type == "slicer" and t.attr("average_size") > 0), None)
        if slicer is None:
            return [(data, 0.0)] if data else []
        average, variation = slicer.attr("average_size"), max(slicer.attr("size_variation"), 0)
        pieces = []
        offset = 0
        while offset < len(data):
            size = max(1, average + (random.randint(-variation, variation) if variation else 0))
            pieces.append((data[offset:offset + size], slicer.attr("delay") / 1_000_000))
            offset += size
        return pieces

    def _send(self, piece: tuple[bytes, float], active: list[tuple[Toxic, ToxicState]]) -> bool:
        data, pause = piece
        rate = max((t.attr("rate") for t, _ in active if t.type == "bandwidth"), default=0)
        if rate > 0:
            # Send at most 100 ms worth of data at a time, each after its share of time.
            step = max(rate * 100, 1)
            for offset in range(0, len(data), step):
                part = data[offset:offset + step]
                self.bandwidth_clock = max(self.bandwidth_clock, time.monotonic()) + len(part) / (rate * 1000)
                if not self._wait(self.bandwidth_clock - time.monotonic()):
                    return False
                self.dst.sendall(part)
        else:
            self.dst.sendall(data)
        return self._wait(pause)


class Proxy:
    """A named TCP proxy from ``listen`` to ``upstream`` with its toxics."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self._toxics: dict[str, Toxic] = {}
        self._links: set[Link] = set()
        self._listener: socket.socket | None = None
        self._lock = threading.RLock()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                    "toxics": [t.to_json() for t in self._toxics.values()]}

    # -- listening ---------------------------------------------------------

    def start(self) -> None:
        """Listen and accept connections; a port of 0 is replaced by the port the kernel picked.

        Raises:
            ApiError: 500 when the listen address cannot be bound.
        """
        with self._lock:
            if self._listener is not None:
                return
            host, port = parse_address(self.listen)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((host, port))
                listener.listen(128)
            except OSError as exc:
                listener.close()
                raise ApiError(500, f"proxy {self.name}: cannot listen on {self.listen}: {exc}") from None
            listener.settimeout(0.25)
            self.listen = format_address(host, listener.getsockname()[1])
            self._listener = listener
            self.enabled = True
        threading.Thread(target=self._accept, args=(listener,), name=f"accept-{self.name}", daemon=True).start()
        log.info("proxy %s: listening on %s, upstream %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Stop listening and close every open connection (Toxiproxy's ``down``)."""
        with self._lock:
            listener, self._listener = self._listener, None
            links, self._links = list(self._links), set()
            self.enabled = False
        if listener is not None:
            try:
                # shutdown() takes the socket out of LISTEN at once, so new connections are refused.
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
            log.info("proxy %s: stopped", self.name)
        for link in links:
            link.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            Link(self, client).start()

    def register(self, link: Link) -> bool:
        with self._lock:
            if self._listener is None:
                return False
            self._links.add(link)
            return True

    def unregister(self, link: Link) -> None:
        with self._lock:
            self._links.discard(link)

    # -- toxics ------------------------------------------------------------

    def toxics_of(self, stream: str) -> list[Toxic]:
        with self._lock:
            return [t for t in self._toxics.values() if t.stream == stream]

    def toxic(self, name: str) -> Toxic:
        with self._lock:
            toxic = self._toxics.get(name)
        if toxic is None:
            raise ApiError(404, "toxic not found")
        return toxic

    def add_toxic(self, toxic: Toxic) -> Toxic:
        with self._lock:
            if toxic.name in self._toxics:
                raise ApiError(409, "toxic already exists")
            self._toxics[toxic.name] = toxic
        log.info("proxy %s: added %s toxic %s on %s %s", self.name, toxic.type, toxic.name, toxic.stream,
                 toxic.attributes)
        return toxic

    def update_toxic(self, name: str, body: Any) -> Toxic:
        if not isinstance(body, dict):
            raise ApiError(400, "bad request body: expected a JSON object")
        with self._lock:
            toxic = self.toxic(name)
            if "toxicity" in body:
                toxic.toxicity = _toxicity(body["toxicity"])
            if "attributes" in body:
                toxic.attributes = _attributes(toxic.type, body["attributes"], toxic.attributes)
        return toxic

    def remove_toxic(self, name: str) -> None:
        with self._lock:
            if self._toxics.pop(name, None) is None:
                raise ApiError(404, "toxic not found")
        log.info("proxy %s: removed toxic %s", self.name, name)

    def clear_toxics(self) -> None:
        with self._lock:
            self._toxics.clear()


class Standin:
    """The stand-in server: the proxy collection and its HTTP API."""

    def __init__(self, listen: str) -> None:
        host, port = parse_address(listen)
        self.proxies: dict[str, Proxy] = {}
        self._lock = threading.RLock()
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.httpd = server_class((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.url = f"http://{format_address(host, self.httpd.server_address[1])}"
        self._serving = threading.Event()

    # -- proxies -----------------------------------------------------------

    def get(self, name: str) -> Proxy:
        with self._lock:
            proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    def create(self, body: Any) -> Proxy:
        """Create and start a proxy from ``{"name", "listen", "upstream", "enabled"}``.

        Raises:
            ApiError: 400 for a missing field, 409 when the name is taken, 500 when it cannot listen.
        """
        if not isinstance(body, dict):
            raise ApiError(400, "bad request body: expected a JSON object")
        for key in ("name", "upstream"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ApiError(400, f"missing required field: {key}")
        listen = body.get("listen") or "127.0.0.1:0"
        try:
            parse_address(listen)
            parse_address(body["upstream"])
        except ValueError as exc:
            raise ApiError(400, f"bad request body: {exc}") from None
        with self._lock:
            if body["name"] in self.proxies:
                raise ApiError(409, "proxy already exists")
            proxy = Proxy(body["name"], listen, body["upstream"])
            if body.get("enabled", True):
                proxy.start()
            self.proxies[proxy.name] = proxy
        return proxy

    def update(self, name: str, body: Any) -> Proxy:
        """Change a proxy's listen, upstream or enabled field; a new address restarts it."""
        if not isinstance(body, dict):
            raise ApiError(400, "bad request body: expected a JSON object")
        proxy = self.get(name)
        enabled = body.get("enabled", proxy.enabled)
        moved = False
        for key in ("listen", "upstream"):
            if key in body and body[key] != getattr(proxy, key):
                try:
                    parse_address(body[key])
                except ValueError as exc:
                    raise ApiError(400, f"bad request body: {exc}") from None
                moved = True
        if moved or not enabled:
            proxy.stop()
        proxy.listen = body.get("listen", proxy.listen)
        proxy.upstream = body.get("upstream", proxy.upstream)
        if enabled:
            proxy.start()
        return proxy

    def delete(self, name: str) -> None:
        with self._lock:
            proxy = self.get(name)
            del self.proxies[name]
        proxy.stop()

    def populate(self, entries: Any) -> list[Proxy]:
        """Create the proxies of a ``-config`` file or ``POST /populate`` body, replacing changed ones."""
        if isinstance(entries, dict) and isinstance(entries.get("proxies"), list):
            entries = entries["proxies"]
        if not isinstance(entries, list):
            raise ApiError(400, "bad request body: expected a JSON array of proxies")
        created = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise ApiError(400, "bad request body: each proxy must be a JSON object")
            with self._lock:
                existing = self.proxies.get(entry.get("name", ""))
            if existing is not None:
                if existing.listen == entry.get("listen") and existing.upstream == entry.get("upstream"):
                    created.append(existing)
                    continue
                self.delete(existing.name)
            created.append(self.create(entry))
        return created

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        with self._lock:
            proxies = list(self.proxies.values())
        for proxy in proxies:
            proxy.clear_toxics()
            proxy.start()

    # -- serving -----------------------------------------------------------

    def serve_forever(self) -> None:
        self._serving.set()
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        """Serve the API from a background thread (for use inside another program)."""
        threading.Thread(target=self.serve_forever, name="toxiproxy-standin-api", daemon=True).start()

    def close(self) -> None:
        """Stop the API and every proxy."""
        if self._serving.is_set():
            # shutdown() waits for serve_forever() to return, so it would block if it never ran.
            self.httpd.shutdown()
        self.httpd.server_close()
        with self._lock:
            proxies = list(self.proxies.values())
        for proxy in proxies:
            proxy.stop()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler_for(standin: Standin) -> type[BaseHTTPRequestHandler]:
    class Handler(_ApiHandler):
        server_standin = standin

    return Handler


class _ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "toxiproxy-drillkit-standin"
    server_standin: Standin

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class names it so)
        log.debug("api %s: " + format, self.client_address[0], *args)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"bad request body: {exc}") from None

    def _dispatch(self, method: str) -> None:
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/") if p]
        try:
            body = self._body() if method in ("POST", "PATCH") else None
            status, payload = self._route(method, parts, body)
        except ApiError as exc:
            status, payload = exc.status, {"error": exc.message, "status": exc.status}
            if exc.status >= 500:
                log.error("api %s /%s: %s", method, "/".join(parts), exc.message)
        self._respond(status, payload)

    def _route(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        standin = self.server_standin
        if parts == ["version"] and method == "GET":
            return 200, {"version": VERSION}
        if parts == ["reset"] and method == "POST":
            standin.reset()
            return 204, None
        if parts == ["populate"] and method == "POST":
            return 201, {"proxies": [p.to_json() for p in standin.populate(body)]}
        if parts[:1] != ["proxies"] or len(parts) > 4:
            raise ApiError(404, "not found")
        if len(parts) == 1:
            if method == "GET":
                with standin._lock:
                    proxies = list(standin.proxies.values())
                return 200, {p.name: p.to_json() for p in proxies}
            if method == "POST":
                return 201, standin.create(body).to_json()
        elif len(parts) == 2:
            if method == "GET":
                return 200, standin.get(parts[1]).to_json()
            if method in ("POST", "PATCH"):
                return 200, standin.update(parts[1], body).to_json()
            if method == "DELETE":
                standin.delete(parts[1])
                return 204, None
        elif parts[2] == "toxics":
            proxy = standin.get(parts[1])
            if len(parts) == 3:
                if method == "GET":
                    return 200, [t.to_json() for s in STREAMS for t in proxy.toxics_of(s)]
                if method == "POST":
                    return 200, proxy.add_toxic(toxic_from_json(body)).to_json()
            else:
                if method == "GET":
                    return 200, proxy.toxic(parts[3]).to_json()
                if method in ("POST", "PATCH"):
                    return 200, proxy.update_toxic(parts[3], body).to_json()
                if method == "DELETE":
                    proxy.remove_toxic(parts[3])
                    return 204, None
        else:
            raise ApiError(404, "not found")
        raise ApiError(405, f"method {method} not allowed on /{'/'.join(parts)}")

    def _respond(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode() + b"\n"
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        if status != 204:  # HTTP forbids Content-Length on 204 responses
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drillkit.lab.toxiproxy_standin",
        description="Stand-in for the Toxiproxy server (HTTP API and TCP proxies), for hosts without it.")
    parser.add_argument("--listen", default="127.0.0.1:8474",
                        help="HOST:PORT of the HTTP API (default 127.0.0.1:8474; port 0 picks a free port)")
    parser.add_argument("--config", help="JSON file of proxies to create at start, as toxiproxy-server -config reads")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                        help="logging level on stderr (default info)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s toxiproxy-standin %(levelname)s %(message)s")

    try:
        standin = Standin(args.listen)
    except (OSError, ValueError) as exc:
        print(f"toxiproxy stand-in: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as fh:
                entries = json.load(fh)
            standin.populate(entries)
        except (OSError, ValueError) as exc:
            print(f"toxiproxy stand-in: cannot read the config file {args.config}: {exc}", file=sys.stderr)
            standin.close()
            return 1
        except ApiError as exc:
            print(f"toxiproxy stand-in: invalid proxy in {args.config}: {exc.message}", file=sys.stderr)
            standin.close()
            return 1

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    print(f"toxiproxy stand-in: API listening on {standin.url}", flush=True)
    log.info("API listening on %s (%d proxies)", standin.url, len(standin.proxies))
    try:
        standin.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        log.info("stopping")
        standin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
