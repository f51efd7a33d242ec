"""Approvers: who decides on a plan, and how a decision comes back to the run.

An ``Approver`` looks at a proposal and returns a ``Verdict``; the ``Session`` actor turns it
into a journaled ``PlanDecision`` naming the approver of the session (the OS user in a
terminal, the embedding program in a library) — never a name from the request or a model.
The terminal prompt lives in ``chiffon.cli.prompt``; ``--yes`` is ``AutoApprove``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from chiffon.protocol import PlanProposed


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """An approver's answer. ``modify`` needs ``feedback``: it becomes the next plan's input."""

    decision: Literal["approve", "reject", "modify"]
    feedback: str | None = None

    def __post_init__(self) -> None:
        if self.decision == "modify" and not (self.feedback and self.feedback.strip()):
            raise ValueError("a modify verdict needs feedback: what should change")


class Approver(Protocol):
    """Decides on plans. ``wants_dry_run`` says whether the check-mode diff is worth its
    seconds (a human reads it; ``--yes`` does not)."""

    wants_dry_run: bool

    async def decide(self, proposal: PlanProposed) -> Verdict | None:
        """The verdict on one proposal, or ``None`` for no answer. May take as long as the
        human does; the run expires the proposal on its own at ``proposal.expires_at``."""
        ...


class AutoApprove:
    """``--yes``: approves every valid plan, recorded with channel ``yes``."""

    wants_dry_run = False

    async def decide(self, proposal: PlanProposed) -> Verdict:
        return Verdict("approve")


class CallbackApprover:
    """A library's approver: a function (sync or async) of the proposal returning a
    ``Verdict`` (or ``True``/``False`` for approve/reject)."""

    def __init__(
        self,
        decide: Callable[[PlanProposed], Verdict | bool | Awaitable[Verdict | bool]],
        *,
        wants_dry_run: bool = False,
    ) -> None:
        self._decide = decide
        self.wants_dry_run = wants_dry_run

    async def decide(self, proposal: PlanProposed) -> Verdict:
        answer = self._decide(proposal)
        if isinstance(answer, Awaitable):
            answer = await answer
        if isinstance(answer, bool):
            return Verdict("approve" if answer else "reject")
        return answer
