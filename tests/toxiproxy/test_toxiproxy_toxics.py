"""The toxiproxy fault kind on loopback: each toxic's real effect on TCP, restore, and bounded API calls.

Runs against a real Toxiproxy server when ``TOXIPROXY_URL`` is set (on loopback),
and against drillkit's stand-in started for this module otherwise, because the
Toxiproxy server cannot be installed on every test machine. No root is needed.
"""

from __future__ import annotations

import itertools
import json
import socket
import time

import pytest

from tox_support import TcpServer, api, create_proxy, echo_round_trip, read_all, standin_server, toxiproxy_api

from drillkit.errors import FaultError
from drillkit.faults import fault_from_record
from drillkit.faults.toxiproxy import ToxiproxyFault

_names = itertools.count(1)
#: A round trip through a proxy without toxics, with room for a loaded machine.
FAST_S = 0.25


@pytest.fixture(scope="module")
def server_url():
    with toxiproxy_api() as url:
        yield url


@pytest.fixture(scope="module")
def echo():
    server = TcpServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def blob():
    server = TcpServer(blob=100_000)
    yield server
    server.close()


@pytest.fixture
def proxy(server_url, echo):
    """A proxy to the echo server: (name, listen host, listen port), deleted after the test."""
    name = f"t-tox-echo-{next(_names)}"
    host, port = create_proxy(server_url, name, echo.port)
    yield name, host, port
    api(server_url, "DELETE", f"/proxies/{name}")


@pytest.fixture
def blob_proxy(server_url, blob):
    name = f"t-tox-blob-{next(_names)}"
    host, port = create_proxy(server_url, name, blob.port)
    yield name, host, port
    api(server_url, "DELETE", f"/proxies/{name}")


def fault(server_url: str, proxy_name: str, toxic: str, **kwargs) -> ToxiproxyFault:
    return ToxiproxyFault(f"f{next(_names)}", server_url, proxy_name, toxic, **kwargs)


def injected(f: ToxiproxyFault) -> ToxiproxyFault:
    f.prepare()
    f.inject()
    return f


def toxic_names(server_url: str, proxy_name: str) -> list[str]:
    status, body = api(server_url, "GET", f"/proxies/{proxy_name}/toxics")
    assert status == 200, body
    return [t["name"] for t in body]


def test_latency_delays_data(server_url, proxy):
    name, host, port = proxy
    assert echo_round_trip(host, port) < FAST_S

    f = injected(fault(server_url, name, "latency", attributes={"latency": 400, "jitter": 0}))
    try:
        delayed = echo_round_trip(host, port)
    finally:
        f.restore()

    assert delayed >= 0.38
    assert echo_round_trip(host, port) < FAST_S
    assert toxic_names(server_url, name) == []


def test_latency_upstream_stream(server_url, proxy):
    name, host, port = proxy
    f = injected(fault(server_url, name, "latency", attributes={"latency": 300}, stream="upstream"))
    try:
        delayed = echo_round_trip(host, port)
        status, body = api(server_url, "GET", f"/proxies/{name}/toxics")
    finally:
        f.restore()
    assert delayed >= 0.28
    assert body[0]["stream"] == "upstream"


def test_bandwidth_throttles(server_url, blob_proxy):
    name, host, port = blob_proxy
    f = injected(fault(server_url, name, "bandwidth", attributes={"rate": 40}))
    try:
        data, _, seconds = read_all(host, port)
    finally:
        f.restore()

    assert len(data) == 100_000
    assert seconds >= 1.8  # 100 KB at 40 KB/s is 2.5 s
    _, _, unthrottled = read_all(host, port)
    assert unthrottled < 1.0


def test_timeout_zero_stops_data(server_url, proxy):
    name, host, port = proxy
    f = injected(fault(server_url, name, "timeout", attributes={"timeout": 0}))
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(b"ping")
            conn.settimeout(1.0)
            with pytest.raises(socket.timeout):
                conn.recv(100)  # neither data nor a close: the connection hangs
    finally:
        f.restore()
    assert echo_round_trip(host, port) < FAST_S


def test_timeout_closes_after_timeout(server_url, proxy):
    name, host, port = proxy
    f = injected(fault(server_url, name, "timeout", attributes={"timeout": 500}))
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            started = time.monotonic()
            conn.sendall(b"ping")
            try:
                received = conn.recv(100)
            except ConnectionResetError:
                received = b""
            closed_after = time.monotonic() - started
    finally:
        f.restore()
    assert received == b""
    assert 0.4 <= closed_after < 2.0


def test_reset_peer_resets(server_url, proxy):
    name, host, port = proxy
    f = injected(fault(server_url, name, "reset_peer", attributes={"timeout": 0}))
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(b"ping")
            with pytest.raises(ConnectionResetError):
                conn.recv(100)
    finally:
        f.restore()
    assert echo_round_trip(host, port) < FAST_S


def test_slicer_splits_data(server_url, server_url_blob_2k):
    name, host, port = server_url_blob_2k
    _, plain_sizes, _ = read_all(host, port)
    f = injected(fault(server_url, name, "slicer", attributes={"average_size": 100, "size_variation": 10,
                                                                 "delay": 20_000}))
    try:
        data, sizes, seconds = read_all(host, port)
    finally:
        f.restore()

    assert len(data) == 2000
    assert len(plain_sizes) <= 3
    assert len(sizes) >= 10
    assert min(sizes) >= 1
    assert seconds >= 0.2  # about 20 slices, 20 ms apart


