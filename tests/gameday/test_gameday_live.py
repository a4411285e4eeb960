"""The live view: plain lines off a terminal, the rich panel on one, both fed by progress lines and the journal."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

from conftest import REPO
from drillkit.gameday.live import LiveView

SLA = {"detect": 2.0, "oob_access": 10.0, "recover": 3.0, "stale_data": 15.0}


def journal_events(start_mono_ns: int) -> list[dict]:
    """Events shaped like the runner's journal: a drill that detects in 0.3 s and recovers too late."""

    def event(seq: int, type_: str, t: float, **fields) -> dict:
        return {"seq": seq, "type": type_, "t": t, "mono_ns": start_mono_ns + int(t * 1e9),
                "wall": "2026-03-02T09:00:00+00:00", **fields}

    return [
        event(1, "run.start", 0.0, run_id="demo-1", scenario={"name": "demo"}, lab={"name": "t-lab"}, sla=SLA,
              probes=[{"name": "noc-to-inf1", "role": "detect"}, {"name": "site2", "role": "guard"}]),
        event(2, "phase", 0.01, phase="baseline", state="start"),
        event(3, "phase", 2.0, phase="baseline", state="end", ok=True),
        event(4, "probe.transition", 2.0, probe="noc-to-inf1", state="healthy"),
        event(5, "phase", 2.1, phase="inject", state="start"),
        event(6, "fault.inject", 2.2, fault="uplink", kind="link_down", ok=True, t_start=2.15),
        event(7, "phase", 2.2, phase="inject", state="end", ok=True),
        event(8, "phase", 2.2, phase="detect", state="start"),
        event(9, "probe.sample", 2.4, probe="noc-to-inf1", ok=False, detail="connect timed out"),
        event(10, "probe.transition", 2.45, probe="noc-to-inf1", state="failing"),
        event(11, "mark", 2.45, name="detect", at=2.45, uncertainty_s=0.25),
        event(12, "phase", 2.46, phase="detect", state="end", ok=True),
        event(13, "violation", 3.0, detail="in-band attempt ssh 10.0.0.2 -> 10.0.1.1:22"),
        event(14, "mark", 3.5, name="oob_access", at=3.5, uncertainty_s=0.0),
        event(15, "mark", 6.15, name="recover", at=6.15, uncertainty_s=0.5),
        event(16, "run.end", 7.0, status="failed", exit_code=1),
    ]


def write_journal_slowly(path: Path, events: list[dict], pause: float = 0.02) -> threading.Thread:
    """Append the events one by one, as a running drill does, the last line in two writes."""

    def writer() -> None:
        with open(path, "a", encoding="utf-8") as fh:
            for event in events[:-1]:
                fh.write(json.dumps(event) + "\n")
                fh.flush()
                time.sleep(pause)
            line = json.dumps(events[-1]) + "\n"
            fh.write(line[:10])
            fh.flush()
            time.sleep(pause * 5)
            fh.write(line[10:])

    thread = threading.Thread(target=writer)
    thread.start()
    return thread


def test_plain_lines_from_progress_and_journal(tmp_path):
    out = io.StringIO()
    view = LiveView(plain=True, stream=out)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    with view:
        view.progress(f"[   0.00s] drill demo on lab t-lab: {run_dir}")
        writer = write_journal_slowly(run_dir / "journal.jsonl", journal_events(time.monotonic_ns()))
        writer.join()
        deadline = time.monotonic() + 5
        while view.runs()[0].status is None and time.monotonic() < deadline:
            time.sleep(0.05)
        view.progress("[   7.00s] demo: FAILED (exit 1)")

    lines = out.getvalue().splitlines()
    assert lines == [
        f"[   0.00s] drill demo on lab t-lab: {run_dir}",
        "SLA detect: 0.30 s of 2 s, within target",
        "SLA oob_access: 1.35 s of 10 s, within target",
        "SLA recover: 4.00 s of 3 s, MISSED",
        "[   7.00s] demo: FAILED (exit 1)",
    ]
    state = view.runs()[0]
    assert state.status == "failed"
    assert state.exit_code == 1
    assert state.violations == ["in-band attempt ssh 10.0.0.2 -> 10.0.1.1:22"]
    assert state.probes["noc-to-inf1"]["state"] == "failing"


def test_explicit_follow(tmp_path):
    view = LiveView(plain=True, stream=io.StringIO(), auto_follow=False)
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in journal_events(time.monotonic_ns())))

    view.follow(path)
    deadline = time.monotonic() + 5
    while (not view.runs() or view.runs()[0].status is None) and time.monotonic() < deadline:
        time.sleep(0.05)
    view.stop()

    state = view.runs()[0]
    assert state.scenario == "demo"
    assert state.lab == "t-lab"
    assert state.measured("detect") == 2.45 - 2.15
    assert state.phases["baseline"] == {"start": 0.01, "end": 2.0, "ok": True}


def test_channels_prefix_lines():
    out = io.StringIO()
    view = LiveView(plain=True, stream=out, auto_follow=False)
    first = view.channel("3.1")
    second = view.channel("3.2")

    first("[   1.00s] phase inject")
    second("[   1.10s] phase inject")

    assert out.getvalue().splitlines() == ["[3.1] [   1.00s] phase inject", "[3.2] [   1.10s] phase inject"]


def render_lines(view: LiveView, width: int = 110) -> list[str]:
    """Return the panel's lines as a terminal shows them, without the border."""
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True, color_system=None)
    console.print(view.render())
    return [line.strip("│ ").rstrip() for line in console.export_text().splitlines()]


def row(lines: list[str], first_word: str) -> str:
    return next(line for line in lines if line.split(" ", 1)[0] == first_word)


def test_panel_shows_phases_timers_probes_violations():
    view = LiveView(plain=False, console=Console(file=io.StringIO(), force_terminal=True), auto_follow=False)
    events = journal_events(time.monotonic_ns() - int(3.2e9))
    for event in events[:13]:
        view.apply(event)

    lines = render_lines(view)

    assert "demo on lab t-lab" in lines[0]
    assert "phase detect" in lines[-1]
    assert row(lines, "phases:").startswith("phases: baseline ✓ inject ✓ detect ✓ oob_access")
    assert row(lines, "detect").split() == ["detect", "0.30s", "2s", "met"]
    assert row(lines, "oob_access").split()[2:] == ["10s", "running"]
    assert row(lines, "recover").split()[2:] == ["3s", "running"]
    assert row(lines, "stale_data").split() == ["stale_data", "-", "15s", "measured", "after", "the", "run"]
    assert row(lines, "noc-to-inf1").split() == ["noc-to-inf1", "detect", "failing", "connect", "timed", "out"]
    assert row(lines, "site2").split() == ["site2", "guard", "unknown"]
    assert "1 violation(s): in-band attempt ssh 10.0.0.2 -> 10.0.1.1:22" in lines


def test_panel_after_run_end():
    view = LiveView(plain=False, console=Console(file=io.StringIO(), force_terminal=True), auto_follow=False)
    for event in journal_events(time.monotonic_ns()):
        view.apply(event)

    lines = render_lines(view)

    assert "FAILED (exit 1)" in lines[-1]
    assert row(lines, "recover").split() == ["recover", "4.00s", "3s", "MISSED"]
    assert row(lines, "oob_access").split() == ["oob_access", "1.35s", "10s", "met"]


def test_live_panel_on_terminal(tmp_path):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    view = LiveView(console=console, auto_follow=False, refresh_per_second=20)

    assert view.plain is False
    with view:
        view.progress("[   0.00s] drill demo on lab t-lab: /nonexistent")
        for event in journal_events(time.monotonic_ns()):
            view.apply(event)
        time.sleep(0.2)

    screen = out.getvalue()
    assert "[   0.00s] drill demo on lab t-lab: /nonexistent" in screen
    assert "demo on lab t-lab" in screen
    assert "FAILED (exit 1)" in screen


def test_not_a_terminal_gives_plain_lines():
    code = ("from drillkit.gameday.live import LiveView\n"
            "view = LiveView()\n"
            "print('plain' if view.plain else 'live')\n"
            "view.progress('[   0.10s] phase baseline')\n")

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)

    assert result.stdout.splitlines() == ["plain", "[   0.10s] phase baseline"]
    assert "\x1b[" not in result.stdout
