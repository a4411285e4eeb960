"""Approvals before each disruption: from ``--approve ROLE=NAME`` or from a person at the terminal."""

from __future__ import annotations

import datetime as _dt
import sys
from dataclasses import dataclass
from typing import Callable

from .errors import GamedayRefused
from .plan import GamedayPlan, PlanDrill

APPROVED = "approved"
DECLINED = "declined"
#: Maximum prompts per role; after that many unrecognized names the role counts as declining.
MAX_PROMPTS = 3


@dataclass(frozen=True)
class Approval:
    """One role's decision on one drill."""

    label: str
    scenario: str
    role: str
    approver: str
    decision: str
    at: _dt.datetime
    method: str

    @property
    def approved(self) -> bool:
        return self.decision == APPROVED


class ApprovalGate:
    """Collect the approvals a drill needs before it disrupts anything.

    Args:
        plan: the game-day plan (roles and the people holding them).
        preapproved: role to person, from ``--approve``; those roles are not asked.
        ask: reads one answer after printing a prompt (default ``input``). None
            means standard input is not a terminal, so a missing approval raises
            GamedayRefused.
        say: prints a line for the person at the terminal.
        now: the current time (UTC).
    """

    def __init__(self, plan: GamedayPlan, preapproved: dict[str, str] | None = None, *,
                 ask: Callable[[str], str] | None = input, say: Callable[[str], None] | None = None,
                 now: Callable[[], _dt.datetime] | None = None) -> None:
        self.plan = plan
        self.preapproved = dict(preapproved or {})
        self.ask = ask
        self.say = say or (lambda text: print(text, flush=True))
        self.now = now or (lambda: _dt.datetime.now(_dt.timezone.utc))

    def missing_roles(self) -> list[str]:
        """Return the roles some drill needs that ``--approve`` does not cover."""
        needed = []
        for drill in self.plan.drills:
            for role in drill.approvals:
                if role not in self.preapproved and role not in needed:
                    needed.append(role)
        return needed

    def request(self, drill: PlanDrill) -> list[Approval]:
        """Ask every role the drill needs, in plan order, and stop at the first decline.

        Returns:
            The decisions; the drill may run only if every one is approved.

        Raises:
            GamedayRefused: a role must be asked but ``ask`` is None.
        """
        decisions: list[Approval] = []
        if drill.approvals:
            self.say(f"approval needed before drill {drill.label} {drill.name!r} on lab {drill.lab}: "
                     f"cuts {drill.describe_faults()}")
        for role in drill.approvals:
            if role in self.preapproved:
                decisions.append(self._decision(drill, role, self.preapproved[role], APPROVED, "command line"))
                self.say(f"  {role}: approved by {self.preapproved[role]} (--approve)")
                continue
            if self.ask is None:
                raise GamedayRefused(f"drill {drill.label} {drill.name!r} needs the approval of role {role} "
                                     f"({', '.join(self.plan.roles[role].people)}), and nobody is at a terminal "
                                     f"to give it; pass --approve {role}=NAME")
            decision = self._prompt(drill, role)
            decisions.append(decision)
            if not decision.approved:
                break
        return decisions

    def _prompt(self, drill: PlanDrill, role: str) -> Approval:
        people = self.plan.roles[role].people
        names = " or ".join(people)
        prompt = f"  {role} ({', '.join(people)}): type your name to approve, or press Enter to decline: "
        assert self.ask is not None
        for _attempt in range(MAX_PROMPTS):
            try:
                answer = self.ask(prompt).strip()
            except EOFError:
                self.say("")
                return self._decision(drill, role, "", DECLINED, "terminal (end of input)")
            if not answer:
                return self._decision(drill, role, "", DECLINED, "terminal")
            match = next((p for p in people if p.casefold() == answer.casefold()), None)
            if match is None and len(people) == 1 and answer.casefold() in ("y", "yes"):
                match = people[0]
            if match is not None:
                return self._decision(drill, role, match, APPROVED, "terminal")
            self.say(f"  {answer!r} does not hold role {role}; type {names}, or press Enter to decline")
        return self._decision(drill, role, "", DECLINED, "terminal (no valid name)")

    def _decision(self, drill: PlanDrill, role: str, person: str, decision: str, method: str) -> Approval:
        return Approval(label=drill.label, scenario=drill.scenario.name, role=role, approver=person,
                        decision=decision, at=self.now(), method=method)


def terminal_ask() -> Callable[[str], str] | None:
    """Return ``input`` when standard input is a terminal, else None."""
    return input if sys.stdin is not None and sys.stdin.isatty() else None
