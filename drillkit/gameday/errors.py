"""Exceptions of game days, schedules and the run history.

They derive from the package's own classes, so ``drillkit`` prints them and
exits with their ``exit_code`` (2 unless stated) like every other error.
"""

from __future__ import annotations

from ..errors import ConfigError, DrillkitError


class PlanError(ConfigError):
    """A game-day plan file is invalid."""

    kind = "game-day plan"


class BlackoutError(ConfigError):
    """A blackout calendar file is invalid."""

    kind = "blackout calendar"


class HistoryError(DrillkitError):
    """The history database or a summary file cannot be read or written."""


class ScheduleError(DrillkitError):
    """A schedule is invalid, missing, or cannot run unattended."""


class GamedayRefused(DrillkitError):
    """The game day must not start or go on: outside its window, or not confirmed."""


class OptionError(DrillkitError):
    """A command-line option has an invalid value."""
