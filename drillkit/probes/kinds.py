"""Probe checks. Each runs once and returns a ``Sample``; the scheduler repeats them.

tcp and http checks open their sockets in the calling thread, which the scheduler
has moved into the probe's vantage namespace. ping and command checks run a
process in that namespace explicitly.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.parse
from dataclasses import dataclass

from ..lab import nsexec
from ..scenario.model import ProbeSpec


@dataclass(frozen=True)
class Sample:
    """One probe result.

    Attributes:
        ok: the check passed.
        detail: short text for the report (error, status, output excerpt).
        latency_s: how long the check took.
        value: a number the check read (data age for freshness probes), or None.
    """

    ok: bool
    detail: str
    latency_s: float
    value: float | None = None


def _tcp(spec: ProbeSpec, namespace: str | None, pin: str | None = None) -> tuple[bool, str, float | None]:
    host, _, port = (spec.target or "").rpartition(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(spec.timeout_s)
        try:
            sock.connect((host.strip("[]"), int(port)))
        except socket.timeout:
            return False, "connect timed out", None
        except OSError as exc:
            return False, exc.strerror or str(exc), None
    return True, "connected", None


def _http_get(url: str, timeout: float) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/" + (f"?{parts.query}" if parts.query else ""))
        resp = conn.getresponse()
        return resp.status, resp.read(65536).decode("utf-8", errors="replace")
    finally:
        conn.close()


def _http(spec: ProbeSpec, namespace: str | None, pin: str | None = None) -> tuple[bool, str, float | None]:
    try:
        status, body = _http_get(spec.url or "", spec.timeout_s)
    except socket.timeout:
        return False, "request timed out", None
    except (OSError, http.client.HTTPException) as exc:
        return False, getattr(exc, "strerror", None) or str(exc) or type(exc).__name__, None
    if status != spec.expect_status:
        return False, f"HTTP {status}, expected {spec.expect_status}", None
    if spec.expect_regex and not re.search(spec.expect_regex, body):
        return False, f"HTTP {status}, body does not match {spec.expect_regex!r}", None
    return True, f"HTTP {status}", None


def _ping(spec: ProbeSpec, namespace: str | None, pin: str | None = None) -> tuple[bool, str, float | None]:
    wait = max(1, int(round(spec.timeout_s)))
    result = nsexec.run(["ping", "-c", "1", "-n", "-W", str(wait), spec.target or ""], ns=namespace,
                        timeout=spec.timeout_s + 2)
    if result.ok:
        match = re.search(r"time=([\d.]+) ms", result.stdout)
        return True, f"reply in {match.group(1)} ms" if match else "reply", None
    text = (result.stdout + result.stderr).strip().splitlines()
    return False, (text[-1] if text else f"ping exit {result.returncode}")[:200], None


def _command(spec: ProbeSpec, namespace: str | None, pin: str | None = None) -> tuple[bool, str, float | None]:
    result = nsexec.run(spec.command or "", ns=namespace, mount_pin=pin, timeout=spec.timeout_s)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != spec.expect_exit:
        return False, f"exit {result.returncode}, expected {spec.expect_exit}: {output[-200:]}", None
    if spec.expect_regex and not re.search(spec.expect_regex, result.stdout):
        return False, f"output does not match {spec.expect_regex!r}: {output[-200:]}", None
    return True, f"exit {result.returncode}", None


def read_field(document: object, path: str) -> object:
    """Read a dotted field (``a.b.0.c``) from parsed JSON."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value


