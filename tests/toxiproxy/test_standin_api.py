"""The Toxiproxy HTTP API as documented, and the toxiproxy-python client against it.

Runs against a real Toxiproxy server when ``TOXIPROXY_URL`` is set (on loopback),
and against drillkit's stand-in otherwise, so the same checks hold for both. The
tests of the stand-in's command line run the stand-in only.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from conftest import REPO
from tox_support import TcpServer, api, create_proxy, echo_round_trip, toxiproxy_api

_names = itertools.count(1)


@pytest.fixture(scope="module")
def server_url():
    with toxiproxy_api() as url:
        yield url


@pytest.fixture(scope="module")
def echo():
    server = TcpServer()
    yield server
    server.close()


@pytest.fixture
def proxy_name(server_url, echo):
    name = f"t-tox-api-{next(_names)}"
    create_proxy(server_url, name, echo.port)
    yield name
    api(server_url, "DELETE", f"/proxies/{name}")


def test_proxy_create_shape(server_url, echo):
    name = f"t-tox-api-{next(_names)}"
    status, body = api(server_url, "POST", "/proxies",
                       {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo.port}"})
    try:
        assert status == 201
        assert body["name"] == name
        assert body["upstream"] == f"127.0.0.1:{echo.port}"
        assert body["enabled"] is True
        assert body["toxics"] == []
        assert not body["listen"].endswith(":0")  # the port the server picked
        status, index = api(server_url, "GET", "/proxies")
        assert status == 200
        assert index[name]["listen"] == body["listen"]
    finally:
        api(server_url, "DELETE", f"/proxies/{name}")


def test_proxy_errors(server_url, proxy_name):
    status, body = api(server_url, "POST", "/proxies", {"name": proxy_name, "listen": "127.0.0.1:0",
                                                        "upstream": "127.0.0.1:9"})
    assert status == 409
    assert body["status"] == 409
    assert body["error"]

    status, body = api(server_url, "GET", "/proxies/t-tox-missing")
    assert status == 404
    assert body["status"] == 404

    status, body = api(server_url, "POST", "/proxies", {"name": "t-tox-no-upstream", "listen": "127.0.0.1:0"})
    assert status == 400
    assert body["status"] == 400


def test_proxy_delete(server_url, echo):
    name = f"t-tox-api-{next(_names)}"
    create_proxy(server_url, name, echo.port)
    assert api(server_url, "DELETE", f"/proxies/{name}")[0] == 204
    assert api(server_url, "DELETE", f"/proxies/{name}")[0] == 404


def test_toxic_defaults(server_url, proxy_name):
    status, body = api(server_url, "POST", f"/proxies/{proxy_name}/toxics",
                       {"type": "latency", "attributes": {"latency": 10}})
    assert status == 200
    assert body["name"] == "latency_downstream"
    assert body["stream"] == "downstream"
    assert body["toxicity"] == 1
    assert body["attributes"] == {"latency": 10, "jitter": 0}


def test_toxic_lifecycle(server_url, proxy_name):
    path = f"/proxies/{proxy_name}/toxics"
    status, _ = api(server_url, "POST", path, {"name": "cut", "type": "limit_data", "stream": "upstream",
                                               "attributes": {"bytes": 10}})
    assert status == 200
    assert api(server_url, "POST", path, {"name": "cut", "type": "limit_data"})[0] == 409

    status, listed = api(server_url, "GET", path)
    assert status == 200
    assert [t["name"] for t in listed] == ["cut"]
    status, shown = api(server_url, "GET", f"{path}/cut")
    assert shown["stream"] == "upstream"

    status, updated = api(server_url, "POST", f"{path}/cut", {"attributes": {"bytes": 20}})
    assert status == 200
    assert updated["attributes"]["bytes"] == 20

    status, proxy = api(server_url, "GET", f"/proxies/{proxy_name}")
    assert [t["name"] for t in proxy["toxics"]] == ["cut"]

    assert api(server_url, "DELETE", f"{path}/cut")[0] == 204
    assert api(server_url, "DELETE", f"{path}/cut")[0] == 404


@pytest.mark.parametrize("body", [
    pytest.param({"type": "no-such-toxic"}, id="type"),
    pytest.param({"type": "latency", "stream": "sideways"}, id="stream"),
])
def test_toxic_invalid(server_url, proxy_name, body):
    status, response = api(server_url, "POST", f"/proxies/{proxy_name}/toxics", body)
    assert status == 400
    assert response["status"] == 400


def test_toxicity_zero_never_applies(server_url, echo):
    name = f"t-tox-api-{next(_names)}"
    host, port = create_proxy(server_url, name, echo.port)
    try:
        api(server_url, "POST", f"/proxies/{name}/toxics",
            {"type": "latency", "toxicity": 0.0, "attributes": {"latency": 500}})
        assert echo_round_trip(host, port) < 0.3  # the toxic would add 0.5 s
    finally:
        api(server_url, "DELETE", f"/proxies/{name}")


def test_reset_enables_and_clears(server_url, proxy_name):
    api(server_url, "POST", f"/proxies/{proxy_name}/toxics", {"type": "timeout", "attributes": {"timeout": 0}})
    api(server_url, "POST", f"/proxies/{proxy_name}", {"enabled": False})

    assert api(server_url, "POST", "/reset")[0] == 204

    status, proxy = api(server_url, "GET", f"/proxies/{proxy_name}")
    assert proxy["enabled"] is True
    assert proxy["toxics"] == []


def test_version(server_url):
    status, body = api(server_url, "GET", "/version")
    assert status == 200
    assert body["version"]


def test_populate(server_url, echo):
    entries = [{"name": f"t-tox-pop-{i}", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo.port}"}
               for i in (1, 2)]
    status, body = api(server_url, "POST", "/populate", entries)
    try:
        assert status == 201
        assert sorted(p["name"] for p in body["proxies"]) == ["t-tox-pop-1", "t-tox-pop-2"]
    finally:
        for entry in entries:
            api(server_url, "DELETE", f"/proxies/{entry['name']}")


def test_python_client_drives_server(server_url, echo):
    """toxiproxy-python's own objects work against the server (create, toxics, disable, destroy)."""
    from toxiproxy import Toxiproxy
    from toxiproxy.api import APIConsumer

    saved = APIConsumer.host, APIConsumer.port
    parts = urlsplit(server_url)
    client = Toxiproxy()
    client.update_api_consumer(parts.hostname, parts.port)
    try:
        name = f"t-tox-client-{next(_names)}"
        proxy = client.create(upstream=f"127.0.0.1:{echo.port}", name=name)
        assert client.get_proxy(name).upstream == f"127.0.0.1:{echo.port}"
        proxy.add_toxic(type="latency", attributes={"latency": 300})
        assert list(proxy.toxics()) == ["latency_downstream"]
        host, _, port = proxy.listen.rpartition(":")
        assert echo_round_trip(host, int(port)) >= 0.28
        proxy.destroy_toxic("latency_downstream")
        proxy.disable()
        assert client.get_proxy(name).enabled is False
        proxy.enable()
        assert client.destroy(proxy) is True
        assert client.get_proxy(name) is None
    finally:
        APIConsumer.host, APIConsumer.port = saved


