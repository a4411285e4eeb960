"""Running a game day: window, approvals, sequence and parallel groups, and what the history keeps.

The drills here are fakes that write a summary.json, so these tests need no lab;
test_gameday_tmux.py runs a real one.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from drillkit.errors import LabStateError
from drillkit.gameday import history
from drillkit.gameday.approvals import ApprovalGate
from drillkit.gameday.errors import GamedayRefused
from drillkit.gameday.live import LiveView
from drillkit.gameday.plan import load_plan
from drillkit.gameday.runner import GamedayRunner, combine_exit_codes
from gameday_support import drillkit, fake_result, utc
from test_gameday_plan import VALID

INSIDE = utc(2026, 3, 2, 9, 30)


class FakeExecutor:
    """Writes a run folder per drill; the status per scenario, a delay and errors are set by the test."""

    def __init__(self, reports: Path, *, statuses: dict[str, str] | None = None, delay: float = 0.0,
                 errors: dict[str, Exception] | None = None) -> None:
        self.reports = reports
        self.statuses = statuses or {}
        self.delay = delay
        self.errors = errors or {}
        self.calls: list[tuple[str, bool]] = []
        self.lab_groups: list[list[str]] = []
        self.aborted: list[str] = []
        self.active = 0
        self.max_active = 0
        self._count = 0
        self._lock = threading.Lock()

    def run(self, drill, progress, *, labs_ready=False):
        with self._lock:
            self.calls.append((drill.label, labs_ready))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self._count += 1
            started = utc(2026, 3, 2, 9, 0) + _dt.timedelta(minutes=self._count)
        try:
            progress(f"step of drill {drill.label}")
            time.sleep(self.delay)
            if drill.scenario.name in self.errors:
                raise self.errors[drill.scenario.name]
            return fake_result(self.reports, drill.scenario.name, started, lab=drill.lab,
                               status=self.statuses.get(drill.scenario.name, "passed"))
        finally:
            with self._lock:
                self.active -= 1

    def abort_all(self, reason):
        self.aborted.append(reason)

    @contextmanager
    def labs_up(self, drills):
        self.lab_groups.append([d.lab for d in drills])
        yield


class Script:
    """Answers approval prompts from a list, and records the prompts."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(VALID)
    return load_plan(path)


def make_runner(plan, tmp_path, *, executor=None, preapproved=None, ask=None, now=None, lines=None):
    lines = lines if lines is not None else []
    gate = ApprovalGate(plan, preapproved, ask=ask, say=lines.append, now=lambda: INSIDE)
    executor = executor or FakeExecutor(tmp_path / "reports")
    runner = GamedayRunner(plan, gate=gate, executor=executor, db=tmp_path / "h.sqlite",
                           now=now or (lambda: INSIDE), view=lambda: LiveView(plain=True, stream=io.StringIO()),
                           say=lines.append)
    return runner, executor


ALL_APPROVED = {"network-owner": "dave", "noc": "bob", "facilitator": "alice"}


def test_preapproved_day_runs_every_drill(plan, tmp_path):
    runner, executor = make_runner(plan, tmp_path, preapproved=ALL_APPROVED)

    outcome = runner.run()

    assert outcome.status == "completed"
    assert outcome.exit_code == 0
    assert sorted(label for label, _ in executor.calls) == ["1", "2.1", "2.2"]
    assert [o.status for o in outcome.outcomes] == ["passed", "passed", "passed"]


def test_history_keeps_day_runs_and_approvals(plan, tmp_path):
    runner, _ = make_runner(plan, tmp_path, preapproved=ALL_APPROVED)

    outcome = runner.run()

    db = tmp_path / "h.sqlite"
    [day] = history.list_gamedays(db=db)
    runs = history.list_runs(db=db)
    assert day["id"] == outcome.gameday_id
    assert day["status"] == "completed"
    assert day["window_start"] == "2026-03-02T08:00:00.000000+00:00"
    assert day["timezone"] == "Europe/Berlin"
    assert [i["label"] for i in day["items"]] == ["1", "2.1", "2.2"]
    assert all(i["run_id"] for i in day["items"])
    assert {r.gameday_id for r in runs} == {outcome.gameday_id}
    assert {r.source for r in runs} == {"gameday"}
    assert ("carol", "noc") in runs[0].operators
    first = [a for a in day["approvals"] if a["label"] == "1"]
    assert [(a["role"], a["approver"], a["decision"], a["method"]) for a in first] == [
        ("network-owner", "dave", "approved", "command line"), ("noc", "bob", "approved", "command line")]
    assert first[0]["at"] == "2026-03-02T09:30:00.000000+00:00"
    run_of_1 = next(i["run_id"] for i in day["items"] if i["label"] == "1")
    assert {a["run_id"] for a in first} == {run_of_1}


def test_terminal_approvals_asked_per_drill(plan, tmp_path):
    # The facilitator prompt gets a name that does not hold the role, then "y" from its only holder.
    ask = Script(["dave", "Carol", "dave", "dave", "y"])
    lines: list[str] = []
    runner, executor = make_runner(plan, tmp_path, ask=ask, lines=lines)

    outcome = runner.run()

    assert outcome.exit_code == 0
    assert ask.prompts[0] == "  network-owner (dave): type your name to approve, or press Enter to decline: "
    assert ask.prompts[1] == "  noc (bob, carol): type your name to approve, or press Enter to decline: "
    assert len(ask.prompts) == 5
    assert "approval needed before drill 1 'edge-uplink-cut' on lab edge-ai: cuts site1-uplink " \
           "(link_down core:eth2)" in lines
    approvals = history.list_gamedays(db=tmp_path / "h.sqlite")[0]["approvals"]
    assert [(a["label"], a["role"], a["approver"], a["method"]) for a in approvals] == [
        ("1", "network-owner", "dave", "terminal"), ("1", "noc", "carol", "terminal"),
        ("2.1", "network-owner", "dave", "terminal"), ("2.2", "facilitator", "alice", "terminal")]


def test_parallel_group_asked_before_it_starts(plan, tmp_path):
    ask = Script(["dave", "bob", "dave", "alice"])
    runner, executor = make_runner(plan, tmp_path, ask=ask)

    outcome = runner.run()

    approvals = history.list_gamedays(db=tmp_path / "h.sqlite")[0]["approvals"]
    assert outcome.exit_code == 0
    assert [(a["label"], a["role"], a["approver"]) for a in approvals] == [
        ("1", "network-owner", "dave"), ("1", "noc", "bob"), ("2.1", "network-owner", "dave"),
        ("2.2", "facilitator", "alice")]


def test_declined_drill_not_run(plan, tmp_path):
    ask = Script(["", "dave", "alice"])
    runner, executor = make_runner(plan, tmp_path, ask=ask)

    outcome = runner.run()

    assert [label for label, _ in sorted(executor.calls)] == ["2.1", "2.2"]
    assert outcome.outcomes[0].status == "declined"
    assert outcome.outcomes[0].detail == "declined by role network-owner (terminal)"
    assert outcome.exit_code == 1
    day = history.list_gamedays(db=tmp_path / "h.sqlite")[0]
    declined = day["approvals"][0]
    assert (declined["label"], declined["role"], declined["decision"], declined["approver"]) == \
        ("1", "network-owner", "declined", "")
    assert day["items"][0]["status"] == "declined"
    assert day["items"][0]["run_id"] is None


def test_wrong_name_asked_again(plan, tmp_path):
    ask = Script(["erin", "dave", "bob", "dave", "alice"])
    lines: list[str] = []
    runner, _ = make_runner(plan, tmp_path, ask=ask, lines=lines)

    outcome = runner.run()

    assert outcome.exit_code == 0
    assert "  'erin' does not hold role network-owner; type dave, or press Enter to decline" in lines
    assert ask.prompts[0] == ask.prompts[1]


def test_end_of_input_declines(plan, tmp_path):
    runner, executor = make_runner(plan, tmp_path, ask=Script([]))

    outcome = runner.run()

    assert executor.calls == []
    assert [o.status for o in outcome.outcomes] == ["declined", "declined", "declined"]


def test_no_terminal_missing_approval_refused(plan, tmp_path):
    runner, executor = make_runner(plan, tmp_path, preapproved={"network-owner": "dave"}, ask=None)

    with pytest.raises(GamedayRefused, match="needs the approval of role noc"):
        runner.run()

    assert executor.calls == []
    [day] = history.list_gamedays(db=tmp_path / "h.sqlite")
    assert day["status"] == "refused"


def test_outside_window_refused(plan, tmp_path):
    runner, executor = make_runner(plan, tmp_path, preapproved=ALL_APPROVED, now=lambda: utc(2026, 3, 2, 11, 0))

    with pytest.raises(GamedayRefused) as caught:
        runner.run()

    message = str(caught.value)
    assert "the window 2026-03-02 09:00 to 2026-03-02 12:00 Europe/Berlin is over" in message
    assert "(now 2026-03-02 12:00)" in message
    assert "nothing was disrupted" in message
    assert executor.calls == []
    assert history.list_gamedays(db=tmp_path / "h.sqlite") == []


def test_before_window_refused(plan, tmp_path):
    runner, _ = make_runner(plan, tmp_path, preapproved=ALL_APPROVED, now=lambda: utc(2026, 3, 1, 9, 0))

    with pytest.raises(GamedayRefused, match="has not started yet"):
        runner.run()


def test_window_ends_between_drills(plan, tmp_path):
    times = iter([INSIDE, INSIDE, INSIDE])
    runner, executor = make_runner(plan, tmp_path, preapproved=ALL_APPROVED,
                                   now=lambda: next(times, utc(2026, 3, 2, 11, 5)))

    outcome = runner.run()

    assert [label for label, _ in executor.calls] == ["1"]
    assert outcome.status == "stopped"
    assert [o.status for o in outcome.outcomes] == ["passed", "skipped", "skipped"]
    assert outcome.outcomes[1].detail == "not run: the window ended at 2026-03-02 12:00 Europe/Berlin"
    assert outcome.exit_code == 1


def test_parallel_group_runs_concurrently(plan, tmp_path):
    executor = FakeExecutor(tmp_path / "reports", delay=0.5)
    runner, _ = make_runner(plan, tmp_path, executor=executor, preapproved=ALL_APPROVED)

    outcome = runner.run()

    assert outcome.exit_code == 0
    # Each drill takes 0.5 s, so the two of the group overlap when they run in threads.
    assert executor.max_active == 2
    assert executor.lab_groups == [["edge-ai", "frr-triangle"]]
    assert sorted(executor.calls) == [("1", False), ("2.1", True), ("2.2", True)]


def test_stop_on_failure_skips_rest(plan, tmp_path):
    stopping = dataclasses.replace(plan, stop_on_failure=True)
    executor = FakeExecutor(tmp_path / "reports", statuses={"edge-uplink-cut": "failed"})
    runner, _ = make_runner(stopping, tmp_path, executor=executor, preapproved=ALL_APPROVED)

    outcome = runner.run()

    assert [o.status for o in outcome.outcomes] == ["failed", "skipped", "skipped"]
    assert outcome.outcomes[1].detail == "not run: stop_on_failure: a drill did not pass"
    assert outcome.status == "stopped"


def test_drill_that_cannot_start_recorded(plan, tmp_path):
    executor = FakeExecutor(tmp_path / "reports",
                            errors={"frr-primary-cut": LabStateError("lab 'frr-triangle' is not up")})
    runner, _ = make_runner(plan, tmp_path, executor=executor, preapproved=ALL_APPROVED)

    outcome = runner.run()

    failed = outcome.outcomes[2]
    assert (failed.drill.label, failed.status, failed.exit_code) == ("2.2", "error", 2)
    assert failed.detail == "lab 'frr-triangle' is not up"
    assert outcome.exit_code == 2
    items = history.list_gamedays(db=tmp_path / "h.sqlite")[0]["items"]
    assert next(i for i in items if i["label"] == "2.2")["detail"] == "lab 'frr-triangle' is not up"


def test_exit_code_is_highest():
    assert combine_exit_codes([]) == 0
    assert combine_exit_codes([0, 1, 0]) == 1
    assert combine_exit_codes([1, 3, 2]) == 3


def test_summary_lines(plan, tmp_path):
    lines: list[str] = []
    runner, _ = make_runner(plan, tmp_path, preapproved=ALL_APPROVED, lines=lines)

    outcome = runner.run()

    assert lines[0].startswith(f"game day test-day started (history id {outcome.gameday_id})")
    assert "=== game day test-day: completed" in lines
    assert lines[-1] == f"recorded in the history as game day {outcome.gameday_id}"


