"""Faults on physical labs: cuts through the device CLI, through external gear, or by hand."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any, ClassVar

from ..errors import FaultError, LabError

log = logging.getLogger(__name__)

#: Set to ``yes`` to confirm manual faults without a person (unattended tests only).
MANUAL_CONFIRM_ENV = "DRILLKIT_MANUAL_CONFIRM"


def run_device_lines(testbed_path: str, device_name: str, via: str | None, lines: list[str],
                     timeout_s: float = 60.0, *, config: bool = True) -> str:
    """Send config lines to a device over one of its connections with netmiko; return the output."""
    from ..lab.physical import close_netmiko, load_testbed, open_netmiko
    from ..oob.console import in_namespace

    testbed = load_testbed(testbed_path)
    device = testbed.devices[device_name]
    conn = device.connection(via, path=None if via else "oob")

    def work() -> str:
        session = open_netmiko(testbed, device, conn)
        try:
            if device.os.startswith("linux") or not config:
                return "\n".join(session.send_command_timing(line, read_timeout=20) for line in lines)
            return session.send_config_set(lines, read_timeout=30)
        finally:
            close_netmiko(session, conn)

    try:
        return in_namespace(conn.namespace, work, timeout_s)
    except LabError:
        raise
    except Exception as exc:
        raise LabError(f"device {device_name}: {type(exc).__name__}: {exc}") from None


class DeviceLinkCut:
    """Shut an interface through the device's CLI (netmiko), usually over its console, and undo it."""

    kind: ClassVar[str] = "device_link_down"

    def __init__(self, name: str, testbed: str, ends: list[tuple[str, str, str]]) -> None:
        self.name = name
        self.testbed = testbed
        self.ends = ends  # (device, interface, connection name or "")

    def describe(self) -> str:
        return "shut " + ", ".join(f"{d}:{i}" + (f" over {v}" if v else "") for d, i, v in self.ends) + \
            " through the device CLI"

    def prepare(self) -> None:
        pass

    def _apply(self, down: bool) -> None:
        from ..lab.physical import interface_commands, load_testbed

        testbed = load_testbed(self.testbed)
        errors = []
        for device, ifname, via in self.ends:
            try:
                lines = interface_commands(testbed.devices[device].os, ifname, down=down)
                run_device_lines(self.testbed, device, via or None, lines)
            except LabError as exc:
                errors.append(str(exc))
        if errors:
            raise FaultError("; ".join(errors), fault=self.name)

    def inject(self) -> None:
        self._apply(down=True)

    def restore(self) -> None:
        self._apply(down=False)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "testbed": self.testbed, "ends": [list(e) for e in self.ends]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DeviceLinkCut:
        return cls(record["name"], record["testbed"], [tuple(e) for e in record["ends"]])


class ExternalFault:
    """Run commands on the drillkit host that drive external gear (a PDU, a layer-1 switch)."""

    kind: ClassVar[str] = "external"

    def __init__(self, name: str, inject_cmd: str, restore_cmd: str, cwd: str | None = None,
                 timeout_s: float = 60.0) -> None:
        self.name = name
        self.inject_cmd = inject_cmd
        self.restore_cmd = restore_cmd
        self.cwd = cwd
        self.timeout_s = timeout_s

    def describe(self) -> str:
        return f"run on the drillkit host: {self.inject_cmd} (restore: {self.restore_cmd})"

    def prepare(self) -> None:
        pass

    def _run(self, command: str, what: str) -> None:
        try:
            proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=self.timeout_s,
                                  cwd=self.cwd, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FaultError(f"{what} command timed out after {self.timeout_s:g} s: {command}", fault=self.name) from None
        if proc.returncode != 0:
            raise FaultError(f"{what} command failed (exit {proc.returncode}): {command}: "
                             f"{(proc.stderr or proc.stdout).strip()[-300:]}", fault=self.name)

    def inject(self) -> None:
        self._run(self.inject_cmd, "inject")

    def restore(self) -> None:
        self._run(self.restore_cmd, "restore")

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "inject": self.inject_cmd, "restore": self.restore_cmd,
                "cwd": self.cwd}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ExternalFault:
        return cls(record["name"], record["inject"], record["restore"], record.get("cwd"))


class ManualFault:
    """A person pulls the cable: the engine prompts, waits for confirmation and timestamps it."""

    kind: ClassVar[str] = "manual"

    def __init__(self, name: str, instructions: str, restore_instructions: str, timeout_s: float = 600.0) -> None:
        self.name = name
        self.instructions = instructions
        self.restore_instructions = restore_instructions
        self.timeout_s = timeout_s

    def describe(self) -> str:
        return f"by hand: {self.instructions}"

    def prepare(self) -> None:
        pass

    def _confirm(self, text: str) -> None:
        print(f"\n>>> {text}\n>>> press Enter when done", file=sys.stderr, flush=True)
        if os.environ.get(MANUAL_CONFIRM_ENV, "").lower() == "yes":
            print(f">>> confirmed by {MANUAL_CONFIRM_ENV}=yes", file=sys.stderr, flush=True)
            return
        try:
            with open("/dev/tty", encoding="utf-8") as tty:
                started = time.monotonic()
                line = tty.readline()
                if not line and time.monotonic() - started >= self.timeout_s:
                    raise FaultError(f"no confirmation within {self.timeout_s:g} s", fault=self.name)
        except OSError:
            line = sys.stdin.readline()
            if not line:
                raise FaultError("no terminal to confirm the manual step; run drillkit in a terminal or set "
                                 f"{MANUAL_CONFIRM_ENV}=yes", fault=self.name) from None

    def inject(self) -> None:
        self._confirm(self.instructions)

    def restore(self) -> None:
        self._confirm(self.restore_instructions)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "instructions": self.instructions,
                "restore_instructions": self.restore_instructions}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ManualFault:
        return cls(record["name"], record["instructions"], record["restore_instructions"])