def _freshness(spec: ProbeSpec, namespace: str | None, pin: str | None = None) -> tuple[bool, str, float | None]:
    if spec.url:
        try:
            status, body = _http_get(spec.url, spec.timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            return False, f"cannot read freshness: {getattr(exc, 'strerror', None) or exc}", None
        if status != 200:
            return False, f"cannot read freshness: HTTP {status}", None
    else:
        result = nsexec.run(spec.command or "", ns=namespace, mount_pin=pin, timeout=spec.timeout_s)
        if not result.ok:
            return False, f"cannot read freshness: exit {result.returncode}", None
        body = result.stdout
    try:
        raw = read_field(json.loads(body), spec.field) if body.strip()[:1] in "{[" else body.strip()
        number = None if raw is None else float(raw)  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError):
        return False, f"no numeric field {spec.field!r} in the response", None
    if number is None:
        return False, f"{spec.field} is null: the workload has never received data", None
    age = time.time() - number if spec.field_type == "timestamp" else number
    tolerance = spec.tolerance_s or 0.0
    if age > tolerance:
        return False, f"data age {age:.2f} s > tolerance {tolerance:g} s", age
    return True, f"data age {age:.2f} s", age


def _vtysh_json(command: str, namespace: str | None, pin: str | None, timeout: float) -> object:
    result = nsexec.run(["vtysh", "-c", f"{command} json"], ns=namespace, mount_pin=pin, timeout=timeout)
    if not result.ok:
        raise RuntimeError(f"vtysh failed: {(result.stderr or result.stdout).strip()[-200:]}")
    return json.loads(result.stdout or "{}")


def _routing(spec: ProbeSpec, namespace: str | None, pin: str | None = None) -> tuple[bool, str, float | None]:
    """Read routing state from the node's FRR (vtysh JSON output)."""
    check = spec.routing_check
    if check == "ospf_neighbor":
        data = _vtysh_json("show ip ospf neighbor", namespace, pin, spec.timeout_s)
        neighbors = data.get("neighbors", {}) if isinstance(data, dict) else {}
        for router_id, entries in neighbors.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                address = entry.get("ifaceAddress") or entry.get("address")
                if spec.target in (router_id, address):
                    state = str(entry.get("nbrState") or entry.get("state") or "")
                    wanted = spec.routing_state or "Full"
                    ok = state.split("/")[0] == wanted
                    return ok, f"OSPF neighbor {spec.target} {state}", None
        return False, f"OSPF neighbor {spec.target} not found", None
    if check == "bgp_neighbor":
        data = _vtysh_json("show bgp summary", namespace, pin, spec.timeout_s)
        for family in (data.values() if isinstance(data, dict) else []):
            peer = (family.get("peers") or {}).get(spec.target) if isinstance(family, dict) else None
            if peer:
                state = str(peer.get("state"))
                return state == (spec.routing_state or "Established"), f"BGP neighbor {spec.target} {state}", None
        return False, f"BGP neighbor {spec.target} not found", None
    data = _vtysh_json(f"show ip route {spec.target}", namespace, pin, spec.timeout_s)
    routes = data.get(spec.target or "", []) if isinstance(data, dict) else []
    selected = [r for r in routes if r.get("selected")]
    if not selected:
        return False, f"no selected route to {spec.target}", None
    hops = [h.get("interfaceName") or h.get("ip") or "" for r in selected for h in r.get("nexthops", [])
            if h.get("active", True)]
    if spec.routing_via and spec.routing_via not in hops:
        return False, f"route to {spec.target} via {', '.join(hops) or 'none'}, expected {spec.routing_via}", None
    return True, f"route to {spec.target} via {', '.join(hops)}", None


CHECKS = {"tcp": _tcp, "http": _http, "ping": _ping, "command": _command, "freshness": _freshness,
          "routing": _routing}


def run_check(spec: ProbeSpec, namespace: str | None, mount_pin: str | None = None) -> Sample:
    """Run one check of ``spec``; never raises for a failing target."""
    started = time.monotonic()
    try:
        ok, detail, value = CHECKS[spec.kind](spec, namespace, mount_pin)
    except Exception as exc:  # a probe must report, not crash the scheduler
        ok, detail, value = False, f"probe error: {type(exc).__name__}: {exc}", None
    return Sample(ok=ok, detail=detail, latency_s=time.monotonic() - started, value=value)
