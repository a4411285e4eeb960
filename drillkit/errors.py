"""Exceptions raised by drillkit.

Every error carries enough context to act on: the file and line, the field, the
value found, and the fix or the valid choices.

    DrillkitError
     +-- ConfigError               invalid scenario, topology or testbed file
     |    +-- ScenarioError        a scenario file
     |    +-- TopologyError        a topology file
     +-- LabError                 a lab cannot be built, found or torn down
     |    +-- PermissionError_     the lab needs root
     |    +-- LabStateError        lab already up, or not up
     +-- FaultError               a fault failed to inject or restore
     +-- OobError                 the out-of-band path failed
     +-- StepError                a recovery step failed
     +-- DrillTimeout             a wait ran past its limit
     +-- DrillAborted             a stop condition fired (exit status 3)
     +-- SlaMissed                a phase took longer than its target
"""

from __future__ import annotations


class DrillkitError(Exception):
    """Base class of every error drillkit raises on purpose."""

    #: Exit status of ``drillkit`` when this error ends a command.
    exit_code = 2


class ConfigError(DrillkitError):
    """An input file is invalid.

    Attributes:
        path: the file, or None for a document given as text.
        line: 1-based line of the offending value, or None.
        field: dotted path of the field, for example ``probes[2].interval``.
        value: the value found.
        fix: what would be valid.
    """

    kind = "configuration"

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.line = line
        self.field = field
        self.value = value
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.path or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.problem
        if self.value is not None:
            shown = repr(self.value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            text += f" (found {shown})"
        if self.fix:
            text += f"; {self.fix}"
        return text


class ScenarioError(ConfigError):
    """A scenario file is invalid."""

    kind = "scenario"


class TopologyError(ConfigError):
    """A topology file is invalid or uses something the backend cannot build."""

    kind = "topology"


class LabError(DrillkitError):
    """A lab cannot be built, found or torn down."""


class NeedsRootError(LabError):
    """The command needs root privileges, as containerlab does."""

    def __init__(self, action: str) -> None:
        super().__init__(
            f"{action} needs root: labs create network namespaces, veth pairs and "
            "nftables tables, as containerlab does; run it again with sudo or as root"
        )


class LabStateError(LabError):
    """The lab is in the wrong state for the command (already up, or not up)."""


class FaultError(DrillkitError):
    """A fault failed to inject or to restore."""

    def __init__(self, message: str, *, fault: str | None = None) -> None:
        self.fault = fault
        super().__init__(f"fault {fault!r}: {message}" if fault else message)


class OobError(DrillkitError):
    """The out-of-band path failed or an in-band path was requested during a fault."""


class StepError(DrillkitError):
    """A recovery step failed."""

    def __init__(self, message: str, *, step: str | None = None) -> None:
        self.step = step
        super().__init__(f"step {step!r}: {message}" if step else message)


class DrillTimeout(DrillkitError):
    """A wait ran past its limit.

    Attributes:
        waited_s: seconds waited.
        limit_s: the limit in seconds.
    """

    def __init__(self, message: str, *, waited_s: float, limit_s: float) -> None:
        self.waited_s = waited_s
        self.limit_s = limit_s
        super().__init__(f"{message} (waited {waited_s:.2f} s, limit {limit_s:.2f} s)")


class DrillAborted(DrillkitError):
    """A stop condition fired; the faults were restored and the drill ended early."""

    exit_code = 3

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"drill aborted: {reason}")


class SlaMissed(DrillkitError):
    """A phase took longer than its SLA target.

    Attributes:
        sla: the SLA name, for example ``recover``.
        measured_s: the measured duration in seconds.
        target_s: the target in seconds.
    """

    exit_code = 1

    def __init__(self, sla: str, measured_s: float | None, target_s: float) -> None:
        self.sla = sla
        self.measured_s = measured_s
        self.target_s = target_s
        measured = "never reached" if measured_s is None else f"{measured_s:.2f} s"
        super().__init__(f"SLA {sla} missed: {measured}, target {target_s:.2f} s")