@pytest.fixture
def server_url_blob_2k(server_url):
    server = TcpServer(blob=2000)
    name = f"t-tox-blob2k-{next(_names)}"
    host, port = create_proxy(server_url, name, server.port)
    yield name, host, port
    api(server_url, "DELETE", f"/proxies/{name}")
    server.close()


def test_limit_data_closes_after_limit(server_url, blob_proxy):
    name, host, port = blob_proxy
    f = injected(fault(server_url, name, "limit_data", attributes={"bytes": 1000}))
    try:
        data, _, _ = read_all(host, port)
    finally:
        f.restore()
    assert len(data) == 1000
    assert len(read_all(host, port)[0]) == 100_000


def test_down_refuses_connections(server_url, proxy):
    name, host, port = proxy
    f = injected(fault(server_url, name, "down"))
    assert f.was_enabled is True
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=2).close()
    finally:
        f.restore()
    assert echo_round_trip(host, port) < FAST_S


def test_down_keeps_disabled_proxy_disabled(server_url, proxy):
    name, _, _ = proxy
    api(server_url, "POST", f"/proxies/{name}", {"enabled": False})
    f = injected(fault(server_url, name, "down"))
    f.restore()
    assert f.was_enabled is False
    assert api(server_url, "GET", f"/proxies/{name}")[1]["enabled"] is False


def test_restore_is_idempotent(server_url, proxy):
    name, host, port = proxy
    f = injected(fault(server_url, name, "latency", attributes={"latency": 300}))
    f.restore()
    f.restore()
    assert toxic_names(server_url, name) == []
    assert echo_round_trip(host, port) < FAST_S


def test_restore_from_undo_record(server_url, proxy):
    name, host, port = proxy
    f = fault(server_url, name, "latency", attributes={"latency": 300})
    f.prepare()
    record = json.loads(json.dumps(f.to_record()))
    f.inject()
    assert toxic_names(server_url, name) == [f.toxic_name]

    fault_from_record(record).restore()

    assert toxic_names(server_url, name) == []
    assert echo_round_trip(host, port) < FAST_S


def test_inject_replaces_leftover_toxic(server_url, proxy):
    name, host, port = proxy
    first = injected(fault(server_url, name, "latency", attributes={"latency": 300}))
    again = ToxiproxyFault(first.name, server_url, name, "latency", attributes={"latency": 50})
    injected(again)
    try:
        status, body = api(server_url, "GET", f"/proxies/{name}/toxics/{first.toxic_name}")
    finally:
        again.restore()
    assert body["attributes"]["latency"] == 50


def test_unknown_proxy_lists_proxies(server_url, proxy):
    name, _, _ = proxy
    with pytest.raises(FaultError) as error:
        fault(server_url, "no-such-proxy", "latency", attributes={"latency": 1}).prepare()
    assert "proxy 'no-such-proxy' not found" in str(error.value)
    assert name in str(error.value)


def test_unreachable_api_fails_fast():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    closed_port = listener.getsockname()[1]
    listener.close()  # nothing listens there now, so connecting is refused
    url = f"http://127.0.0.1:{closed_port}"
    f = ToxiproxyFault("unreachable", url, "feed", "latency", attributes={"latency": 100}, api_timeout_s=1.0)

    started = time.monotonic()
    with pytest.raises(FaultError) as error:
        f.inject()
    elapsed = time.monotonic() - started

    assert elapsed < 3.0
    message = str(error.value)
    assert url in message
    assert "Connection refused" in message
    assert "Check that toxiproxy-server" in message


def test_silent_api_times_out():
    # A listener that accepts connections and never responds: the read timeout must end the call.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    f = ToxiproxyFault("silent", url, "feed", "timeout", api_timeout_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(FaultError) as error:
            f.prepare()
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert elapsed < 2.5
    assert "no response within 0.5 s" in str(error.value)
    assert url in str(error.value)


def test_restore_when_unreachable_fails():
    f = ToxiproxyFault("gone", "http://127.0.0.1:9", "feed", "latency", api_timeout_s=0.5)
    with pytest.raises(FaultError, match="did not respond to DELETE"):
        f.restore()


def test_two_servers_keep_apart(server_url, echo):
    """Two faults on two servers in one process: each call goes to its own server."""
    with standin_server() as second_url:
        first_host, first_port = create_proxy(server_url, "t-tox-two-a", echo.port)
        second_host, second_port = create_proxy(second_url, "t-tox-two-b", echo.port)
        slow = fault(server_url, "t-tox-two-a", "latency", attributes={"latency": 300})
        down = fault(second_url, "t-tox-two-b", "down")
        try:
            injected(slow)
            injected(down)
            assert echo_round_trip(first_host, first_port) >= 0.28
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((second_host, second_port), timeout=2).close()
            assert toxic_names(second_url, "t-tox-two-b") == []
            assert api(server_url, "GET", "/proxies/t-tox-two-a")[1]["enabled"] is True
            down.restore()
            slow.restore()
            assert echo_round_trip(first_host, first_port) < FAST_S
            assert echo_round_trip(second_host, second_port) < FAST_S
        finally:
            down.restore()
            slow.restore()
            api(server_url, "DELETE", "/proxies/t-tox-two-a")
