"""The run history: every drill run, game day and scheduled run in a local SQLite database.

The database lives at ``$DRILLKIT_HOME/history.sqlite``; without DRILLKIT_HOME,
at ``$XDG_DATA_HOME/drillkit/`` or ``~/.local/share/drillkit/``. Runs are read
from their ``summary.json``, so a run can be recorded after the fact and the
reports folder can be imported again (``backfill``) without duplicates: the run
id is the key.

Each function opens its own short-lived connection, so threads and processes
can record at the same time; SQLite serialises the writes, and a writer waits
up to ``BUSY_TIMEOUT_S`` for the lock.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from .errors import HistoryError

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

# Each entry upgrades the schema from the version before it to its own number.
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE gamedays (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        plan_path TEXT NOT NULL,
        window_start TEXT,
        window_end TEXT,
        timezone TEXT,
        notes TEXT NOT NULL DEFAULT '',
        started TEXT NOT NULL,
        ended TEXT,
        status TEXT NOT NULL,
        exit_code INTEGER
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        scenario TEXT NOT NULL,
        scenario_file TEXT,
        lab TEXT,
        started TEXT NOT NULL,
        status TEXT NOT NULL,
        exit_code INTEGER NOT NULL,
        stop_reason TEXT,
        error TEXT,
        run_dir TEXT,
        report_path TEXT,
        summary_path TEXT NOT NULL,
        gameday_id INTEGER REFERENCES gamedays(id),
        schedule TEXT,
        source TEXT NOT NULL,
        recorded TEXT NOT NULL
    );
    CREATE INDEX runs_by_scenario ON runs (scenario, started);
    CREATE TABLE measurements (
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value REAL,
        uncertainty REAL NOT NULL DEFAULT 0,
        note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run, name)
    );
    CREATE TABLE slas (
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        target REAL NOT NULL,
        measured REAL,
        met INTEGER NOT NULL,
        PRIMARY KEY (run, name)
    );
    CREATE TABLE phases (
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        phase TEXT NOT NULL,
        start REAL,
        end REAL,
        ok INTEGER,
        PRIMARY KEY (run, position)
    );
    CREATE TABLE operators (
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run, name, role)
    );
    CREATE TABLE gameday_items (
        id INTEGER PRIMARY KEY,
        gameday_id INTEGER NOT NULL REFERENCES gamedays(id),
        label TEXT NOT NULL,
        scenario TEXT NOT NULL,
        lab TEXT,
        status TEXT NOT NULL,
        exit_code INTEGER,
        run_id TEXT,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY,
        gameday_id INTEGER NOT NULL REFERENCES gamedays(id),
        label TEXT NOT NULL,
        scenario TEXT NOT NULL,
        role TEXT NOT NULL,
        approver TEXT NOT NULL,
        decision TEXT NOT NULL,
        at TEXT NOT NULL,
        method TEXT NOT NULL,
        run_id TEXT
    );
    CREATE TABLE schedules (
        name TEXT PRIMARY KEY,
        cron TEXT NOT NULL,
        scenario_file TEXT NOT NULL,
        blackout_file TEXT,
        timezone TEXT,
        lab_up INTEGER NOT NULL DEFAULT 0,
        reports_dir TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE schedule_runs (
        id INTEGER PRIMARY KEY,
        schedule TEXT NOT NULL,
        slot TEXT NOT NULL,
        started TEXT NOT NULL,
        outcome TEXT NOT NULL,
        exit_code INTEGER,
        run_id TEXT,
        detail TEXT NOT NULL DEFAULT '',
        UNIQUE (schedule, slot)
    );
    """,
}

#: An operator is a name, or a (name, role) pair.
OperatorLike = Union[str, tuple[str, str]]


def default_home() -> Path:
    """Return the folder of drillkit's own data (history, schedule logs)."""
    home = os.environ.get("DRILLKIT_HOME")
    if home:
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME")
    base = Path(data).expanduser() if data else Path.home() / ".local" / "share"
    return base / "drillkit"


def default_db_path() -> Path:
    return default_home() / DB_NAME


