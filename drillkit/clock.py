"""Time for drills: a monotonic clock for durations, the wall clock for display.

All durations in drillkit are integers of nanoseconds from ``time.monotonic_ns()``.
Wall-clock stamps are stored beside them so journals stay readable, but they are
never subtracted. ``FakeClock`` lets the phase and SLA logic run in tests without
sleeping.
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
import time

NS_PER_S = 1_000_000_000


class Clock:
    """The real clock."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def wall(self) -> str:
        """Return the current UTC time as an ISO 8601 string with microseconds."""
        return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Sleep for ``seconds``; return True early if ``stop`` is set."""
        if seconds <= 0:
            return bool(stop and stop.is_set())
        if stop is None:
            time.sleep(seconds)
            return False
        return stop.wait(seconds)


class FakeClock(Clock):
    """A clock that moves only when told to, for tests of timing logic."""

    def __init__(self, start_ns: int = 1_000 * NS_PER_S) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += int(seconds * NS_PER_S)

    def wall(self) -> str:
        base = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
        return (base + _dt.timedelta(microseconds=self._now // 1000)).isoformat(timespec="microseconds")

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        self.advance(max(seconds, 0))
        return bool(stop and stop.is_set())


def seconds(ns: int | None) -> float | None:
    """Convert nanoseconds to seconds, keeping None."""
    return None if ns is None else ns / NS_PER_S


def parse_duration(value: object) -> float:
    """Parse ``1.5``, ``"500ms"``, ``"2s"``, ``"1m30s"`` or ``"1h"`` into seconds.

    Raises:
        ValueError: the value is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError("a duration cannot be true or false")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError("the duration is too large to represent") from None
        if not math.isfinite(seconds):
            raise ValueError("a duration must be a finite number of seconds")
        if seconds < 0:
            raise ValueError("a duration cannot be negative")
        return seconds
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a duration is a number of seconds or a string such as 500ms, 2s, 1m30s")
    text = value.strip().lower()
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total = 0.0
    number = ""
    i = 0
    matched = False
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise ValueError(f"cannot read {value!r} as a duration; use forms like 500ms, 2s, 1m30s")
        try:
            total += float(number) * units[unit]
        except ValueError:
            raise ValueError(f"cannot read {value!r} as a duration; use forms like 500ms, 2s, 1m30s") from None
        matched = True
        number = ""
        i += len(unit)
    if number:
        try:
            total += float(number)
        except ValueError:
            raise ValueError(f"cannot read {value!r} as a duration; use forms like 500ms, 2s, 1m30s") from None
        matched = True
    if not matched:
        raise ValueError(f"cannot read {value!r} as a duration; use forms like 500ms, 2s, 1m30s")
    if not math.isfinite(total):
        raise ValueError("the duration is too large to represent")
    return total
