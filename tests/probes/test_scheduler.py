"""ProbeTracker thresholds and transitions, with sample times given directly."""

from __future__ import annotations

from drillkit.clock import NS_PER_S
from drillkit.probes.scheduler import FAILING, HEALTHY, UNKNOWN, ProbeTracker
from drillkit.scenario.model import Origin, ProbeSpec


def spec(failure_threshold: int = 2, success_threshold: int = 1) -> ProbeSpec:
    return ProbeSpec(name="p", kind="tcp", origin=Origin("x.yaml", 1), vantage="noc", interval_s=0.5,
                     failure_threshold=failure_threshold, success_threshold=success_threshold,
                     target="10.0.0.1:80")


def feed(tracker: ProbeTracker, results: str, start_s: float = 0.0, step_s: float = 0.5) -> list:
    transitions = []
    for i, ch in enumerate(results):
        t = tracker.update(ch == "+", int((start_s + i * step_s) * NS_PER_S))
        if t is not None:
            transitions.append(t)
    return transitions


def test_tracker_starts_unknown():
    assert ProbeTracker(spec()).state == UNKNOWN


def test_tracker_healthy_after_success_threshold():
    tracker = ProbeTracker(spec(success_threshold=3))
    transitions = feed(tracker, "+++")
    assert [t.state for t in transitions] == [HEALTHY]
    assert transitions[0].t_ns == 1 * NS_PER_S
    assert transitions[0].streak_start_ns == 0


def test_tracker_single_failure_below_threshold():
    tracker = ProbeTracker(spec(failure_threshold=2))
    transitions = feed(tracker, "++-++")
    assert [t.state for t in transitions] == [HEALTHY]
    assert tracker.state == HEALTHY


def test_tracker_failing_transition_bounds():
    tracker = ProbeTracker(spec(failure_threshold=3))
    transitions = feed(tracker, "++---")
    failing = transitions[-1]
    assert failing.state == FAILING
    assert failing.t_ns == 2 * NS_PER_S
    assert failing.streak_start_ns == 1 * NS_PER_S
    assert failing.last_opposite_ns == int(0.5 * NS_PER_S)


def test_tracker_healthy_since_is_streak_start():
    tracker = ProbeTracker(spec())
    feed(tracker, "+--++")
    assert tracker.state == HEALTHY
    assert tracker.healthy_since() == int(1.5 * NS_PER_S)


def test_tracker_healthy_since_none_while_failing():
    tracker = ProbeTracker(spec())
    feed(tracker, "+--")
    assert tracker.healthy_since() is None