def resolve_db(db: str | Path | None) -> Path:
    return Path(db).expanduser() if db else default_db_path()


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso_utc(moment: _dt.datetime) -> str:
    """Format an aware datetime as ISO 8601 in UTC, the form every stored time uses."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: give a timezone")
    return moment.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


@contextmanager
def connect(db: str | Path | None = None) -> Iterator[sqlite3.Connection]:
    """Open the history database, creating or upgrading its schema; commit on success.

    Raises:
        HistoryError: the file cannot be opened, is not a SQLite database, or was
            written by a newer drillkit.
    """
    path = resolve_db(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    except (OSError, sqlite3.Error) as exc:
        raise HistoryError(f"cannot open the history database {path}: {exc}; "
                           "pass --db with a writable path or set DRILLKIT_HOME") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn, path)
        yield conn
        conn.commit()
    except sqlite3.DatabaseError as exc:
        conn.rollback()
        raise HistoryError(f"history database {path}: {exc}") from None
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise HistoryError(f"history database {path} has schema version {version}, newer than this "
                               f"drillkit's {SCHEMA_VERSION}; upgrade drillkit or pass --db with another file")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif version != SCHEMA_VERSION:
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# -- records --------------------------------------------------------------


@dataclass(frozen=True)
class SlaRow:
    """One SLA target of a run and its verdict, as recorded."""

    name: str
    target: float
    measured: float | None
    met: bool


@dataclass(frozen=True)
class RunRecord:
    """One recorded drill run."""

    run_id: str
    scenario: str
    lab: str | None
    started: str
    status: str
    exit_code: int
    report_path: str | None
    run_dir: str | None
    scenario_file: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    measurements: dict[str, float | None] = field(default_factory=dict)
    slas: dict[str, SlaRow] = field(default_factory=dict)
    operators: tuple[tuple[str, str], ...] = ()
    gameday_id: int | None = None
    schedule: str | None = None
    source: str = "hook"

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "scenario": self.scenario, "lab": self.lab, "started": self.started,
            "status": self.status, "exit_code": self.exit_code, "report": self.report_path,
            "run_dir": self.run_dir, "scenario_file": self.scenario_file, "stop_reason": self.stop_reason,
            "error": self.error, "measurements": dict(self.measurements),
            "sla": [{"name": s.name, "target": s.target, "measured": s.measured, "met": s.met}
                    for s in self.slas.values()],
            "operators": [{"name": n, "role": r or None} for n, r in self.operators],
            "gameday_id": self.gameday_id, "schedule": self.schedule, "source": self.source,
        }


@dataclass(frozen=True)
class PreviousRun:
    """An earlier run of a scenario, for the links of an after-action report."""

    run_id: str
    started: str
    status: str
    report_path: str | None


@dataclass
class BackfillResult:
    """Result of ``backfill``: run ids imported, run ids already recorded, and unreadable files."""

    imported: list[str] = field(default_factory=list)
    already_recorded: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)


def read_summary(path: str | Path) -> dict[str, Any]:
    """Read and check a run's ``summary.json``.

    Raises:
        HistoryError: the file is missing, not JSON, or not a drillkit summary.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HistoryError(f"{path}: summary file not found") from None
    except (OSError, ValueError) as exc:
        raise HistoryError(f"{path}: cannot read the summary: {exc}") from None
    if not isinstance(data, dict):
        raise HistoryError(f"{path}: not a drillkit summary (expected a JSON object)")
    for key in ("run_id", "scenario", "status"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise HistoryError(f"{path}: not a drillkit summary: missing {key!r}")
    if not isinstance(data.get("exit_code"), int):
        raise HistoryError(f"{path}: not a drillkit summary: missing 'exit_code'")
    return data


def _started(summary: dict[str, Any], path: Path) -> str:
    """Return the run's start as ISO UTC, from the summary or else the file's modification time."""
    text = summary.get("started")
    if isinstance(text, str):
        try:
            moment = _dt.datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_dt.timezone.utc)
            return iso_utc(moment)
    return iso_utc(_dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc))


def _normalize_operators(operators: Iterable[OperatorLike]) -> list[tuple[str, str]]:
    out = []
    for item in operators:
        if isinstance(item, str):
            name, role = item, ""
        else:
            name, role = item
        name = name.strip()
        if not name:
            raise HistoryError("an operator name must not be empty")
        out.append((name, (role or "").strip()))
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _store(conn: sqlite3.Connection, summary: dict[str, Any], summary_path: Path, *,
           operators: list[tuple[str, str]], gameday_id: int | None, schedule: str | None, source: str,
           replace: bool) -> bool:
    """Write one run; return False when it was already recorded and ``replace`` is off."""
    run_id = summary["run_id"]
    row = conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is not None and not replace:
        return False
    run_dir = summary_path.parent.resolve()
    report = run_dir / "report.html"
    values = {
        "run_id": run_id, "scenario": summary["scenario"], "scenario_file": summary.get("scenario_file"),
        "lab": summary.get("lab"), "started": _started(summary, summary_path), "status": summary["status"],
        "exit_code": summary["exit_code"], "stop_reason": summary.get("stop_reason"), "error": summary.get("error"),
        "run_dir": str(run_dir), "report_path": str(report) if report.is_file() else summary.get("report"),
        "summary_path": str(summary_path.resolve()), "source": source, "recorded": iso_utc(utc_now()),
    }
    if row is None:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = conn.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", tuple(values.values()))
        pk = cursor.lastrowid
    else:
        pk = row["id"]
        assignments = ", ".join(f"{name} = ?" for name in values if name != "source")
        conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?",
                     tuple(v for k, v in values.items() if k != "source") + (pk,))
        for table in ("measurements", "slas", "phases"):
            conn.execute(f"DELETE FROM {table} WHERE run = ?", (pk,))
    # A game day or schedule recorded earlier stays linked when the hook records the run again.
    if gameday_id is not None:
        conn.execute("UPDATE runs SET gameday_id = ? WHERE id = ?", (gameday_id, pk))
    if schedule is not None:
        conn.execute("UPDATE runs SET schedule = ? WHERE id = ?", (schedule, pk))

    measurements = summary.get("measurements") or {}
    if isinstance(measurements, dict):
        for name, m in measurements.items():
            if not isinstance(m, dict):
                continue
            conn.execute("INSERT INTO measurements (run, name, value, uncertainty, note) VALUES (?, ?, ?, ?, ?)",
                         (pk, str(name), _number(m.get("value")), _number(m.get("uncertainty")) or 0.0,
                          str(m.get("note") or "")))
    for sla in summary.get("sla") or []:
        if not isinstance(sla, dict) or _number(sla.get("target")) is None:
            continue
        conn.execute("INSERT OR REPLACE INTO slas (run, name, target, measured, met) VALUES (?, ?, ?, ?, ?)",
                     (pk, str(sla.get("name")), _number(sla["target"]), _number(sla.get("measured")),
                      1 if sla.get("met") else 0))
    for position, phase in enumerate(summary.get("phases") or []):
        if not isinstance(phase, dict):
            continue
        ok = phase.get("ok")
        conn.execute("INSERT INTO phases (run, position, phase, start, end, ok) VALUES (?, ?, ?, ?, ?, ?)",
                     (pk, position, str(phase.get("phase")), _number(phase.get("start")),
                      _number(phase.get("end")), None if ok is None else int(bool(ok))))
    for name, role in operators:
        conn.execute("INSERT OR IGNORE INTO operators (run, name, role) VALUES (?, ?, ?)", (pk, name, role))
    return True


def record_run(summary_json_path: str | Path, *, operators: Iterable[OperatorLike] = (),
               db: str | Path | None = None, gameday_id: int | None = None, schedule: str | None = None,
               source: str = "hook") -> str:
    """Record one run from its ``summary.json``; a run recorded before is updated.

    Args:
        summary_json_path: the run folder's ``summary.json``.
        operators: people who ran the drill, as names or (name, role) pairs; they
            are added to those recorded before.
        db: the database file (default: ``default_db_path()``).
        gameday_id: the game day the run belongs to.
        schedule: the schedule that started the run.
        source: how the run came in (hook, backfill, gameday, schedule).

    Returns:
        The run id.

    Raises:
        HistoryError: the summary or the database cannot be read or written.
    """
    path = Path(summary_json_path)
    summary = read_summary(path)
    people = _normalize_operators(operators)
    with connect(db) as conn:
        _store(conn, summary, path, operators=people, gameday_id=gameday_id, schedule=schedule, source=source,
               replace=True)
    return summary["run_id"]


