"""Game days, schedules, the run history and trends.

- ``history``: every run in a local SQLite database (``record_run``, ``after_run``,
  ``backfill``, ``list_runs``, ``previous_runs``).
- ``trends``: an HTML page of phase times across runs, regressions marked.
- ``plan`` and ``runner``: game-day plans with a time window, roles, approvals
  and parallel groups.
- ``live``: the live terminal view of running drills.
- ``schedule``: cron schedules, blackout calendars, systemd and cron entries.
- ``cli``: the ``gameday``, ``schedule``, ``history`` and ``trends`` commands.
"""

from .history import after_run, backfill, default_db_path, list_runs, previous_runs, record_run

__all__ = ["after_run", "backfill", "default_db_path", "list_runs", "previous_runs", "record_run"]
