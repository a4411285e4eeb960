"""Unit tests of duration parsing and of the clocks."""

from __future__ import annotations

import threading

import pytest

from drillkit.clock import NS_PER_S, Clock, FakeClock, parse_duration, seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param("2s", 2.0, id="seconds"),
        pytest.param("1m30s", 90.0, id="minutes-seconds"),
        pytest.param("1h", 3600.0, id="hour"),
        pytest.param("1h1m1s", 3661.0, id="hour-minute-second"),
        pytest.param("1m500ms", 60.5, id="minute-milliseconds"),
        pytest.param(1.5, 1.5, id="float"),
        pytest.param(3, 3.0, id="int"),
        pytest.param(0, 0.0, id="zero"),
        pytest.param("0.25s", 0.25, id="fractional-seconds"),
        pytest.param("1.5", 1.5, id="bare-number-string"),
        pytest.param(" 2S ", 2.0, id="spaces-and-upper-case"),
        pytest.param("250ms", 0.25, id="250ms"),
    ],
)
def test_parse_duration_valid(value: object, expected: float) -> None:
    assert parse_duration(value) == pytest.approx(expected)


def test_parse_duration_returns_float() -> None:
    assert type(parse_duration(3)) is float


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("fast", id="word"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("ms", id="unit-only"),
        pytest.param("s5", id="unit-first"),
        pytest.param("1x", id="unknown-unit"),
        pytest.param("1d", id="days"),
        pytest.param("1.2.3s", id="two-dots"),
        pytest.param("-1s", id="negative-string"),
        pytest.param("1m 30s", id="inner-space"),
        pytest.param("2sms", id="unit-without-number"),
        pytest.param(-1, id="negative-number"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(10**400, id="huge-int"),
        pytest.param("9" * 400 + "s", id="huge-string"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
        pytest.param([1], id="list"),
    ],
)
def test_parse_duration_invalid(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_parse_duration_error_names_forms() -> None:
    with pytest.raises(ValueError, match="500ms, 2s, 1m30s"):
        parse_duration("fast")


def test_seconds_converts_ns() -> None:
    assert seconds(1_500_000_000) == 1.5


def test_seconds_keeps_none() -> None:
    assert seconds(None) is None


def test_fake_clock_default_start() -> None:
    assert FakeClock().monotonic_ns() == 1_000 * NS_PER_S


def test_fake_clock_custom_start() -> None:
    assert FakeClock(start_ns=42).monotonic_ns() == 42


def test_fake_clock_stands_still() -> None:
    clock = FakeClock()
    first = clock.monotonic_ns()
    assert clock.monotonic_ns() == first


def test_fake_clock_advance() -> None:
    clock = FakeClock(start_ns=0)
    clock.advance(1.5)
    assert clock.monotonic_ns() == 1_500_000_000


def test_fake_clock_sleep_advances() -> None:
    clock = FakeClock(start_ns=0)
    clock.sleep(0.25)
    assert clock.monotonic_ns() == 250_000_000


def test_fake_clock_sleep_returns_false() -> None:
    assert FakeClock().sleep(1.0) is False


def test_fake_clock_sleep_reports_stop() -> None:
    stop = threading.Event()
    stop.set()
    assert FakeClock().sleep(1.0, stop) is True


def test_fake_clock_negative_sleep_keeps_time() -> None:
    clock = FakeClock(start_ns=0)
    clock.sleep(-5)
    assert clock.monotonic_ns() == 0


def test_fake_clock_wall_start() -> None:
    assert FakeClock(start_ns=0).wall() == "2026-01-01T00:00:00.000000+00:00"


def test_fake_clock_wall_follows_advance() -> None:
    clock = FakeClock(start_ns=0)
    clock.advance(61.5)
    assert clock.wall() == "2026-01-01T00:01:01.500000+00:00"


def test_fake_clock_threads_add_up() -> None:
    clock = FakeClock(start_ns=0)
    workers = [threading.Thread(target=lambda: [clock.advance(0.5) for _ in range(1000)]) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert clock.monotonic_ns() == 4 * 1000 * 500_000_000


def test_clock_sleep_returns_at_once_when_stopped() -> None:
    stop = threading.Event()
    stop.set()
    assert Clock().sleep(30.0, stop) is True


def test_clock_sleep_zero_returns_false() -> None:
    assert Clock().sleep(0) is False


def test_clock_monotonic_never_decreases() -> None:
    clock = Clock()
    first = clock.monotonic_ns()
    assert clock.monotonic_ns() >= first


def test_clock_wall_is_utc() -> None:
    assert Clock().wall().endswith("+00:00")
