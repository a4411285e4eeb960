"""The journal: the append-only JSON-lines record of a run, written as events happen.

Every line has ``seq``, ``type``, ``t`` (seconds since the run started, from the
monotonic clock), ``mono_ns`` and ``wall`` (UTC, for reading only), plus the
event's own fields. Secret values are masked before a line is written. Reports
are rendered from this file alone.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from ..clock import NS_PER_S, Clock
from ..scenario.refs import mask

JOURNAL_NAME = "journal.jsonl"


class Journal:
    """Writer of one run's journal."""

    def __init__(self, run_dir: Path, clock: Clock, secrets: frozenset[str] = frozenset()) -> None:
        self.path = run_dir / JOURNAL_NAME
        self.clock = clock
        self.secrets = secrets
        self.start_ns = clock.monotonic_ns()
        self._seq = 0
        self._lock = threading.Lock()
        run_dir.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def rel(self, mono_ns: int) -> float:
        """Seconds from the start of the run to ``mono_ns``."""
        return (mono_ns - self.start_ns) / NS_PER_S

    def write(self, type_: str, *, mono_ns: int | None = None, sync: bool = False, **fields: Any) -> dict[str, Any]:
        """Append one event; ``mono_ns`` dates it (default: now). Returns the event."""
        with self._lock:
            now = mono_ns if mono_ns is not None else self.clock.monotonic_ns()
            self._seq += 1
            event = {"seq": self._seq, "type": type_, "t": round(self.rel(now), 6), "mono_ns": now,
                     "wall": self.clock.wall(), **fields}
            line = json.dumps(event, default=str, sort_keys=False)
            if self.secrets:
                line = mask(line, self.secrets)
            self._fh.write(line + "\n")
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())
            return event

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Read the events of a journal; a torn last line (from a killed run) is skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue
