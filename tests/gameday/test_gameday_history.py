"""The run history: recording, listing, importing existing reports, and the schema version."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from drillkit.gameday import history
from drillkit.gameday.errors import HistoryError
from gameday_support import drillkit, utc, write_run


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite"


def test_record_run_stores_summary_fields(tmp_path, db):
    summary = write_run(tmp_path / "reports", "edge-uplink-cut", utc(2026, 3, 2, 10, 0),
                        values={"detect": 0.4, "oob_access": 1.2, "recover": 20.0},
                        targets={"detect": 2.0, "recover": 15.0})

    run_id = history.record_run(summary, operators=["alice", ("bob", "noc")], db=db)

    [record] = history.list_runs(db=db)
    assert run_id == "edge-uplink-cut-20260302T100000Z"
    assert record.run_id == run_id
    assert record.scenario == "edge-uplink-cut"
    assert record.lab == "edge-ai"
    assert record.started == "2026-03-02T10:00:00.000000+00:00"
    assert record.status == "passed"
    assert record.exit_code == 0
    assert record.measurements["detect"] == 0.4
    assert record.measurements["recover"] == 20.0
    assert record.slas["detect"].target == 2.0
    assert record.slas["detect"].met is True
    assert record.slas["recover"].met is False
    assert "oob_access" not in record.slas
    assert record.operators == (("alice", ""), ("bob", "noc"))
    assert record.report_path == str(summary.parent / "report.html")
    assert record.source == "hook"


def test_record_run_twice_updates_and_merges_operators(tmp_path, db):
    summary = write_run(tmp_path / "reports", "s1", utc(2026, 3, 2, 10, 0))
    history.record_run(summary, operators=["alice"], db=db)
    data = json.loads(summary.read_text())
    data["status"] = "failed"
    data["exit_code"] = 1
    summary.write_text(json.dumps(data))

    history.record_run(summary, operators=["carol"], db=db)

    [record] = history.list_runs(db=db)
    assert record.status == "failed"
    assert record.exit_code == 1
    assert [name for name, _role in record.operators] == ["alice", "carol"]


def test_phases_recorded(tmp_path, db):
    summary = write_run(tmp_path / "reports", "s1", utc(2026, 3, 2, 10, 0))
    history.record_run(summary, db=db)

    with history.connect(db) as conn:
        rows = conn.execute("SELECT phase, start, end, ok FROM phases ORDER BY position").fetchall()

    assert [tuple(r) for r in rows] == [("baseline", 0.0, 2.0, 1), ("inject", 2.1, 2.2, 1)]


def test_list_newest_first_with_filter_and_limit(tmp_path, db):
    for day in (1, 3, 2):
        history.record_run(write_run(tmp_path / "r", "a", utc(2026, 3, day, 9, 0)), db=db)
    history.record_run(write_run(tmp_path / "r", "b", utc(2026, 3, 4, 9, 0)), db=db)

    all_runs = history.list_runs(db=db)
    only_a = history.list_runs(scenario="a", limit=2, db=db)

    assert [r.started[:10] for r in all_runs] == ["2026-03-04", "2026-03-03", "2026-03-02", "2026-03-01"]
    assert [r.run_id for r in only_a] == ["a-20260303T090000Z", "a-20260302T090000Z"]


def test_backfill_imports_once(tmp_path, db):
    reports = tmp_path / "reports"
    for hour in (8, 9, 10):
        write_run(reports, "edge-uplink-cut", utc(2026, 3, 2, hour, 0))
    write_run(reports, "frr-primary-cut", utc(2026, 3, 2, 11, 0), status="failed", lab="frr-triangle")
    broken = reports / "edge-uplink-cut" / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")

    first = history.backfill([reports], db=db)
    second = history.backfill([reports], db=db)

    assert len(first.imported) == 4
    assert first.already_recorded == []
    assert [path for path, _ in first.invalid] == [str(broken / "summary.json")]
    assert second.imported == []
    assert len(second.already_recorded) == 4
    assert {r.source for r in history.list_runs(db=db)} == {"backfill"}


def test_backfill_keeps_gameday_link(tmp_path, db):
    summary = write_run(tmp_path / "reports", "s1", utc(2026, 3, 2, 10, 0))
    day = history.start_gameday(name="gd", plan_path="/plan.yaml", window_start=None, window_end=None,
                                timezone=None, notes="", db=db)
    history.record_run(summary, db=db, gameday_id=day, source="gameday")

    history.backfill([tmp_path / "reports"], db=db)

    [record] = history.list_runs(db=db)
    assert record.gameday_id == day
    assert record.source == "gameday"


def test_backfill_missing_folder_rejected(tmp_path, db):
    with pytest.raises(HistoryError, match="no such file or folder"):
        history.backfill([tmp_path / "nowhere"], db=db)


def test_summary_without_run_id_rejected(tmp_path, db):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"scenario": "x", "status": "passed", "exit_code": 0}))

    with pytest.raises(HistoryError, match="missing 'run_id'"):
        history.record_run(path, db=db)


def test_previous_runs_before_run(tmp_path, db):
    ids = [history.record_run(write_run(tmp_path / "r", "s1", utc(2026, 3, day, 9, 0)), db=db) for day in (1, 2, 3, 4)]
    history.record_run(write_run(tmp_path / "r", "other", utc(2026, 3, 5, 9, 0)), db=db)

    earlier = history.previous_runs("s1", before=ids[2], limit=5, db=db)
    latest = history.previous_runs("s1", limit=2, db=db)

    assert [p.run_id for p in earlier] == [ids[1], ids[0]]
    assert earlier[0].status == "passed"
    assert earlier[0].report_path.endswith("report.html")
    assert earlier[0].started.startswith("2026-03-02")
    assert [p.run_id for p in latest] == [ids[3], ids[2]]


def test_schema_version_table(db):
    with history.connect(db):
        pass
    conn = sqlite3.connect(db)
    try:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    finally:
        conn.close()
    assert versions == [(history.SCHEMA_VERSION,)]


def test_newer_schema_rejected(db):
    with history.connect(db):
        pass
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_version SET version = ?", (history.SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()

    with pytest.raises(HistoryError, match="newer than this drillkit"):
        history.list_runs(db=db)


def test_not_a_database_rejected(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_text("this is not SQLite\n" * 100)

    with pytest.raises(HistoryError, match="history database"):
        history.list_runs(db=path)


def test_default_db_follows_drillkit_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILLKIT_HOME", str(tmp_path / "home"))
    assert history.default_db_path() == tmp_path / "home" / "history.sqlite"
    monkeypatch.delenv("DRILLKIT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert history.default_db_path() == tmp_path / "xdg" / "drillkit" / "history.sqlite"


def test_after_run_logs_instead_of_raising(tmp_path, caplog):
    class Result:
        run_id = "gone-1"
        run_dir = tmp_path / "gone"

    with caplog.at_level(logging.WARNING, logger="drillkit.gameday.history"):
        recorded = history.after_run(Result(), db=tmp_path / "h.sqlite")

    assert recorded is None
    assert "gone-1 was not recorded" in caplog.text


def test_cli_import_and_list(tmp_path, db):
    reports = tmp_path / "reports"
    write_run(reports, "edge-uplink-cut", utc(2026, 3, 2, 8, 0), values={"detect": 0.5, "oob_access": 1.0,
                                                                        "recover": 16.0})
    write_run(reports, "frr-primary-cut", utc(2026, 3, 2, 9, 0))

    imported = drillkit("history", "--import", str(reports), "--db", str(db))
    listed = drillkit("history", "--scenario", "edge-uplink-cut", "--db", str(db))
    as_json = drillkit("history", "--json", "--limit", "1", "--db", str(db))

    assert imported.returncode == 0, imported.stderr
    assert "imported 2 runs" in imported.stderr
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("started (UTC)")
    assert "edge-uplink-cut-20260302T080000Z" in lines[1]
    assert "16.00s!" in lines[1]
    assert "frr-primary-cut" not in listed.stdout
    assert lines[-1] == "! missed its SLA target"
    runs = json.loads(as_json.stdout)
    assert [r["run_id"] for r in runs] == ["frr-primary-cut-20260302T090000Z"]
    assert runs[0]["measurements"]["recover"] == 2.0


def test_cli_empty_history(tmp_path):
    result = drillkit("history", "--db", str(tmp_path / "empty.sqlite"))

    assert result.returncode == 0
    assert "no runs recorded" in result.stdout


def test_cli_invalid_limit(tmp_path):
    result = drillkit("history", "--limit", "0", "--db", str(tmp_path / "h.sqlite"))

    assert result.returncode == 2
    assert "give a whole number above 0" in result.stderr