def after_run(result: Any, *, operators: Iterable[OperatorLike] = (), db: str | Path | None = None) -> str | None:
    """Record a finished ``DrillResult`` in the history, logging instead of raising on failure.

    This is the hook to call after every ``DrillRunner.run()``: a history that
    cannot be written must not change the drill's verdict or exit status.

    Returns:
        The run id, or None when nothing was recorded.
    """
    summary_path = Path(result.run_dir) / "summary.json"
    try:
        return record_run(summary_path, operators=operators, db=db)
    except HistoryError as exc:
        log.warning("run %s was not recorded in the history: %s", getattr(result, "run_id", "?"), exc)
        return None


def find_summaries(paths: Iterable[str | Path]) -> list[Path]:
    """Return every ``summary.json`` under the given folders (or the files themselves), sorted."""
    found: set[Path] = set()
    for entry in paths:
        path = Path(entry)
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            found.update(p for p in path.rglob("summary.json") if p.is_file())
        else:
            raise HistoryError(f"{path}: no such file or folder; name a reports folder such as reports/")
    return sorted(found)


def backfill(paths: Iterable[str | Path], *, db: str | Path | None = None) -> BackfillResult:
    """Import the runs of existing ``summary.json`` files; runs already recorded are left as they are."""
    result = BackfillResult()
    summaries = find_summaries(paths)
    with connect(db) as conn:
        for path in summaries:
            try:
                summary = read_summary(path)
            except HistoryError as exc:
                result.invalid.append((str(path), str(exc)))
                continue
            stored = _store(conn, summary, path, operators=[], gameday_id=None, schedule=None, source="backfill",
                            replace=False)
            (result.imported if stored else result.already_recorded).append(summary["run_id"])
    return result


# -- queries --------------------------------------------------------------