def test_standin_config_file(tmp_path, echo):
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "t-tox-config", "listen": "127.0.0.1:0",
                                   "upstream": f"127.0.0.1:{echo.port}", "enabled": True}]))
    proc = subprocess.Popen([sys.executable, "-m", "drillkit.lab.toxiproxy_standin", "--listen", "127.0.0.1:0",
                             "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    try:
        url = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        status, body = api(url, "GET", "/proxies/t-tox-config")
        assert status == 200
        host, _, port = body["listen"].rpartition(":")
        assert echo_round_trip(host, int(port)) < 0.3
    finally:
        proc.terminate()
        proc.wait(10)


def test_standin_invalid_config_exits(tmp_path):
    config = tmp_path / "proxies.json"
    config.write_text('[{"name": "t-tox-bad", "listen": "127.0.0.1:0"}]')
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "drillkit.lab.toxiproxy_standin", "--listen", "127.0.0.1:0",
                             "--config", str(config)], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert result.returncode == 1
    assert "invalid proxy" in result.stderr
    assert "upstream" in result.stderr
    assert time.monotonic() - started < 10


def test_standin_runs_as_plain_file(tmp_path):
    """The lab's start script may run the module as a file under a python3 without drillkit."""
    script = REPO / "drillkit" / "lab" / "toxiproxy_standin.py"
    proc = subprocess.Popen([sys.executable, "-I", str(script), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert "API listening on http://127.0.0.1:" in line
        status, body = api(line.rsplit(" ", 1)[1].strip(), "GET", "/version")
        assert status == 200
        assert "standin" in body["version"]
    finally:
        proc.terminate()
        proc.wait(10)
