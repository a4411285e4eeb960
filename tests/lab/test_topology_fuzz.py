"""Property-based tests: the topology loader fails only with ConfigError on bad input.

Hypothesis feeds ``load_topology`` random YAML documents and mutations of the
bundled edge-ai lab. Each call either returns a Topology or raises a
ConfigError subclass whose message names the file. Any other exception fails
the test with its traceback.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.errors import ConfigError
from drillkit.lab.topology import Topology, load_topology

REPO = Path(__file__).resolve().parents[2]
EDGE_AI = REPO / "labs" / "edge-ai" / "edge-ai.clab.yml"
EDGE_AI_TEXT = EDGE_AI.read_text(encoding="utf-8")
EDGE_AI_TREE = yaml.safe_load(EDGE_AI_TEXT)
RANDOM_PATH = "fuzz/random.clab.yml"

FUZZ_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Field names of the topology schema, so random documents reach past the first check.
KNOWN_KEYS = [
    "name", "prefix", "mgmt", "topology", "defaults", "kinds", "groups", "nodes", "links",
    "kind", "group", "image", "exec", "binds", "env", "labels", "mgmt-ipv4", "startup-config",
    "endpoints", "type", "node", "interface", "network", "ipv4-subnet", "ipv4-gw",
    "linux", "bridge", "noc", "core", "edge1",
]
#: Values that are valid somewhere in the schema, or nearly so.
PLAUSIBLE_STRINGS = [
    "linux", "bridge", "nokia_srlinux", "noc:eth1", "core:eth1", "core:eth0", "host:eth1",
    "noc:eth1:x", "edge-ai", "__lab-name", "", "clab", "172.20.20.5", "172.20.20.0/24",
    "10.0.0.0/8", "::1", "a:/b:ro", "a:b", "veth", "vxlan", "inference",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(PLAUSIBLE_STRINGS),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)
#: Characters that change YAML structure when inserted into a document.
yaml_noise = st.text(alphabet=st.sampled_from(list(":-[]{}#&*!|>'\"%@`,?\t\n ") + ["\\", "\u00e9", "\x00"]),
                     min_size=1, max_size=6)


def load_or_config_error(path: str, text: str) -> None:
    """Load ``text`` and pass on success or on a ConfigError that names ``path``."""
    try:
        topo = load_topology(path, text=text)
    except ConfigError as exc:
        assert path in str(exc)
    else:
        assert isinstance(topo, Topology)


def node_paths(tree: object, prefix: tuple = ()) -> list[tuple]:
    """List the paths (tuples of keys and indexes) of every value in ``tree``, root first."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += node_paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += node_paths(value, prefix + (index,))
    return found


def container_at(tree: object, path: tuple) -> object:
    for step in path:
        tree = tree[step]
    return tree


@st.composite
def mutated_trees(draw: st.DrawFn, original: object) -> str:
    """Apply one to three deletions, replacements or insertions to a copy of ``original``."""
    tree = copy.deepcopy(original)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = node_paths(tree)
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(["delete", "replace", "insert"]))
        if not path:
            if operation == "replace":
                tree = draw(documents)
            continue
        parent = container_at(tree, path[:-1])
        if operation == "delete":
            del parent[path[-1]]
        elif operation == "replace":
            parent[path[-1]] = draw(documents)
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(documents)
        else:
            parent.insert(draw(st.integers(min_value=0, max_value=len(parent))), draw(documents))
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


@st.composite
def mutated_texts(draw: st.DrawFn, original: str) -> str:
    """Apply one to three line or character edits to ``original``."""
    text = original
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        operation = draw(st.sampled_from(["truncate", "duplicate_line", "delete_line", "insert"]))
        lines = text.splitlines(keepends=True)
        if operation == "truncate":
            text = text[:draw(st.integers(min_value=0, max_value=len(text)))]
        elif operation == "duplicate_line" and lines:
            source = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            target = draw(st.integers(min_value=0, max_value=len(lines)))
            lines.insert(target, lines[source])
            text = "".join(lines)
        elif operation == "delete_line" and lines:
            del lines[draw(st.integers(min_value=0, max_value=len(lines) - 1))]
            text = "".join(lines)
        else:
            position = draw(st.integers(min_value=0, max_value=len(text)))
            noise = draw(st.one_of(yaml_noise, st.text(min_size=1, max_size=6)))
            text = text[:position] + noise + text[position:]
    return text


@FUZZ_SETTINGS
@given(document=documents)
def test_topology_fuzz_random_documents(document: object) -> None:
    load_or_config_error(RANDOM_PATH, yaml.safe_dump(document, allow_unicode=True))


@FUZZ_SETTINGS
@given(text=st.text(max_size=200))
def test_topology_fuzz_random_text(text: str) -> None:
    load_or_config_error(RANDOM_PATH, text)


@FUZZ_SETTINGS
@given(text=mutated_trees(EDGE_AI_TREE))
def test_topology_fuzz_mutated_tree(text: str) -> None:
    load_or_config_error(str(EDGE_AI), text)


@FUZZ_SETTINGS
@given(text=mutated_texts(EDGE_AI_TEXT))
def test_topology_fuzz_mutated_text(text: str) -> None:
    load_or_config_error(str(EDGE_AI), text)
