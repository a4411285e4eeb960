"""Scenario files with toxiproxy faults: valid ones load, invalid ones name the file, line and fix."""

from __future__ import annotations

import pytest

from conftest import REPO, SCENARIOS

from drillkit.errors import ScenarioError
from drillkit.scenario.load import load_scenario

TOPOLOGY = REPO / "labs" / "edge-ai-proxy" / "edge-ai-proxy.clab.yml"


def scenario_text(fault: str) -> str:
    return f"""name: t-tox-spec
lab: {TOPOLOGY}
faults:
{fault}
probes:
  - {{name: fresh, kind: freshness, from: inf1, url: "http://127.0.0.1:8080/infer", field: feed_age_s, tolerance: 1s}}
"""


def load(fault: str):
    return load_scenario("t-tox-spec.yaml", text=scenario_text(fault))


@pytest.mark.parametrize("scenario", ["edge-feed-stall", "edge-feed-latency"])
def test_bundled_scenarios_load(scenario):
    loaded = load_scenario(SCENARIOS / f"{scenario}.yaml")
    fault = loaded.faults[0]
    assert fault.kind == "toxiproxy"
    assert fault.params["server"] == "http://172.20.20.21:8474"
    assert fault.params["proxy"] == "feed-site1"
    assert fault.params["from"] == "jail"


def test_full_fault_loads():
    loaded = load("""  - name: slow
    kind: toxiproxy
    server: http://127.0.0.1:8474
    from: edge1
    proxy: feed-site1
    toxic: latency
    attributes: {latency: 2000, jitter: 100}
    stream: upstream
    toxicity: 0.5
    api_timeout: 2s""")
    assert loaded.faults[0].params == {
        "server": "http://127.0.0.1:8474", "proxy": "feed-site1", "toxic": "latency",
        "attributes": {"latency": 2000, "jitter": 100}, "stream": "upstream", "toxicity": 0.5,
        "from": "edge1", "api_timeout_s": 2.0}


def test_down_needs_no_attributes():
    loaded = load("  - {name: unplug, kind: toxiproxy, server: 'http://127.0.0.1:8474', proxy: p, toxic: down}")
    assert loaded.faults[0].params == {"server": "http://127.0.0.1:8474", "proxy": "p", "toxic": "down"}


@pytest.mark.parametrize(("fault", "line", "expected"), [
    pytest.param("  - {name: f, kind: toxiproxy, server: 'https://127.0.0.1:8474', proxy: p, toxic: timeout}",
                 4, "invalid Toxiproxy server URL", id="https"),
    pytest.param("  - {name: f, kind: toxiproxy, server: 'http://127.0.0.1:8474/api', proxy: p, toxic: timeout}",
                 4, "without a path", id="path"),
    pytest.param("  - {name: f, kind: toxiproxy, server: 'http://127.0.0.1:8474', proxy: p, toxic: latncy}",
                 4, "did you mean 'latency'", id="toxic-typo"),
    pytest.param("  - {name: f, kind: toxiproxy, server: 'http://127.0.0.1:8474', proxy: p, toxic: latency}",
                 4, "toxic latency needs attribute latency", id="missing-attribute"),
    pytest.param("  - name: f\n    kind: toxiproxy\n    server: http://127.0.0.1:8474\n    proxy: p\n"
                 "    toxic: timeout\n    attributes: {timeout: 10, delay: 5}",
                 9, "unknown field 'delay'", id="unknown-attribute"),
    pytest.param("  - name: f\n    kind: toxiproxy\n    server: http://127.0.0.1:8474\n    proxy: p\n"
                 "    toxic: timeout\n    attributes: {timeout: -1}",
                 9, "must not be negative", id="negative"),
    pytest.param("  - name: f\n    kind: toxiproxy\n    server: http://127.0.0.1:8474\n    proxy: p\n"
                 "    toxic: down\n    stream: upstream",
                 9, "toxic down disables the proxy", id="down-stream"),
    pytest.param("  - name: f\n    kind: toxiproxy\n    server: http://127.0.0.1:8474\n    proxy: p\n"
                 "    toxic: timeout\n    toxicity: 1.5",
                 9, "invalid toxicity", id="toxicity"),
    pytest.param("  - name: f\n    kind: toxiproxy\n    server: http://127.0.0.1:8474\n    proxy: p\n"
                 "    toxic: bandwidth\n    attributes: {rate: 0}",
                 9, "a rate of 0 means no limit", id="rate-zero"),
    pytest.param("  - name: f\n    kind: toxiproxy\n    server: http://127.0.0.1:8474\n    proxy: p\n"
                 "    toxic: slicer\n    attributes: {average_size: 10, size_variation: 10}",
                 9, "must be smaller than average_size", id="slicer-variation"),
    pytest.param("  - name: f\n    kind: toxiproxy\n    server: http://127.0.0.1:8474\n    proxy: p\n"
                 "    toxic: timeout\n    from: nowhere",
                 9, "unknown vantage point", id="from-node"),
    pytest.param("  - {name: f, kind: toxiproxy, proxy: p, toxic: timeout}",
                 4, "missing required field 'server'", id="no-server"),
])
def test_invalid_fault_names_line(fault, line, expected):
    with pytest.raises(ScenarioError) as error:
        load(fault)
    assert expected in str(error.value)
    assert error.value.line == line
    assert str(error.value).startswith(f"t-tox-spec.yaml:{line}:")


def test_attribute_from_variable():
    text = scenario_text("""  - name: slow
    kind: toxiproxy
    server: ${var:api}
    proxy: feed-site1
    toxic: latency
    attributes: {latency: "${var:delay}"}""").replace("faults:", "vars: {api: 'http://127.0.0.1:8474', delay: 250}\nfaults:")
    loaded = load_scenario("t-tox-spec.yaml", text=text)
    assert loaded.faults[0].params["attributes"] == {"latency": 250}
    assert loaded.faults[0].params["server"] == "http://127.0.0.1:8474"
