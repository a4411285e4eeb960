"""Property-based tests: the scenario loader fails only with ConfigError on bad input.

Hypothesis feeds ``load_scenario`` (with ``check_lab=True``) random YAML
documents, references, and mutations of the bundled scenarios. Each call either
returns a Scenario or raises a ConfigError subclass whose message names the
scenario file. Any other exception fails the test with its traceback.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.errors import ConfigError
from drillkit.scenario.load import load_scenario
from drillkit.scenario.model import Scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
SCENARIO_TEXTS = {str(path): path.read_text(encoding="utf-8") for path in SCENARIOS}
SCENARIO_TREES = {path: yaml.safe_load(text) for path, text in SCENARIO_TEXTS.items()}
#: A path inside scenarios/, so relative paths in random documents resolve as in the bundled files.
RANDOM_PATH = str(REPO / "scenarios" / "fuzz-random.yaml")

FUZZ_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Field names of the scenario schema, so random documents reach past the first check.
KNOWN_KEYS = [
    "name", "description", "tags", "lab", "vars", "faults", "probes", "steps", "sla", "timing",
    "stop_conditions", "verify", "topology", "backend", "manage", "kind", "link", "ends", "node",
    "prefix", "inject", "restore", "from", "interval", "timeout", "failure_threshold",
    "success_threshold", "role", "target", "url", "expect_status", "expect_regex", "command",
    "expect_exit", "field", "field_type", "tolerance", "run", "script", "args", "env", "user",
    "probe", "probes", "duration", "continue_on_error", "detect", "recover", "stale_data",
    "guard_probes", "max_outage", "baseline", "settle", "steps_start",
]
#: Values that are valid somewhere in the schema, or nearly so.
PLAUSIBLE_STRINGS = [
    "../labs/edge-ai/edge-ai.clab.yml", "../labs/edge-ai", "playbooks/restore-link.sh", "playbooks",
    "link_down", "blackhole", "node_isolation", "tcp", "ping", "http", "freshness", "jail", "ssh",
    "wait", "sleep", "noc", "core", "sw", "jail", "core:eth2", "core:eth2--edge1:eth1", "core:eth9",
    "10.1.1.10:8080", "10.1.1.10", "[::1]:80", "http://127.0.0.1:8080/health", "500ms", "2s",
    "1m30s", "-1s", "fast", "all", "both", "a", "detect", "guard", "10.1.0.0/16", "(", "state UP",
    "", "noc-to-inf1", "${var:inf1}", "${var:missing}", "${env:HOME}", "${env:}",
]
#: References whose targets the test controls. File references stay inside scenarios/.
REFERENCES = st.builds(
    "${{{}:{}}}".format,
    st.sampled_from(["var", "env", "file"]),
    st.one_of(
        st.sampled_from(["inf1", "inf2", "DRILLKIT_FUZZ_UNSET", "", " ", "playbooks", "playbooks/restore-link.sh",
                         "missing.txt", "..", "\x00", "~drillkit-no-such-user/x", "../labs/edge-ai/edge_service.py"]),
        st.text(alphabet="abcXYZ_09", max_size=6),
    ),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(PLAUSIBLE_STRINGS),
    REFERENCES,
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)
#: Characters that change YAML structure when inserted into a document.
yaml_noise = st.text(alphabet=st.sampled_from(list(":-[]{}#&*!|>'\"%@`,?\t\n $") + ["\\", "\u00e9", "\x00"]),
                     min_size=1, max_size=6)


def load_or_config_error(path: str, text: str) -> None:
    """Load ``text`` and pass on success or on a ConfigError that names ``path``."""
    try:
        scenario = load_scenario(path, text=text, check_lab=True)
    except ConfigError as exc:
        assert path in str(exc)
    else:
        assert isinstance(scenario, Scenario)


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
def mutated_trees(draw: st.DrawFn) -> tuple[str, str]:
    """Pick a bundled scenario and apply one to three deletions, replacements or insertions."""
    path = draw(st.sampled_from(sorted(SCENARIO_TREES)))
    tree = copy.deepcopy(SCENARIO_TREES[path])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(node_paths(tree)))
        operation = draw(st.sampled_from(["delete", "replace", "insert"]))
        if not target:
            if operation == "replace":
                tree = draw(documents)
            continue
        parent = container_at(tree, target[:-1])
        if operation == "delete":
            del parent[target[-1]]
        elif operation == "replace":
            parent[target[-1]] = draw(documents)
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(documents)
        else:
            parent.insert(draw(st.integers(min_value=0, max_value=len(parent))), draw(documents))
    return path, yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


@st.composite
def mutated_texts(draw: st.DrawFn) -> tuple[str, str]:
    """Pick a bundled scenario and apply one to three line or character edits to its text."""
    path = draw(st.sampled_from(sorted(SCENARIO_TEXTS)))
    text = SCENARIO_TEXTS[path]
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
            noise = draw(st.one_of(yaml_noise, st.text(min_size=1, max_size=6), REFERENCES))
            text = text[:position] + noise + text[position:]
    return path, text


@FUZZ_SETTINGS
@given(document=documents)
def test_scenario_fuzz_random_documents(document: object) -> None:
    load_or_config_error(RANDOM_PATH, yaml.safe_dump(document, allow_unicode=True))


@FUZZ_SETTINGS
@given(text=st.text(max_size=200))
def test_scenario_fuzz_random_text(text: str) -> None:
    load_or_config_error(RANDOM_PATH, text)


@FUZZ_SETTINGS
@given(case=mutated_trees())
def test_scenario_fuzz_mutated_tree(case: tuple[str, str]) -> None:
    path, text = case
    load_or_config_error(path, text)


@FUZZ_SETTINGS
@given(case=mutated_texts())
def test_scenario_fuzz_mutated_text(case: tuple[str, str]) -> None:
    path, text = case
    load_or_config_error(path, text)