def _records(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[RunRecord]:
    out = []
    for row in rows:
        pk = row["id"]
        measurements = {m["name"]: m["value"] for m in
                        conn.execute("SELECT name, value FROM measurements WHERE run = ?", (pk,))}
        slas = {s["name"]: SlaRow(s["name"], s["target"], s["measured"], bool(s["met"])) for s in
                conn.execute("SELECT name, target, measured, met FROM slas WHERE run = ? ORDER BY rowid", (pk,))}
        operators = tuple((o["name"], o["role"]) for o in
                          conn.execute("SELECT name, role FROM operators WHERE run = ? ORDER BY rowid", (pk,)))
        out.append(RunRecord(
            run_id=row["run_id"], scenario=row["scenario"], lab=row["lab"], started=row["started"],
            status=row["status"], exit_code=row["exit_code"], report_path=row["report_path"],
            run_dir=row["run_dir"], scenario_file=row["scenario_file"], stop_reason=row["stop_reason"],
            error=row["error"], measurements=measurements, slas=slas, operators=operators,
            gameday_id=row["gameday_id"], schedule=row["schedule"], source=row["source"]))
    return out


def list_runs(*, scenario: str | None = None, limit: int | None = None,
              db: str | Path | None = None) -> list[RunRecord]:
    """Return recorded runs, newest first."""
    query = "SELECT * FROM runs"
    params: list[Any] = []
    if scenario:
        query += " WHERE scenario = ?"
        params.append(scenario)
    query += " ORDER BY started DESC, id DESC"
    if limit is not None:
        query += " LIMIT ?"
        params.append(limit)
    with connect(db) as conn:
        return _records(conn, conn.execute(query, params).fetchall())


def runs_by_scenario(*, scenario: str | None = None, db: str | Path | None = None) -> dict[str, list[RunRecord]]:
    """Return recorded runs grouped by scenario, each group oldest first."""
    grouped: dict[str, list[RunRecord]] = {}
    for record in reversed(list_runs(scenario=scenario, db=db)):
        grouped.setdefault(record.scenario, []).append(record)
    return dict(sorted(grouped.items()))


def previous_runs(scenario: str, *, before: str | None = None, limit: int = 10,
                  db: str | Path | None = None) -> list[PreviousRun]:
    """Return the runs of ``scenario`` before the run ``before`` (or all), newest first.

    Args:
        scenario: the scenario name.
        before: a run id; only runs that started before it are returned. A run id
            that is not recorded returns the latest runs.
        limit: the maximum number of runs.
    """
    with connect(db) as conn:
        params: list[Any] = [scenario]
        query = "SELECT run_id, started, status, report_path FROM runs WHERE scenario = ?"
        if before is not None:
            row = conn.execute("SELECT started, id FROM runs WHERE run_id = ?", (before,)).fetchone()
            if row is not None:
                query += " AND (started < ? OR (started = ? AND id < ?))"
                params += [row["started"], row["started"], row["id"]]
        query += " ORDER BY started DESC, id DESC LIMIT ?"
        params.append(limit)
        return [PreviousRun(r["run_id"], r["started"], r["status"], r["report_path"])
                for r in conn.execute(query, params)]


# -- game days --------------------------------------------------------------


def start_gameday(*, name: str, plan_path: str, window_start: str | None, window_end: str | None,
                  timezone: str | None, notes: str, db: str | Path | None = None) -> int:
    """Record the start of a game day and return its id."""
    with connect(db) as conn:
        cursor = conn.execute(
            "INSERT INTO gamedays (name, plan_path, window_start, window_end, timezone, notes, started, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
            (name, plan_path, window_start, window_end, timezone, notes, iso_utc(utc_now())))
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def finish_gameday(gameday_id: int, *, status: str, exit_code: int, db: str | Path | None = None) -> None:
    with connect(db) as conn:
        conn.execute("UPDATE gamedays SET ended = ?, status = ?, exit_code = ? WHERE id = ?",
                     (iso_utc(utc_now()), status, exit_code, gameday_id))


def record_approval(gameday_id: int, *, label: str, scenario: str, role: str, approver: str, decision: str,
                    at: _dt.datetime, method: str, run_id: str | None = None,
                    db: str | Path | None = None) -> None:
    with connect(db) as conn:
        conn.execute("INSERT INTO approvals (gameday_id, label, scenario, role, approver, decision, at, method, "
                     "run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (gameday_id, label, scenario, role, approver, decision, iso_utc(at), method, run_id))


def link_approvals(gameday_id: int, *, label: str, run_id: str, db: str | Path | None = None) -> None:
    """Attach the run a drill produced to the approvals given for it."""
    with connect(db) as conn:
        conn.execute("UPDATE approvals SET run_id = ? WHERE gameday_id = ? AND label = ? AND run_id IS NULL",
                     (run_id, gameday_id, label))


def record_gameday_item(gameday_id: int, *, label: str, scenario: str, lab: str | None, status: str,
                        exit_code: int | None, run_id: str | None, detail: str = "",
                        db: str | Path | None = None) -> None:
    with connect(db) as conn:
        conn.execute("INSERT INTO gameday_items (gameday_id, label, scenario, lab, status, exit_code, run_id, "
                     "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (gameday_id, label, scenario, lab, status, exit_code, run_id, detail))


def list_gamedays(*, limit: int | None = None, db: str | Path | None = None) -> list[dict[str, Any]]:
    """Return recorded game days, newest first, each with its items and approvals."""
    with connect(db) as conn:
        query = "SELECT * FROM gamedays ORDER BY started DESC, id DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            query += " LIMIT ?"
            params = (limit,)
        out = []
        for row in conn.execute(query, params).fetchall():
            day = dict(row)
            day["items"] = [dict(r) for r in conn.execute(
                "SELECT label, scenario, lab, status, exit_code, run_id, detail FROM gameday_items "
                "WHERE gameday_id = ? ORDER BY id", (row["id"],))]
            day["approvals"] = [dict(r) for r in conn.execute(
                "SELECT label, scenario, role, approver, decision, at, method, run_id FROM approvals "
                "WHERE gameday_id = ? ORDER BY id", (row["id"],))]
            out.append(day)
        return out
