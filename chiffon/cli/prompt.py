"""The terminal approver: the dry run, then approve / reject / modify at a prompt.

Input is read from the terminal without a thread (the event loop watches stdin), so a
proposal that expires at the prompt ends the wait cleanly (the run records ``expired``), and
a decision made elsewhere (``chiffon approve`` in another terminal) ends it at once: the
prompt is cancelled, and the run goes on as that decision says.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from typing import TYPE_CHECKING

from chiffon.cli.render import print_dry_run, until
from chiffon.orchestrator.approval import Verdict

if TYPE_CHECKING:
    from rich.console import Console

    from chiffon.protocol import PlanProposed

APPROVE = {"a", "approve", "y", "yes"}
REJECT = {"r", "reject", "n", "no"}
MODIFY = {"m", "modify", "e", "edit"}


async def read_line(console: Console, prompt: str, deadline: dt.datetime) -> str | None:
    """One line from stdin, or ``None`` at the deadline or at end of input."""
    console.print(prompt, end="")
    console.file.flush()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    done: asyncio.Future[str | None] = loop.create_future()
    buffer = bytearray()

    def readable() -> None:
        chunk = os.read(fd, 4096)
        if not chunk:
            if not done.done():
                done.set_result(None)
            return
        buffer.extend(chunk)
        if b"\n" in buffer and not done.done():
            done.set_result(buffer.split(b"\n", 1)[0].decode(errors="replace"))

    loop.add_reader(fd, readable)
    try:
        remaining = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
        return await asyncio.wait_for(done, timeout=max(remaining, 0.0))
    except TimeoutError:
        console.print()
        return None
    finally:
        loop.remove_reader(fd)


ANSWERS = (
    "answers: [bold]a[/]pprove (run the plan as shown), [bold]r[/]eject (run nothing), "
    "[bold]m[/]odify (say what should change: a new plan is made and shown)"
)
"""Printed above the prompt: what each answer does."""


class TerminalApprover:
    """Shows the dry run and asks the person at the terminal."""

    wants_dry_run = True

    def __init__(self, console: Console) -> None:
        self.console = console

    async def decide(self, proposal: PlanProposed) -> Verdict | None:
        try:
            return await self.ask(proposal)
        except asyncio.CancelledError:
            self.console.print()  # decided elsewhere: end the prompt's line
            raise

    async def ask(self, proposal: PlanProposed) -> Verdict | None:
        console = self.console
        if proposal.dry_run:
            print_dry_run(console, proposal.plan, proposal.dry_run)
        console.print(
            f"[dim]plan revision {proposal.revision}, {proposal.plan_hash[:19]}…; "
            f"expires in {until(proposal.expires_at)}; or decide from another terminal: "
            f"chiffon approve {proposal.run_id}[/]"
        )
        console.print(ANSWERS, highlight=False)
        while True:
            answer = await read_line(
                console, "[bold]Approve, reject or modify?[/] [a/r/m] ", proposal.expires_at
            )
            if answer is None:
                console.print("[yellow]no decision: the plan expires[/]")
                return None
            word = answer.strip().lower()
            if word in APPROVE:
                return Verdict("approve")
            if word in REJECT:
                return Verdict("reject")
            if word in MODIFY:
                feedback = await read_line(console, "What should change? ", proposal.expires_at)
                if feedback is None:
                    return None
                if feedback.strip():
                    return Verdict("modify", feedback.strip())
                console.print("[yellow]say what should change, or answer a or r[/]")
                continue
            console.print("[yellow]answer a (approve), r (reject) or m (modify)[/]")


class CheckOnly:
    """``chiffon run --check``: the run is planned and its check-mode preview computed by the
    agents, shown, and then declined: nothing is executed. The rejection is recorded with
    the reason, so the audit holds the preview too. No terminal is needed."""

    wants_dry_run = True
    REASON = "check only (chiffon run --check): previewed, nothing executed"

    def __init__(self, console: Console, *, show: bool = True) -> None:
        self.console = console
        self.show = show
        self.dry_run: tuple[str, ...] = ()
        self.plan_hash: str | None = None

    async def decide(self, proposal: PlanProposed) -> Verdict:
        self.dry_run = proposal.dry_run
        self.plan_hash = proposal.plan_hash
        if self.show:
            print_dry_run(self.console, proposal.plan, proposal.dry_run)
        return Verdict("reject", feedback=self.REASON)
