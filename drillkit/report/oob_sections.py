"""Rows of the report's out-of-band sections, built from the journal's events.

These cover in-band violations, OOB hardening findings, the time to OOB access
per node, console notes and operator console sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.analysis import Analysis
from .formatting import format_seconds, summary_fields

HARDENING_DESCRIPTIONS = {
    "console_auth": "the console server rejects an SSH login without credentials",
    "default_passwords": "the console server rejects well-known default passwords",
    "prod_to_oob": "no production interface of any node reaches the OOB network",
    "telnet_exposure": "no console line is open to telnet or RFC 2217 without a login",
}

# Fields of a violation event that the Violations table shows in their own columns.
# Any other field is listed in the detail cell, so no recorded fact is dropped.
_VIOLATION_COLUMNS = frozenset({"seq", "type", "t", "mono_ns", "wall", "at", "uncertainty_s", "where", "source",
                                "destination", "protocol", "port", "packets", "blocked", "detail"})


def _seen_by(where: Any) -> str:
    """Name the component that recorded a violation, from the event's ``where`` field."""
    if where is None or where == "":
        return "\u2014"
    if where == "jail":
        return "guard on the OOB jail"
    if where == "api":
        return "OOB API of a python step"
    return f"guard on node {where}"


def _protocol_port(event: dict[str, Any]) -> str:
    protocol = event.get("protocol")
    port = event.get("port")
    if not protocol:
        return "\u2014" if not port else f"port {port}"
    # Port 0 means the protocol has no ports (ICMP) or the attempt was an API call.
    return f"{protocol}/{port}" if port else str(protocol)


def violation_instant(event: dict[str, Any]) -> tuple[float, float]:
    """Return when a violation happened and its uncertainty, in seconds from the start of the run.

    ``at`` dates the attempt itself. A violation event without it (from an older
    journal) falls back to the time the event was written.
    """
    at = event.get("at")
    instant = float(at) if at is not None else float(event.get("t", 0.0))
    return instant, float(event.get("uncertainty_s") or 0.0)


def describe_violation(event: dict[str, Any]) -> str:
    """Describe one violation on a single line, for the timeline's tooltips."""
    at, uncertainty = violation_instant(event)
    text = f"in-band attempt {_protocol_port(event)}"
    if event.get("source") or event.get("destination"):
        text += f" {event.get('source') or '?'} \u2192 {event.get('destination') or '?'}"
    text += f", {_seen_by(event.get('where'))}, at {format_seconds(at)}"
    if uncertainty:
        text += f" \u00b1 {format_seconds(uncertainty)}"
    blocked = event.get("blocked")
    if blocked is not None:
        text += ", blocked" if blocked else ", not blocked"
    if event.get("detail"):
        text += f": {event['detail']}"
    return text


def _relative_to_inject(at: float, inject_t: float | None) -> str:
    if inject_t is None:
        return ""
    offset = at - inject_t
    return f"{format_seconds(abs(offset))} {'after' if offset >= 0 else 'before'} inject"


def violation_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """Build one row per in-band attempt, in time order."""
    rows = []
    for event in sorted(analysis.violations, key=lambda e: violation_instant(e)[0]):
        at, uncertainty = violation_instant(event)
        blocked = event.get("blocked")
        extra = {k: v for k, v in event.items() if k not in _VIOLATION_COLUMNS}
        rows.append({
            "at": format_seconds(at),
            "uncertainty": format_seconds(uncertainty) if uncertainty else "",
            "since_inject": _relative_to_inject(at, analysis.inject_t),
            "seen_by": _seen_by(event.get("where")),
            "source": str(event.get("source") or "\u2014"),
            "destination": str(event.get("destination") or "\u2014"),
            "protocol_port": _protocol_port(event),
            "packets": "" if event.get("packets") is None else str(event["packets"]),
            "blocked": None if blocked is None else bool(blocked),
            "detail": str(event.get("detail") or ""),
            "extra": summary_fields(extra),
        })
    return rows


def guard_descriptions(analysis: Analysis) -> list[str]:
    return [str(e.get("description") or "") for e in analysis.events if e["type"] == "guard.start"]


def finding_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """Build one row per hardening finding, in the order the checks ran."""
    return [{
        "check": str(e.get("check") or ""),
        "description": HARDENING_DESCRIPTIONS.get(str(e.get("check")), ""),
        "target": str(e.get("target") or ""),
        "ok": bool(e.get("ok")),
        "detail": str(e.get("detail") or ""),
    } for e in analysis.findings]


def hardening_summary(analysis: Analysis) -> dict[str, Any]:
    """Count the hardening findings and list the checks that failed, each named once."""
    failed = [e for e in analysis.findings if not e.get("ok")]
    failed_checks: list[str] = []
    for event in failed:
        check = str(event.get("check") or "")
        if check not in failed_checks:
            failed_checks.append(check)
    return {"total": len(analysis.findings), "failed": len(failed), "failed_checks": failed_checks}


def oob_access_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """Build one row per node: the first console session that reached its prompt, or why none did.

    Nodes reached are listed first, fastest first. A node that a console step
    targeted but never reached gets a "not reached" row with the step's outcome.
    """
    first_access: dict[str, dict[str, Any]] = {}
    for event in analysis.events:
        if event["type"] == "oob.access" and event.get("node") is not None:
            first_access.setdefault(str(event["node"]), event)

    rows = []
    for node, event in sorted(first_access.items(),
                              key=lambda item: analysis.oob_access_per_node.get(item[0], float("inf"))):
        since_inject = analysis.oob_access_per_node.get(node)
        at = event.get("at", event.get("t"))
        rows.append({
            "node": node,
            "reached": True,
            "since_inject": format_seconds(since_inject),
            "at": format_seconds(None if at is None else float(at)),
            "step": str(event.get("step") or ""),
            "via": str(event.get("via") or ""),
            "note": "" if since_inject is not None else "no inject was recorded before this access",
        })

    step_starts = {e["step"] for e in analysis.events if e["type"] == "step.start"}
    step_outcomes = {e["step"]: e for e in analysis.events if e["type"] == "step.end"}
    console_steps: dict[str, list[str]] = {}
    for step in analysis.run.get("steps", []):
        if step.get("kind") == "console" and step.get("node") and step["node"] not in first_access:
            console_steps.setdefault(str(step["node"]), []).append(str(step.get("name", "")))
    for node, steps in console_steps.items():
        reasons = []
        for name in steps:
            outcome = step_outcomes.get(name)
            if outcome is None and name in step_starts:
                reasons.append(f"step {name} did not finish")
            elif outcome is None:
                reasons.append(f"step {name} did not run")
            elif outcome.get("ok"):
                reasons.append(f"step {name} succeeded without reaching a prompt")
            else:
                reasons.append(f"step {name} failed: {outcome.get('error') or 'exit ' + str(outcome.get('exit'))}")
        rows.append({"node": node, "reached": False, "since_inject": "", "at": "", "step": ", ".join(steps),
                     "via": "", "note": "; ".join(reasons)})
    return rows


def console_notes(analysis: Analysis) -> list[dict[str, Any]]:
    return [{"t": format_seconds(float(e.get("t", 0.0))), "step": str(e.get("step") or ""),
             "node": str(e.get("node") or ""), "note": str(e.get("note") or "")}
            for e in analysis.events if e["type"] == "console.note"]


@dataclass(frozen=True)
class OperatorSession:
    """An operator's interactive console session, paired from its start and end events.

    Times are seconds from the start of the run. ``end`` is None when no end event
    was recorded.
    """

    operator: str
    node: str
    start: float | None
    end: float | None
    duration: float | None
    exit: int | None
    transcript: str

    @property
    def ended(self) -> bool:
        return self.end is not None


def _session(start: dict[str, Any] | None, end: dict[str, Any] | None) -> OperatorSession:
    first = start or end or {}
    end_t = None if end is None else float(end.get("t", 0.0))
    duration = None if end is None or end.get("duration_s") is None else float(end["duration_s"])
    if start is not None:
        start_t: float | None = float(start.get("t", 0.0))
    elif end_t is not None and duration is not None:
        start_t = end_t - duration
    else:
        start_t = None
    if duration is None and start_t is not None and end_t is not None:
        duration = end_t - start_t
    exit_value = (end or {}).get("exit")
    exit_status = exit_value if isinstance(exit_value, int) else None
    return OperatorSession(operator=str(first.get("operator") or "unknown"), node=str(first.get("node") or ""),
                           start=start_t, end=end_t, duration=duration, exit=exit_status,
                           transcript=str((end or {}).get("transcript") or ""))


def operator_sessions(analysis: Analysis) -> list[OperatorSession]:
    """Pair operator.session start and end events per node and operator, in time order.

    ``drillkit console`` appends these events from its own process, so an end
    event pairs with the earliest open start of the same node and operator.
    """
    open_starts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    sessions = []
    for event in analysis.events:
        if event["type"] != "operator.session":
            continue
        key = (str(event.get("node") or ""), str(event.get("operator") or ""))
        if event.get("state") == "start":
            open_starts.setdefault(key, []).append(event)
        elif event.get("state") == "end":
            waiting = open_starts.get(key) or []
            sessions.append(_session(waiting.pop(0) if waiting else None, event))
    for waiting in open_starts.values():
        sessions.extend(_session(start, None) for start in waiting)
    return sorted(sessions, key=lambda s: s.start if s.start is not None else float("inf"))


def operator_session_rows(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for session in operator_sessions(analysis):
        rows.append({
            "operator": session.operator,
            "node": session.node,
            "start": format_seconds(session.start),
            "duration": format_seconds(session.duration),
            "exit": session.exit,
            "ok": session.exit == 0,
            "ended": session.ended,
            "transcript": session.transcript,
        })
    return rows
