"""Repeat probes from their vantage points and turn samples into health states.

``ProbeTracker`` is the pure state machine (tested with a fake clock);
``ProbeScheduler`` runs one thread per probe, moved into the probe's vantage
namespace, sampling at a fixed cadence.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from ..clock import NS_PER_S, Clock
from ..lab import nsexec
from ..scenario.model import ProbeSpec
from .kinds import Sample, run_check

log = logging.getLogger(__name__)

HEALTHY = "healthy"
FAILING = "failing"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Transition:
    """A probe crossed its threshold.

    Attributes:
        probe: probe name.
        state: ``healthy`` or ``failing``.
        t_ns: the sample that crossed the threshold.
        streak_start_ns: the first sample of the streak; the real change happened
            between ``last_opposite_ns`` and this instant.
        last_opposite_ns: the last sample in the other state, or None.
    """

    probe: str
    state: str
    t_ns: int
    streak_start_ns: int
    last_opposite_ns: int | None


class ProbeTracker:
    """Health state of one probe from its samples, with failure and success thresholds."""

    def __init__(self, spec: ProbeSpec) -> None:
        self.spec = spec
        self.state = UNKNOWN
        self._streak_ok: bool | None = None
        self._streak_len = 0
        self._streak_start: int | None = None
        self._last_ok: int | None = None
        self._last_fail: int | None = None
        self.samples = 0
        self.last_sample: Sample | None = None
        self.last_t_ns: int | None = None

    def update(self, ok: bool, t_ns: int) -> Transition | None:
        """Feed one sample taken at ``t_ns``; return the transition it causes, if any."""
        self.samples += 1
        self.last_t_ns = t_ns
        if ok != self._streak_ok:
            self._streak_ok = ok
            self._streak_len = 0
            self._streak_start = t_ns
        self._streak_len += 1
        last_opposite = self._last_fail if ok else self._last_ok
        if ok:
            self._last_ok = t_ns
        else:
            self._last_fail = t_ns

        threshold = self.spec.success_threshold if ok else self.spec.failure_threshold
        target = HEALTHY if ok else FAILING
        if self.state != target and self._streak_len >= threshold:
            self.state = target
            assert self._streak_start is not None
            return Transition(self.spec.name, target, t_ns, self._streak_start, last_opposite)
        return None

    def healthy_since(self) -> int | None:
        """Return the first sample of the current healthy streak, or None when not healthy."""
        return self._streak_start if self.state == HEALTHY and self._streak_ok else None


SampleCallback = Callable[[ProbeSpec, int, Sample, "Transition | None"], None]


class ProbeScheduler:
    """Run every probe in its own thread until stopped.

    Args:
        probes: the probes with the namespace each runs in (None for the host).
        on_sample: called from the probe's thread after every sample.
        clock: the clock for sample times.
    """

    def __init__(self, probes: list[tuple[ProbeSpec, str | None]], on_sample: SampleCallback,
                 clock: Clock | None = None, mount_pins: dict[str, str] | None = None) -> None:
        self.probes = probes
        self.on_sample = on_sample
        self.clock = clock or Clock()
        self.trackers = {spec.name: ProbeTracker(spec) for spec, _ in probes}
        self.mount_pins = mount_pins or {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        for spec, namespace in self.probes:
            thread = threading.Thread(target=self._loop, args=(spec, namespace), name=f"probe-{spec.name}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def _loop(self, spec: ProbeSpec, namespace: str | None) -> None:
        if namespace is not None:
            try:
                nsexec.enter_thread(namespace)
            except Exception as exc:  # report as a failing sample stream
                log.error("probe %s: cannot enter namespace %s: %s", spec.name, namespace, exc)
                while not self._stop.is_set():
                    self._record(spec, self.clock.monotonic_ns(), Sample(False, f"no vantage: {exc}", 0.0))
                    if self._stop.wait(spec.interval_s):
                        return
        interval_ns = int(spec.interval_s * NS_PER_S)
        next_ns = self.clock.monotonic_ns()
        while not self._stop.is_set():
            t_ns = self.clock.monotonic_ns()
            sample = run_check(spec, namespace, self.mount_pins.get(namespace or ""))
            self._record(spec, t_ns, sample)
            next_ns += interval_ns
            now = self.clock.monotonic_ns()
            if next_ns < now:  # the check ran longer than the interval: skip the missed ticks
                next_ns = now + interval_ns - (now - next_ns) % interval_ns
            if self._stop.wait((next_ns - now) / NS_PER_S):
                return

    def _record(self, spec: ProbeSpec, t_ns: int, sample: Sample) -> None:
        with self._lock:
            transition = self.trackers[spec.name].update(sample.ok, t_ns)
            self.trackers[spec.name].last_sample = sample
        try:
            self.on_sample(spec, t_ns, sample, transition)
        except Exception:
            log.exception("probe %s: sample handler failed", spec.name)

    def state(self, name: str) -> str:
        with self._lock:
            return self.trackers[name].state

    def healthy_since(self, name: str) -> int | None:
        with self._lock:
            return self.trackers[name].healthy_since()
