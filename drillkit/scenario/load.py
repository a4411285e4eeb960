"""Load and validate scenario files into ``Scenario`` objects.

Every problem raises ScenarioError naming the file, line, field, value and fix.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from pathlib import Path
from typing import Any

from .. import yamldoc
from ..errors import ConfigError, ScenarioError
from ..lab.topology import Topology
from ..yamldoc import Field, YList, YMap
from . import refs
from .model import (FAULT_KINDS, ConsoleLineSpec, PROBE_KINDS, PROBE_ROLES, SLA_NAMES, STEP_KINDS, FaultSpec, LabRef,
                    Origin, ProbeSpec, Scenario, StepSpec, StopConditions, Timing)

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
TOP_KEYS = {"name", "description", "tags", "lab", "vars", "faults", "probes", "steps", "sla",
            "timing", "stop_conditions", "verify", "hardening"}
PROBE_COMMON = {"name", "kind", "from", "interval", "timeout", "failure_threshold", "success_threshold", "role"}
PROBE_KEYS = {
    "tcp": PROBE_COMMON | {"target"},
    "ping": PROBE_COMMON | {"target"},
    "http": PROBE_COMMON | {"url", "expect_status", "expect_regex"},
    "command": PROBE_COMMON | {"command", "expect_exit", "expect_regex"},
    "freshness": PROBE_COMMON | {"url", "command", "field", "field_type", "tolerance"},
    "routing": PROBE_COMMON | {"check", "neighbor", "prefix", "state", "via"},
}
FAULT_KEYS = {
    "link_down": {"name", "kind", "link", "ends", "via"},
    "blackhole": {"name", "kind", "node", "link", "prefix"},
    "node_isolation": {"name", "kind", "node"},
    "node_stop": {"name", "kind", "node"},
    "command": {"name", "kind", "node", "inject", "restore"},
    "external": {"name", "kind", "inject", "restore"},
    "manual": {"name", "kind", "inject", "restore"},
    "toxiproxy": {"name", "kind", "server", "from", "proxy", "toxic", "attributes", "stream", "toxicity",
                  "api_timeout"},
}
STEP_COMMON = {"name", "kind", "timeout", "continue_on_error"}
STEP_KEYS = {
    "jail": STEP_COMMON | {"run", "script", "args", "env"},
    "ssh": STEP_COMMON | {"node", "command", "user"},
    "console": STEP_COMMON | {"node", "transport", "commands", "user", "password", "url", "prompt", "clear_line"},
    "python": STEP_COMMON | {"call"},
    "operator": STEP_COMMON | {"instructions", "node"},
    "device": STEP_COMMON | {"node", "device", "via", "commands", "config"},
    "wait": STEP_COMMON | {"probe", "probes"},
    "sleep": STEP_COMMON | {"duration"},
}
#: Names a probe's ``from`` may take besides node names.
SPECIAL_VANTAGES = ("jail", "mgmt", "local")


def load_scenario(path: str | Path, *, text: str | None = None, check_lab: bool = True) -> Scenario:
    """Read and validate a scenario file.

    Args:
        path: the scenario file (also names it in errors when ``text`` is given).
        text: the document, when not read from ``path``.
        check_lab: also load the topology and check node, link and vantage names against it.

    Raises:
        ScenarioError: the scenario is invalid.
        TopologyError: the topology it names is invalid.
    """
    path = str(path)
    raw = yamldoc.load(path, error=ScenarioError, text=text, what="scenario")
    base = Path(path).resolve().parent
    root = Field(raw, path, error=ScenarioError).mapping()
    root.check_keys(TOP_KEYS)

    variables = _load_vars(root)
    secrets: set[str] = set()
    resolved = _resolve_tree(raw, root, variables, base, secrets)
    root = Field(resolved, path, error=ScenarioError).mapping()

    name = root.require("name", "add name: <scenario name>").str()
    if not _NAME.match(name):
        raise root["name"].fail("invalid scenario name", "use letters, digits, '-', '_' and '.'")
    lab_field = root.require("lab", "add lab: {topology: path/to/lab.clab.yml}")
    lab = _load_lab(lab_field, base)

    faults = tuple(_load_fault(f) for f in root.require("faults", "add at least one fault").sequence())
    if not faults:
        raise root["faults"].fail("a drill needs at least one fault", "add a fault under faults:")
    probes = tuple(_load_probe(p) for p in root.require("probes", "add at least one probe").sequence())
    if not any(p.role == "detect" for p in probes):
        raise root["probes"].fail("no probe has role detect, so the outage cannot be measured",
                                  "give at least one probe role: detect (the default)")
    steps = tuple(_load_step(s) for s in root["steps"].sequence()) if root.has("steps") else ()
    verify = tuple(_load_probe(p) for p in root["verify"].sequence()) if root.has("verify") else ()
    sla = _load_sla(root["sla"]) if root.has("sla") else {}
    timing = _load_timing(root["timing"]) if root.has("timing") else Timing()
    stop = _load_stop(root["stop_conditions"]) if root.has("stop_conditions") else StopConditions()
    tags = tuple(root["tags"].str_list()) if root.has("tags") else ()
    hardening: tuple[str, ...] = ()
    if root.has("hardening"):
        from ..oob.hardening import CHECKS

        if root["hardening"].value == "all":
            hardening = CHECKS
        else:
            hardening = tuple(item.str(choices=CHECKS) for item in root["hardening"].sequence())
    description = root["description"].str(allow_empty=True) if root.has("description") else ""

    _check_unique(root, "faults", faults)
    _check_unique(root, "probes", probes)
    _check_unique(root, "steps", steps)
    probe_names = {p.name for p in probes}
    for step, sf in zip(steps, root["steps"].sequence() if root.has("steps") else []):
        if step.kind != "wait" or step.probes == ("all",):
            continue
        ref = sf["probe"] if sf.has("probe") else sf["probes"]
        for probe, pf in zip(step.probes, [ref] if isinstance(ref.value, str) else ref.sequence()):
            if probe not in probe_names:
                raise pf.fail(f"step {step.name!r} waits for unknown probe",
                              f"name one of the probes ({', '.join(sorted(probe_names))}) or write all")
    for guard in stop.guard_probes:
        if guard not in probe_names:
            raise root["stop_conditions"]["guard_probes"].fail(
                f"unknown probe {guard!r}", f"probes: {', '.join(sorted(probe_names))}", show_value=False)
    if "stale_data" in sla and not any(p.kind == "freshness" for p in probes):
        raise root["sla"]["stale_data"].fail("a stale_data target needs a freshness probe",
                                             "add a probe of kind freshness, or remove the target")

    scenario = Scenario(name=name, path=path, lab=lab, faults=faults, probes=probes, steps=steps, sla=sla,
                        timing=timing, stop=stop, verify=verify, description=description, tags=tags,
                        hardening=hardening,
                        secrets=frozenset(secrets))
    if check_lab:
        if not Path(lab.topology).is_file():
            topology_field = lab_field["topology"] if lab_field.has("topology") else \
                (lab_field["testbed"] if lab_field.has("testbed") else lab_field)
            raise topology_field.fail(f"no topology file at {lab.topology}", "paths are relative to the scenario file")
        from ..lab import load_lab_topology

        check_against_topology(scenario, load_lab_topology(lab.topology, lab.backend), root)
    return scenario


def _load_vars(root: Field) -> dict[str, str]:
    if not root.has("vars"):
        return {}
    out = {}
    for key, vf in root["vars"].items():
        if isinstance(vf.value, (dict, list)) or vf.value is None:
            raise vf.fail("a variable must be a plain value", "write name: value")
        out[key] = str(vf.value).lower() if isinstance(vf.value, bool) else str(vf.value)
    return out


def _resolve_tree(value: Any, f: Field, variables: dict[str, str], base: Path, secrets: set[str]) -> Any:
    """Return a copy of the document with references resolved, keeping line information."""
    if isinstance(value, dict):
        out = YMap()
        out.line = getattr(value, "line", f.line)
        out.key_lines = dict(getattr(value, "key_lines", {}))
        for key in value:
            if f.field == "" and key == "vars":
                out[key] = value[key]
                continue
            out[key] = _resolve_tree(value[key], f[key], variables, base, secrets)
        return out
    if isinstance(value, list):
        out_list = YList()
        out_list.line = getattr(value, "line", f.line)
        out_list.item_lines = list(getattr(value, "item_lines", [f.line] * len(value)))
        for item, child in zip(value, f.sequence()):
            out_list.append(_resolve_tree(item, child, variables, base, secrets))
        return out_list
    if isinstance(value, str) and "${" in value:
        try:
            return refs.resolve(value, variables=variables, base=base, secrets=secrets)
        except refs.RefError as exc:
            raise f.fail(str(exc), show_value=False) from None
    return value


def _origin(f: Field) -> Origin:
    return Origin(f.path, f.line)


def _resolve_path(f: Field, base: Path) -> Path:
    try:
        return (base / f.str()).resolve()
    except (OSError, ValueError, RuntimeError):
        # A NUL character raises ValueError, and a symlink loop OSError or RuntimeError.
        raise f.fail("invalid path", "write a path relative to the scenario file") from None


def _load_lab(f: Field, base: Path) -> LabRef:
    if isinstance(f.value, str):
        return LabRef(topology=str(_resolve_path(f, base)))
    f.mapping()
    f.check_keys({"topology", "testbed", "backend", "manage"})
    if f.has("testbed"):
        return LabRef(topology=str(_resolve_path(f["testbed"], base)), backend="physical")
    topo = _resolve_path(f.require("topology", "name the containerlab topology file, or testbed: for a physical "
                                               "lab"), base)
    backend = f["backend"].str(choices=("netns", "containerlab", "physical")) if f.has("backend") else "netns"
    manage = f["manage"].bool() if f.has("manage") else False
    return LabRef(topology=str(topo), backend=backend, manage=manage)


def _kind(f: Field, choices: tuple[str, ...], what: str) -> str:
    kind = f.require("kind", f"add kind: one of {', '.join(choices)}")
    return kind.str(choices=choices)


def _name(f: Field, what: str) -> str:
    nf = f.require("name", f"give the {what} a name")
    name = nf.str()
    if not _NAME.match(name):
        raise nf.fail(f"invalid {what} name", "use letters, digits, '-', '_' and '.'")
    return name


def _load_fault(f: Field) -> FaultSpec:
    f.mapping()
    kind = _kind(f, FAULT_KINDS, "fault")
    f.check_keys(FAULT_KEYS[kind])
    name = _name(f, "fault")
    common = dict(name=name, kind=kind, origin=_origin(f))
    if kind == "link_down":
        ends = tuple(f["ends"].str_list()) if f.has("ends") else ("both",)
        return FaultSpec(link=f.require("link", "name the link as node:interface").str(), ends=ends,
                         via=f["via"].str() if f.has("via") else None, **common)
    if kind == "blackhole":
        if f.has("prefix") == f.has("link"):
            raise f.fail("a blackhole needs either prefix (with node) or link", "set one of them", show_value=False)
        prefix = None
        if f.has("prefix"):
            try:
                prefix = str(ipaddress.ip_network(f["prefix"].str(), strict=False))
            except ValueError:
                raise f["prefix"].fail("invalid prefix", "write it as 10.1.0.0/16") from None
            node = f.require("node", "name the node whose traffic to the prefix is dropped").str()
            return FaultSpec(node=node, prefix=prefix, **common)
        return FaultSpec(link=f["link"].str(), node=f["node"].str() if f.has("node") else None, **common)
    if kind == "toxiproxy":
        from ..faults.toxiproxy import load_spec

        return load_spec(f, common)
    if kind in ("external", "manual"):
        what = "command" if kind == "external" else "instructions for the person"
        return FaultSpec(inject=f.require("inject", f"give the inject {what}").str(),
                         restore=f.require("restore", f"give the restore {what}").str(), **common)
    if kind in ("node_isolation", "node_stop"):
        return FaultSpec(node=f.require("node").str(), **common)
    return FaultSpec(node=f.require("node", "name the node the commands run in").str(),
                     inject=f.require("inject", "give the command that injects the fault").str(),
                     restore=f.require("restore", "give the command that undoes the fault").str(), **common)


def _load_probe(f: Field) -> ProbeSpec:
    f.mapping()
    kind = _kind(f, PROBE_KINDS, "probe")
    f.check_keys(PROBE_KEYS[kind])
    name = _name(f, "probe")
    interval = f["interval"].duration(minimum=0.05) if f.has("interval") else 1.0
    timeout = f["timeout"].duration(allow_zero=False) if f.has("timeout") else min(interval, 1.0)
    spec: dict[str, Any] = dict(
        name=name, kind=kind, origin=_origin(f),
        vantage=f.require("from", "name the node (or jail) the probe runs from").str(),
        interval_s=interval, timeout_s=timeout,
        failure_threshold=f["failure_threshold"].int(minimum=1, maximum=1000) if f.has("failure_threshold") else 2,
        success_threshold=f["success_threshold"].int(minimum=1, maximum=1000) if f.has("success_threshold") else 1,
        role=f["role"].str(choices=PROBE_ROLES) if f.has("role") else "detect",
    )
    if kind in ("tcp", "ping"):
        tf = f.require("target", "write target: ADDRESS:PORT" if kind == "tcp" else "write target: ADDRESS")
        spec["target"] = _check_target(tf, with_port=kind == "tcp")
    elif kind == "http":
        spec["url"] = _check_url(f.require("url", "write url: http://ADDRESS:PORT/path"))
        if f.has("expect_status"):
            spec["expect_status"] = f["expect_status"].int(minimum=100, maximum=599)
    elif kind == "routing":
        check = f.require("check", "set check: ospf_neighbor, bgp_neighbor or route").str(
            choices=("ospf_neighbor", "bgp_neighbor", "route"))
        spec["routing_check"] = check
        if check == "route":
            pf = f.require("prefix", "give the prefix, e.g. 192.168.2.0/24")
            try:
                spec["target"] = str(ipaddress.ip_network(pf.str(), strict=False))
            except ValueError:
                raise pf.fail("invalid prefix", "write it as 192.168.2.0/24") from None
            if f.has("via"):
                spec["routing_via"] = f["via"].str()
        else:
            spec["target"] = _check_target(f.require("neighbor", "give the neighbor's address or router id"),
                                           with_port=False)
            if f.has("state"):
                spec["routing_state"] = f["state"].str()
    elif kind == "command":
        spec["command"] = f.require("command", "give the shell command to run").str()
        if f.has("expect_exit"):
            spec["expect_exit"] = f["expect_exit"].int(minimum=0, maximum=255)
    else:
        if f.has("url") == f.has("command"):
            raise f.fail("a freshness probe reads its value from either url or command", "set exactly one",
                         show_value=False)
        if f.has("url"):
            spec["url"] = _check_url(f["url"])
        else:
            spec["command"] = f["command"].str()
        spec["field"] = f["field"].str() if f.has("field") else "age_s"
        spec["field_type"] = f["field_type"].str(choices=("age", "timestamp")) if f.has("field_type") else "age"
        spec["tolerance_s"] = f.require("tolerance", "give the data age the workload tolerates, e.g. 5s").duration(
            allow_zero=False)
    if f.has("expect_regex"):
        rf = f["expect_regex"]
        try:
            re.compile(rf.str())
        except re.error as exc:
            raise rf.fail(f"invalid regular expression: {exc}",
                          "write a Python regular expression; escape literal brackets with a backslash") from None
        spec["expect_regex"] = rf.str()
    return ProbeSpec(**spec)


def _check_target(f: Field, *, with_port: bool) -> str:
    text = f.str()
    host, port = text, None
    if with_port:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise f.fail("invalid target", "write it as ADDRESS:PORT, for example 10.1.1.10:8080")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise f.fail(f"invalid address {host!r}", "give an IP address inside the lab") from None
    return text


def _check_url(f: Field) -> str:
    url = f.str()
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise f.fail("invalid URL", "write it as http://ADDRESS:PORT/path")
    return url


def _load_step(f: Field) -> StepSpec:
    f.mapping()
    kind = _kind(f, STEP_KINDS, "step")
    f.check_keys(STEP_KEYS[kind])
    spec: dict[str, Any] = dict(name=_name(f, "step"), kind=kind, origin=_origin(f))
    if f.has("timeout"):
        spec["timeout_s"] = f["timeout"].duration(allow_zero=False)
    if f.has("continue_on_error"):
        spec["continue_on_error"] = f["continue_on_error"].bool()
    if kind == "jail":
        if f.has("run") == f.has("script"):
            raise f.fail("a jail step needs either run (a shell command) or script (a file)", "set exactly one",
                         show_value=False)
        if f.has("run"):
            spec["command"] = f["run"].str()
        else:
            script = _resolve_path(f["script"], Path(f.path).resolve().parent)
            if not script.is_file():
                raise f["script"].fail(f"script not found at {script}", "paths are relative to the scenario file")
            spec["script"] = str(script)
        if f.has("args"):
            spec["args"] = tuple(f["args"].str_list())
        if f.has("env"):
            spec["env"] = {k: v.str(allow_empty=True) for k, v in f["env"].items()}
    elif kind == "ssh":
        spec["node"] = f.require("node", "name the node to reach over its management address").str()
        spec["command"] = f.require("command", "give the command to run on the node").str()
        if f.has("user"):
            spec["user"] = f["user"].str()
    elif kind == "console":
        _load_console_step(f, spec)
    elif kind == "device":
        node = f["device"] if f.has("device") else f.require("node", "name the device")
        spec["node"] = node.str()
        if f.has("via"):
            spec["via"] = f["via"].str()
        if f.has("config") == f.has("commands"):
            raise f.fail("a device step needs commands (exec mode) or config (config mode lines)",
                         "set exactly one", show_value=False)
        spec["config"] = f.has("config")
        lines = f["config"] if f.has("config") else f["commands"]
        spec["console_lines"] = tuple(ConsoleLineSpec(send=line) for line in lines.str_list())
    elif kind == "operator":
        spec["command"] = f.require("instructions", "tell the operator what to do").str()
        if f.has("node"):
            spec["node"] = f["node"].str()
        if not f.has("timeout"):
            spec["timeout_s"] = 1800.0
    elif kind == "python":
        call = f.require("call", "write call: path/to/file.py:function").str()
        if ":" not in call:
            raise f["call"].fail("invalid call", "write it as path/to/file.py:function or package.module:function")
        spec["command"] = call
    elif kind == "wait":
        if f.has("probe") == f.has("probes"):
            raise f.fail("a wait step needs probe (one name) or probes (a list, or all)", "set exactly one",
                         show_value=False)
        spec["probes"] = tuple(f["probe"].str_list() if f.has("probe") else f["probes"].str_list())
    else:
        spec["duration_s"] = f.require("duration", "give how long to wait, e.g. 5s").duration()
    return StepSpec(**spec)


def _load_console_step(f: Field, spec: dict[str, Any]) -> None:
    from ..oob.console import TRANSPORTS

    spec["node"] = f.require("node", "name the node whose console to use").str()
    spec["transport"] = f["transport"].str(choices=TRANSPORTS) if f.has("transport") else "ssh"
    if f.has("user"):
        spec["user"] = f["user"].str()
    if f.has("password"):
        spec["password"] = f["password"].str()
    if f.has("url"):
        spec["url"] = f["url"].str()
    if spec["transport"] == "serial" and not f.has("url"):
        raise f.fail("transport serial needs url", "set url: /dev/ttyUSB0 or rfc2217://HOST:PORT", show_value=False)
    if f.has("prompt"):
        spec["prompt"] = _regex(f["prompt"])
    if f.has("clear_line"):
        spec["clear_line"] = f["clear_line"].bool()
    lines = []
    for item in f.require("commands", "list the lines to send, e.g. - send: ip link set eth1 up").sequence():
        if isinstance(item.value, str):
            lines.append(ConsoleLineSpec(send=item.str(allow_empty=True)))
            continue
        item.mapping()
        item.check_keys({"send", "expect", "timeout", "hide"})
        lines.append(ConsoleLineSpec(
            send=item.require("send", "give the line to send").str(allow_empty=True),
            expect=_regex(item["expect"]) if item.has("expect") else None,
            timeout_s=item["timeout"].duration(allow_zero=False) if item.has("timeout") else 10.0,
            hide=item["hide"].bool() if item.has("hide") else False))
    spec["console_lines"] = tuple(lines)


def _regex(f: Field) -> str:
    text = f.str()
    try:
        re.compile(text)
    except re.error as exc:
        raise f.fail(f"invalid regular expression: {exc}") from None
    return text


def _load_sla(f: Field) -> dict[str, float]:
    f.check_keys(set(SLA_NAMES))
    return {key: vf.duration(allow_zero=False) for key, vf in f.items()}


def _load_timing(f: Field) -> Timing:
    f.check_keys({"baseline", "settle", "detect_timeout", "recover_timeout", "steps_start"})
    defaults = Timing()
    return Timing(
        baseline_s=f["baseline"].duration() if f.has("baseline") else defaults.baseline_s,
        settle_s=f["settle"].duration() if f.has("settle") else defaults.settle_s,
        detect_timeout_s=f["detect_timeout"].duration(allow_zero=False) if f.has("detect_timeout")
        else defaults.detect_timeout_s,
        recover_timeout_s=f["recover_timeout"].duration(allow_zero=False) if f.has("recover_timeout")
        else defaults.recover_timeout_s,
        steps_start=f["steps_start"].str(choices=("on_detect", "on_inject")) if f.has("steps_start")
        else defaults.steps_start,
    )


def _load_stop(f: Field) -> StopConditions:
    f.check_keys({"max_outage", "guard_probes"})
    return StopConditions(
        max_outage_s=f["max_outage"].duration(allow_zero=False) if f.has("max_outage") else None,
        guard_probes=tuple(f["guard_probes"].str_list()) if f.has("guard_probes") else (),
    )


def _check_unique(root: Field, section: str, items: tuple) -> None:
    seen: dict[str, int | None] = {}
    for item, f in zip(items, root[section].sequence() if root.has(section) else []):
        if item.name in seen:
            raise f.fail(f"duplicate name {item.name!r} (first on line {seen[item.name]})",
                         "give each entry its own name", show_value=False)
        seen[item.name] = f.line


def check_against_topology(scenario: Scenario, topo: Topology, root: Field | None = None) -> None:
    """Check that the nodes, links and vantage points of ``scenario`` exist in ``topo``.

    With ``root`` (the scenario document), an error names the line of the offending
    field. Without it, the error names the line where the fault, probe or step starts.
    """
    nodes = set(topo.nodes)

    def fail(section: str, index: int, origin: Origin, name: str, key: str, problem: str, value: str,
             fix: str) -> ConfigError:
        line = origin.line
        items = root[section].sequence() if root is not None and root.has(section) else []
        if index < len(items) and items[index].has(key):
            line = items[index][key].line
        return ScenarioError(problem, path=origin.path, line=line, field=f"{section}.{name}.{key}", value=value,
                             fix=fix)

    node_fix = f"nodes in {Path(topo.path).name}: {', '.join(sorted(nodes))}"
    for index, fault in enumerate(scenario.faults):
        if fault.node and fault.node not in nodes:
            raise fail("faults", index, fault.origin, fault.name, "node", "unknown node", fault.node, node_fix)
        if fault.link:
            link = topo.find_link(fault.link)
            if link is None:
                choices = ", ".join(link.name for link in topo.links) or "the topology has no links"
                raise fail("faults", index, fault.origin, fault.name, "link", "no such link", fault.link,
                           f"name one endpoint (node:interface) of a link: {choices}")
            for end in fault.ends:
                if end not in ("both", "a", "b") and end not in (str(link.a), str(link.b), link.a.node, link.b.node):
                    raise fail("faults", index, fault.origin, fault.name, "ends", "invalid end", end,
                               f"use both, a, b, or an endpoint of the link ({link.a}, {link.b})")
        vantage = fault.params.get("from")
        if vantage is not None and vantage not in nodes and vantage not in SPECIAL_VANTAGES:
            raise fail("faults", index, fault.origin, fault.name, "from", "unknown vantage point", vantage,
                       f"use a node name, jail or mgmt; {node_fix}")
        if fault.kind == "node_isolation" and not topo.node_links(fault.node or ""):
            raise fail("faults", index, fault.origin, fault.name, "node", "the node has no primary links to cut",
                       fault.node or "", "pick a node with links")
    for section, probes in (("probes", scenario.probes), ("verify", scenario.verify)):
        for index, probe in enumerate(probes):
            if probe.vantage not in nodes and probe.vantage not in SPECIAL_VANTAGES:
                raise fail(section, index, probe.origin, probe.name, "from", "unknown vantage point", probe.vantage,
                           f"use a node name or jail; {node_fix}")
            if probe.vantage in nodes and topo.nodes[probe.vantage].kind == "bridge":
                raise fail(section, index, probe.origin, probe.name, "from", "a bridge cannot run probes",
                           probe.vantage, "use a linux node")
    for index, step in enumerate(scenario.steps):
        if step.kind == "ssh" and step.node not in nodes:
            raise fail("steps", index, step.origin, step.name, "node", "unknown node", step.node or "", node_fix)
