"""Unit tests of the containerlab topology loader: parsing only, no root and no lab."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from drillkit.errors import TopologyError
from drillkit.lab.netns import check_supported
from drillkit.lab.topology import Bind, Endpoint, Topology, load_topology

REPO = Path(__file__).resolve().parents[2]
EDGE_AI = REPO / "labs" / "edge-ai" / "edge-ai.clab.yml"
EDGE_AI_TEXT = EDGE_AI.read_text(encoding="utf-8")

#: Marks the line an invalid case expects the error on.
MARKER = "# <-"


def line_of(text: str, needle: str) -> int:
    """Return the 1-based number of the first line of ``text`` that contains ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the text")


def write_topology(tmp_path: Path, text: str, name: str = "lab.clab.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def edge_ai() -> Topology:
    return load_topology(EDGE_AI)


# -- the bundled edge-ai lab ------------------------------------------------

EDGE_AI_NODES = ["noc", "feed", "core", "edge1", "inf1", "edge2", "inf2"]
EDGE_AI_LINKS = [
    ("noc:eth1", "core:eth1"),
    ("feed:eth1", "core:eth4"),
    ("core:eth2", "edge1:eth1"),
    ("core:eth3", "edge2:eth1"),
    ("edge1:eth2", "inf1:eth1"),
    ("edge2:eth2", "inf2:eth1"),
]
EDGE_AI_MGMT = {
    "noc": "172.20.20.5", "feed": "172.20.20.6", "core": "172.20.20.11", "edge1": "172.20.20.21",
    "inf1": "172.20.20.22", "edge2": "172.20.20.31", "inf2": "172.20.20.32",
}
SERVICE_BIND = Bind(source="edge_service.py", target="/opt/edge-ai/edge_service.py", mode="ro")


def test_edge_ai_name(edge_ai: Topology) -> None:
    assert edge_ai.name == "edge-ai"


def test_edge_ai_path(edge_ai: Topology) -> None:
    assert edge_ai.path == str(EDGE_AI)


def test_edge_ai_default_prefix(edge_ai: Topology) -> None:
    assert edge_ai.prefix == "clab"


def test_edge_ai_nodes_in_file_order(edge_ai: Topology) -> None:
    assert list(edge_ai.nodes) == EDGE_AI_NODES


def test_edge_ai_kinds_from_defaults(edge_ai: Topology) -> None:
    assert {node.kind for node in edge_ai.nodes.values()} == {"linux"}


def test_edge_ai_image_from_defaults(edge_ai: Topology) -> None:
    assert {node.image for node in edge_ai.nodes.values()} == {"alpine:3.20"}


def test_edge_ai_links(edge_ai: Topology) -> None:
    assert [(str(link.a), str(link.b)) for link in edge_ai.links] == EDGE_AI_LINKS


def test_edge_ai_link_lines(edge_ai: Topology) -> None:
    expected = [line_of(EDGE_AI_TEXT, f'["{a}", "{b}"]') for a, b in EDGE_AI_LINKS]
    assert [link.line for link in edge_ai.links] == expected


def test_edge_ai_link_labels(edge_ai: Topology) -> None:
    uplink = edge_ai.find_link("core:eth2")
    assert uplink is not None
    assert uplink.labels == {"drillkit.description": "site 1 primary uplink"}


def test_edge_ai_namespaces(edge_ai: Topology) -> None:
    assert [edge_ai.namespace(node) for node in edge_ai.nodes] == [f"clab-edge-ai-{node}" for node in EDGE_AI_NODES]


def test_edge_ai_mgmt_network(edge_ai: Topology) -> None:
    assert edge_ai.mgmt.network == "edge-ai-oob"


def test_edge_ai_mgmt_subnet(edge_ai: Topology) -> None:
    assert edge_ai.mgmt.ipv4_subnet == "172.20.20.0/24"


def test_edge_ai_mgmt_ipv4(edge_ai: Topology) -> None:
    assert {name: node.mgmt_ipv4 for name, node in edge_ai.nodes.items()} == EDGE_AI_MGMT


def test_edge_ai_mgmt_address(edge_ai: Topology) -> None:
    assert {name: edge_ai.mgmt_address(name) for name in edge_ai.nodes} == EDGE_AI_MGMT


def test_edge_ai_group_binds_merged(edge_ai: Topology) -> None:
    assert edge_ai.nodes["inf1"].binds == (SERVICE_BIND,)


def test_edge_ai_group_recorded(edge_ai: Topology) -> None:
    assert {name for name, node in edge_ai.nodes.items() if node.group == "inference"} == {"inf1", "inf2"}


def test_edge_ai_node_binds(edge_ai: Topology) -> None:
    assert edge_ai.nodes["feed"].binds == (SERVICE_BIND,)


def test_edge_ai_no_binds_outside_group(edge_ai: Topology) -> None:
    assert edge_ai.nodes["core"].binds == ()


def test_edge_ai_kind_env_merged(edge_ai: Topology) -> None:
    assert all(node.env == {"PYTHONDONTWRITEBYTECODE": "1"} for node in edge_ai.nodes.values())


def test_edge_ai_noc_role(edge_ai: Topology) -> None:
    assert edge_ai.noc == "noc"


def test_edge_ai_exec_commands(edge_ai: Topology) -> None:
    assert edge_ai.nodes["noc"].exec == ("ip addr add 10.0.0.2/30 dev eth1", "ip route add 10.0.0.0/8 via 10.0.0.1")


def test_edge_ai_node_lines(edge_ai: Topology) -> None:
    expected = [line_of(EDGE_AI_TEXT, f"    {name}:") for name in EDGE_AI_NODES]
    assert [node.line for node in edge_ai.nodes.values()] == expected


def test_edge_ai_no_extra_keys(edge_ai: Topology) -> None:
    assert all(node.extra == {} for node in edge_ai.nodes.values())


def test_edge_ai_find_link_by_both_ends(edge_ai: Topology) -> None:
    assert edge_ai.find_link("core:eth2--edge1:eth1") is edge_ai.find_link("edge1:eth1")


def test_edge_ai_find_link_unknown(edge_ai: Topology) -> None:
    assert edge_ai.find_link("core:eth9") is None


def test_edge_ai_node_links(edge_ai: Topology) -> None:
    assert len(edge_ai.node_links("core")) == 4


def test_edge_ai_supported_by_netns(edge_ai: Topology) -> None:
    check_supported(edge_ai)


def test_edge_ai_loads_from_text(edge_ai: Topology) -> None:
    from_text = load_topology("given-as-text.clab.yml", text=EDGE_AI_TEXT)
    assert from_text.nodes == edge_ai.nodes


# -- merge precedence: node over group over kind over defaults --------------

MERGE_TEXT = """\
name: merge
topology:
  defaults:
    kind: linux
    image: image-defaults
    env: {LEVEL: defaults, FROM_DEFAULTS: "1"}
    labels: {tier: defaults}
    binds: [/srv/defaults:/defaults]
    startup-config: defaults.cfg
  kinds:
    linux:
      image: image-kind
      env: {LEVEL: kind, FROM_KIND: "1"}
      binds: [/srv/kind:/kind]
    bridge:
      labels: {tier: bridge-kind}
  groups:
    servers:
      image: image-group
      env: {LEVEL: group, FROM_GROUP: "1"}
      binds: [/srv/group:/group, /srv/kind:/kind]
      cpu: 2
    switches:
      kind: bridge
  nodes:
    own:
      group: servers
      image: image-node
      env: {LEVEL: node, FROM_NODE: "1"}
      labels: {tier: node}
      binds: [/srv/node:/node]
      startup-config: own.cfg
    grouped:
      group: servers
    plain:
      exec: [hostname]
    bare:
    sw:
      group: switches
"""


@pytest.fixture(scope="module")
def merged() -> Topology:
    return load_topology("merge.clab.yml", text=MERGE_TEXT)


def test_merge_image_node_wins(merged: Topology) -> None:
    assert merged.nodes["own"].image == "image-node"


def test_merge_image_group_over_kind(merged: Topology) -> None:
    assert merged.nodes["grouped"].image == "image-group"


def test_merge_image_kind_over_defaults(merged: Topology) -> None:
    assert merged.nodes["plain"].image == "image-kind"


def test_merge_image_defaults(merged: Topology) -> None:
    assert merged.nodes["sw"].image == "image-defaults"


def test_merge_bare_node_gets_defaults_kind(merged: Topology) -> None:
    assert merged.nodes["bare"].kind == "linux"


def test_merge_kind_from_group(merged: Topology) -> None:
    assert merged.nodes["sw"].kind == "bridge"


def test_merge_kind_settings_follow_group_kind(merged: Topology) -> None:
    assert merged.nodes["sw"].labels == {"tier": "bridge-kind"}


def test_merge_env_keys_combined(merged: Topology) -> None:
    assert merged.nodes["own"].env == {
        "LEVEL": "node", "FROM_DEFAULTS": "1", "FROM_KIND": "1", "FROM_GROUP": "1", "FROM_NODE": "1",
    }


def test_merge_env_group_level(merged: Topology) -> None:
    assert merged.nodes["grouped"].env["LEVEL"] == "group"


def test_merge_env_kind_level(merged: Topology) -> None:
    assert merged.nodes["plain"].env == {"LEVEL": "kind", "FROM_DEFAULTS": "1", "FROM_KIND": "1"}


def test_merge_labels_node_wins(merged: Topology) -> None:
    assert merged.nodes["own"].labels == {"tier": "node"}


def test_merge_binds_appended_without_repeats(merged: Topology) -> None:
    assert [bind.target for bind in merged.nodes["own"].binds] == ["/defaults", "/kind", "/group", "/node"]


def test_merge_startup_config_node_wins(merged: Topology) -> None:
    assert merged.nodes["own"].startup_config == "own.cfg"


def test_merge_startup_config_defaults(merged: Topology) -> None:
    assert merged.nodes["plain"].startup_config == "defaults.cfg"


def test_merge_group_keys_in_extra(merged: Topology) -> None:
    assert merged.nodes["grouped"].extra == {"cpu": 2}


def test_merge_exec_is_per_node(merged: Topology) -> None:
    assert merged.nodes["plain"].exec == ("hostname",)


def test_merge_yaml_merge_key_override() -> None:
    text = (
        "name: anchors\n"
        "x-common: &common\n"
        "  kind: linux\n"
        "  image: image-anchor\n"
        "topology:\n"
        "  nodes:\n"
        "    a:\n"
        "      <<: *common\n"
        "      image: image-own\n"
    )
    topo = load_topology("anchors.clab.yml", text=text)
    assert topo.nodes["a"].image == "image-own"


# -- prefix -----------------------------------------------------------------

PREFIX_BASE = "name: lab1\n{prefix}topology:\n  nodes:\n    r1: {{kind: linux}}\n"


@pytest.mark.parametrize(
    ("prefix_line", "namespace"),
    [
        pytest.param("", "clab-lab1-r1", id="absent"),
        pytest.param('prefix: ""\n', "r1", id="empty"),
        pytest.param("prefix: acme\n", "acme-lab1-r1", id="custom"),
        pytest.param("prefix: __lab-name\n", "lab1-r1", id="lab-name"),
        pytest.param("prefix: clab\n", "clab-lab1-r1", id="explicit-clab"),
    ],
)
def test_prefix_namespace(prefix_line: str, namespace: str) -> None:
    topo = load_topology("prefix.clab.yml", text=PREFIX_BASE.format(prefix=prefix_line))
    assert topo.namespace("r1") == namespace


# -- unknown keys and kinds -------------------------------------------------

def test_unknown_clab_node_key_kept_in_extra() -> None:
    text = "name: lab\ntopology:\n  nodes:\n    r1: {kind: linux, cpu: 1.5, memory: 1Gb, ports: ['80:8080']}\n"
    topo = load_topology("extra.clab.yml", text=text)
    assert topo.nodes["r1"].extra == {"cpu": 1.5, "memory": "1Gb", "ports": ["80:8080"]}


def test_known_clab_node_key_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    text = "name: lab\ntopology:\n  nodes:\n    r1: {kind: linux, cpu: 1.5}\n"
    with caplog.at_level(logging.WARNING, logger="drillkit.lab.topology"):
        load_topology("extra.clab.yml", text=text)
    assert caplog.records == []


def test_unknown_node_key_warned(caplog: pytest.LogCaptureFixture) -> None:
    text = "name: lab\ntopology:\n  nodes:\n    r1:\n      kind: linux\n      imgae: alpine\n"
    with caplog.at_level(logging.WARNING, logger="drillkit.lab.topology"):
        topo = load_topology("typo.clab.yml", text=text)
    assert "typo.clab.yml:6: topology.nodes.r1.imgae: unknown field ignored; did you mean 'image'?" in caplog.text
    assert topo.nodes["r1"].extra == {"imgae": "alpine"}


def test_unknown_top_level_key_warned(caplog: pytest.LogCaptureFixture) -> None:
    text = "name: lab\nx-vars: {a: 1}\ntopology:\n  nodes:\n    r1: {kind: linux}\n"
    with caplog.at_level(logging.WARNING, logger="drillkit.lab.topology"):
        topo = load_topology("top.clab.yml", text=text)
    assert "top.clab.yml:2: x-vars: unknown field ignored" in caplog.text
    assert list(topo.nodes) == ["r1"]


def test_unknown_link_key_warned(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        "name: lab\ntopology:\n  nodes:\n    a: {kind: linux}\n    b: {kind: linux}\n"
        "  links:\n    - endpoints: [a:eth1, b:eth1]\n      colour: red\n"
    )
    with caplog.at_level(logging.WARNING, logger="drillkit.lab.topology"):
        topo = load_topology("link.clab.yml", text=text)
    assert "link.clab.yml:8: topology.links[0].colour: unknown field ignored" in caplog.text
    assert len(topo.links) == 1


def test_unknown_kind_parses() -> None:
    text = "name: lab\ntopology:\n  nodes:\n    srl:\n      kind: nokia_srlinux\n"
    topo = load_topology("srl.clab.yml", text=text)
    assert topo.nodes["srl"].kind == "nokia_srlinux"


def test_netns_rejects_unknown_kind() -> None:
    text = "name: lab\ntopology:\n  nodes:\n    host1: {kind: linux}\n    srl:\n      kind: nokia_srlinux\n"
    topo = load_topology("srl.clab.yml", text=text)
    with pytest.raises(TopologyError) as caught:
        check_supported(topo)
    message = str(caught.value)
    assert "srl.clab.yml:5:" in message
    assert "topology.nodes.srl.kind" in message
    assert "'nokia_srlinux'" in message
    assert "containerlab" in caught.value.fix


# -- endpoint forms ---------------------------------------------------------

ENDPOINT_NODES = "name: lab\ntopology:\n  nodes:\n    a: {kind: linux}\n    b: {kind: linux}\n  links:\n"


@pytest.mark.parametrize(
    "link",
    [
        pytest.param('    - endpoints: ["a:eth1", "b:eth2"]\n', id="strings"),
        pytest.param("    - endpoints:\n        - {node: a, interface: eth1}\n"
                     "        - {node: b, interface: eth2}\n", id="mappings"),
        pytest.param("    - endpoints:\n        - a:eth1\n        - node: b\n          interface: eth2\n", id="mixed"),
    ],
)
def test_endpoint_forms(link: str) -> None:
    topo = load_topology("ep.clab.yml", text=ENDPOINT_NODES + link)
    assert topo.links[0].endpoints() == (Endpoint("a", "eth1"), Endpoint("b", "eth2"))


def test_endpoint_bridge_may_use_eth0() -> None:
    nodes = ENDPOINT_NODES.replace("b: {kind: linux}", "b: {kind: bridge}")
    topo = load_topology("br.clab.yml", text=nodes + '    - endpoints: ["a:eth1", "b:eth0"]\n')
    assert topo.links[0].b == Endpoint("b", "eth0")


# -- invalid topologies -----------------------------------------------------

#: Stand-ins for cases that are not a file with text.
MISSING_FILE = "<missing file>"
DIRECTORY = "<directory>"

VALID = """\
name: lab
topology:
  defaults:
    kind: linux
  nodes:
    a:
      mgmt-ipv4: 172.20.20.5
    b:
  links:
    - endpoints: ["a:eth1", "b:eth1"]
"""


def variant(old: str, new: str) -> str:
    """Return VALID with ``old`` replaced once by ``new``."""
    assert old in VALID
    return VALID.replace(old, new, 1)


INVALID_TOPOLOGIES = [
    pytest.param(
        "topology:  # <-\n  nodes:\n    a: {kind: linux}\n",
        "missing required field 'name'", "add name:", id="missing-name"),
    pytest.param(
        variant('["a:eth1", "b:eth1"]', '["a:eth1", "zz:eth1"]  # <-'),
        "topology.links[0].endpoints[1]: unknown node 'zz'", "define it under topology.nodes", id="unknown-link-node"),
    pytest.param(
        VALID + '    - endpoints: ["a:eth1", "b:eth2"]  # <-\n',
        "topology.links[1].endpoints[0]: endpoint a:eth1 is already used by the link on line 10",
        "give each link its own interface", id="endpoint-reused"),
    pytest.param(
        variant('["a:eth1", "b:eth1"]', '["a:eth0", "b:eth1"]  # <-'),
        "topology.links[0].endpoints[0]: eth0 is the management interface", "use eth1 or higher", id="eth0-in-link"),
    pytest.param(
        variant('["a:eth1", "b:eth1"]', '["a:ethernet-1-1-long", "b:eth1"]  # <-'),
        "invalid interface name 'ethernet-1-1-long'", "at most 15", id="bad-interface-name"),
    pytest.param(
        variant('["a:eth1", "b:eth1"]', '["a:eth1:x", "b:eth1"]  # <-'),
        "topology.links[0].endpoints[0]: invalid endpoint", "write it as node:interface", id="endpoint-two-colons"),
    pytest.param(
        variant("mgmt-ipv4: 172.20.20.5", "mgmt-ipv4: 172.20.20.300  # <-"),
        "topology.nodes.a.mgmt-ipv4: invalid IPv4 address", "write it as 172.20.20.11", id="bad-mgmt-ipv4"),
    pytest.param(
        variant("mgmt-ipv4: 172.20.20.5", "mgmt-ipv4: 10.9.9.9  # <-"),
        "topology.nodes.a.mgmt-ipv4: mgmt-ipv4 is outside the management subnet 172.20.20.0/24",
        "pick an address inside mgmt.ipv4-subnet", id="mgmt-ipv4-outside-subnet"),
    pytest.param(
        variant("    b:\n", "    b:\n      mgmt-ipv4: 172.20.20.5  # <-\n"),
        "topology.nodes.b.mgmt-ipv4: mgmt-ipv4 is already used by node 'a'", "give each node its own address",
        id="duplicate-mgmt-ipv4"),
    pytest.param(
        variant("mgmt-ipv4: 172.20.20.5", "mgmt-ipv4: 172.20.20.1  # <-"),
        "topology.nodes.a.mgmt-ipv4: this address is the management gateway", "pick another address",
        id="mgmt-ipv4-is-gateway"),
    pytest.param(
        variant("mgmt-ipv4: 172.20.20.5", "mgmt-ipv4: 172.20.20.254  # <-"),
        "reserved for the OOB jail", "pick another address", id="mgmt-ipv4-is-jail"),
    pytest.param(
        variant("mgmt-ipv4: 172.20.20.5", "mgmt-ipv4: 172.20.20.253  # <-"),
        "reserved for the console server", "pick another address", id="mgmt-ipv4-is-console-server"),
    pytest.param(
        variant("name: lab\n", "name: lab\nmgmt:\n  ipv4-subnet: 172.20.20.0/30  # <-\n"),
        "mgmt.ipv4-subnet: the management subnet must be IPv4", "use a /29 or larger", id="mgmt-subnet-too-small"),
    pytest.param(
        variant("name: lab\n", "name: lab\nmgmt:\n  ipv4-gw: 10.0.0.1  # <-\n"),
        "mgmt.ipv4-gw: the gateway must be a host address of 172.20.20.0/24", "pick another address",
        id="mgmt-gateway-outside-subnet"),
    pytest.param(
        variant('["a:eth1", "b:eth1"]', '["a:eth1", "host:veth-a"]  # <-'),
        "special endpoint 'host' is not supported by the netns backend", "use the containerlab backend",
        id="host-endpoint"),
    pytest.param(
        variant('    - endpoints: ["a:eth1", "b:eth1"]\n',
                '    - endpoints: ["a:eth1", "b:eth1"]\n      type: vxlan  # <-\n'),
        "topology.links[0].type: link type 'vxlan' is not supported by the netns backend", "use type: veth",
        id="vxlan-link"),
    pytest.param(
        variant('    - endpoints: ["a:eth1", "b:eth1"]\n', '    - endpoints: ["a:eth1"]  # <-\n'),
        "a link needs exactly two endpoints, found 1", 'write endpoints: ["a:eth1", "b:eth1"]', id="one-endpoint"),
    pytest.param(
        variant("name: lab\n", "name: lab\nname: lab2  # <-\n"),
        "duplicate key 'name' (first on line 1)", "fix the YAML syntax", id="duplicate-yaml-key"),
    pytest.param(
        variant("    b:\n", "    b: kind: linux  # <-\n"),
        "invalid YAML: mapping values are not allowed here", "fix the YAML syntax", id="yaml-syntax-error"),
    pytest.param(
        variant("  nodes:\n", "\tnodes:  # <-\n"),
        "found character '\\t' that cannot start any token", "fix the YAML syntax", id="yaml-tab"),
    pytest.param(
        "- name: lab  # <-\n", "expected a mapping, found a list", "write key: value pairs", id="not-a-mapping"),
    pytest.param(
        variant("  defaults:\n    kind: linux\n", "").replace("    a:\n", "    a:  # <-\n"),
        "node 'a' has no kind", "set kind: linux", id="node-without-kind"),
    pytest.param(
        variant("    b:\n", "    b:\n      group: routers  # <-\n"),
        "topology.nodes.b.group: unknown group", "define it under topology.groups", id="unknown-group"),
    pytest.param(
        variant("    b:\n", "    b:\n      binds: [relative/target]  # <-\n"),
        "topology.nodes.b.binds[0]: invalid bind", "source:target", id="bad-bind"),
    pytest.param(
        variant("    b:\n", "    b:\n      env: [A=1]  # <-\n"),
        "topology.nodes.b.env: expected a mapping, found a list", "write key: value pairs", id="env-not-mapping"),
    pytest.param(
        variant("name: lab\n", "name: my lab  # <-\n"),
        "name: invalid lab name", "use letters, digits", id="bad-lab-name"),
    pytest.param("", "the topology file is empty", "write a topology mapping", id="empty-file"),
    pytest.param("# only a comment\n", "the topology file is empty", "write a topology mapping", id="comments-only"),
    pytest.param(MISSING_FILE, "topology file not found", "check the path", id="missing-file"),
    pytest.param(DIRECTORY, "expected a topology file, found a directory", "name the topology file inside it",
                 id="directory"),
]


@pytest.mark.parametrize(("text", "problem", "fix"), INVALID_TOPOLOGIES)
def test_topology_invalid(tmp_path: Path, text: str, problem: str, fix: str) -> None:
    path = tmp_path / "lab.clab.yml"
    if text == DIRECTORY:
        path.mkdir()
    elif text != MISSING_FILE:
        path.write_text(text, encoding="utf-8")
    line = line_of(text, MARKER) if MARKER in text else None

    with pytest.raises(TopologyError) as caught:
        load_topology(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert caught.value.line == line
    assert problem in message
    assert fix in message