def write_plan_around_now(tmp_path: Path, *, minutes_from_now: int, length_minutes: int = 60) -> Path:
    start = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=minutes_from_now)
    end = start + _dt.timedelta(minutes=length_minutes)
    text = VALID.replace('{start: "2026-03-02 09:00", end: "2026-03-02 12:00", timezone: Europe/Berlin}',
                         f'{{start: "{start:%Y-%m-%d %H:%M}", end: "{end:%Y-%m-%d %H:%M}", timezone: UTC}}')
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_cli_outside_window_exit_2(tmp_path):
    path = write_plan_around_now(tmp_path, minutes_from_now=-180)
    db = tmp_path / "h.sqlite"

    result = drillkit("gameday", str(path), "--yes", "--approve", "network-owner=dave", "--approve", "noc=bob",
                      "--approve", "facilitator=alice", "--db", str(db), stdin=subprocess.DEVNULL)

    assert result.returncode == 2
    assert "is over" in result.stderr
    assert "nothing was disrupted" in result.stderr
    assert history.list_gamedays(db=db) == []


def test_cli_without_terminal_needs_approve(tmp_path):
    path = write_plan_around_now(tmp_path, minutes_from_now=-5)

    result = drillkit("gameday", str(path), "--yes", "--approve", "network-owner=dave", "--db",
                      str(tmp_path / "h.sqlite"), stdin=subprocess.DEVNULL)

    assert result.returncode == 2
    assert "needs approvals from noc, facilitator, and standard input is not a terminal" in result.stderr
    assert "--approve ROLE=NAME" in result.stderr


def test_cli_unknown_approver_rejected(tmp_path):
    path = write_plan_around_now(tmp_path, minutes_from_now=-5)

    result = drillkit("gameday", str(path), "--approve", "noc=erin", "--db", str(tmp_path / "h.sqlite"),
                      stdin=subprocess.DEVNULL)

    assert result.returncode == 2
    assert "'erin' does not hold role 'noc'; noc is held by bob, carol" in result.stderr


def test_cli_without_terminal_needs_yes(tmp_path):
    path = write_plan_around_now(tmp_path, minutes_from_now=-5)

    result = drillkit("gameday", str(path), "--approve", "network-owner=dave", "--approve", "noc=bob",
                      "--approve", "facilitator=alice", "--db", str(tmp_path / "h.sqlite"),
                      stdin=subprocess.DEVNULL)

    assert result.returncode == 2
    assert "was not started: confirm on a terminal, or pass --yes" in result.stderr


class WaitingExecutor(FakeExecutor):
    """Drills that run until ``abort_all`` is called, as a real drill runs until it is stopped."""

    def __init__(self, reports: Path) -> None:
        super().__init__(reports)
        self.stopped = threading.Event()

    def run(self, drill, progress, *, labs_ready=False):
        if labs_ready:
            self.stopped.wait(timeout=10)
        return super().run(drill, progress, labs_ready=labs_ready)

    def abort_all(self, reason):
        super().abort_all(reason)
        self.stopped.set()


def test_ctrl_c_stops_parallel_group(plan, tmp_path):
    executor = WaitingExecutor(tmp_path / "reports")
    runner, _ = make_runner(plan, tmp_path, executor=executor, preapproved=ALL_APPROVED)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))

    timer.start()
    try:
        outcome = runner.run()
    finally:
        timer.cancel()

    assert executor.aborted == ["interrupted by SIGINT"]
    assert outcome.status == "stopped"
    assert [o.detail for o in outcome.outcomes[1:]] == ["interrupted by SIGINT", "interrupted by SIGINT"]


class TeardownFailsExecutor(FakeExecutor):
    @contextmanager
    def labs_up(self, drills):
        yield
        raise LabStateError("lab 'frr-triangle' is still up")


def test_lab_teardown_failure_keeps_verdicts(plan, tmp_path):
    lines: list[str] = []
    executor = TeardownFailsExecutor(tmp_path / "reports")
    runner, _ = make_runner(plan, tmp_path, executor=executor, preapproved=ALL_APPROVED, lines=lines)

    outcome = runner.run()

    assert [o.status for o in outcome.outcomes] == ["passed", "passed", "passed"]
    assert any("removing the labs of the group failed: lab 'frr-triangle' is still up" in line for line in lines)
    items = history.list_gamedays(db=tmp_path / "h.sqlite")[0]["items"]
    assert [i["status"] for i in items] == ["passed", "passed", "passed"]
