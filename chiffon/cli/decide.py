"""``chiffon approve``, ``reject``, ``modify``, ``cancel``: decide on a run from any terminal.

The run may be waiting at another terminal's prompt, or driven by ``chiffon serve``: the
decision is recorded here (the first decision on a plan wins) and the process driving the run
hears it at once. The approver is the OS user running the command, never text from the
request. Exit status: 0 done, 1 refused (decided already, a stale revision, expired, not
awaiting a decision, ended), 2 bad input (no such run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from chiffon.cli.runner import fail, settings, with_runs

if TYPE_CHECKING:
    from chiffon.runs import DecisionRecord, Runs

RunArgument = Annotated[
    str, typer.Argument(metavar="RUN", help="A run id, or a unique prefix of one.")
]
RevisionOption = Annotated[
    int | None,
    typer.Option(
        "--revision", metavar="N", min=1,
        help="The plan revision you looked at (default: the one awaiting a decision); a "
        "newer one is refused, so you never decide on a plan you have not seen.",
    ),
]  # fmt: skip


def _decide(
    run: str, decision: str, revision: int | None, feedback: str | None = None
) -> DecisionRecord:
    from chiffon.errors import ChiffonError
    from chiffon.runs import Identity, NotAwaitingApproval, RunNotFound

    by = Identity.of_os_user("terminal")

    async def ask(runs: Runs) -> DecisionRecord | ChiffonError:
        handle = await runs.get(run)
        pending = await runs.pending(handle.id)
        chosen, digest = revision, None
        if pending is not None and (revision is None or revision == pending.revision):
            chosen, digest = pending.revision, pending.plan_hash
        elif revision is not None:  # not the pending one: refused as stale, or decided
            digest = (await runs.store.plan(handle.id, revision))[1]
        else:
            record = await runs.store.run(handle.id)
            chosen, digest = record.revision, record.plan_hash
        if chosen is None or digest is None:
            return NotAwaitingApproval(handle.id, (await runs.store.run(handle.id)).status)
        try:
            return await handle.decide(
                decision,  # type: ignore[arg-type]
                plan_hash=digest, revision=chosen, by=by, feedback=feedback,
            )  # fmt: skip
        except RunNotFound:
            raise
        except ChiffonError as exc:
            return exc  # refused: exit 1, not 2

    answer = with_runs(ask, configured=settings())
    if isinstance(answer, ChiffonError):
        raise fail(str(answer), 1)
    return answer


def _said(record: DecisionRecord) -> None:
    words = {"approve": "approved", "reject": "rejected", "modify": "sent back with feedback"}
    typer.echo(
        f"run {record.run_id}: plan revision {record.revision} ({record.plan_hash[:19]}…) "
        f"{words.get(record.decision, record.decision)} by {record.by}"
    )


def approve(run: RunArgument, revision: RevisionOption = None) -> None:
    """Approve the plan awaiting a decision; the run executes it."""
    _said(_decide(run, "approve", revision))


def reject(
    run: RunArgument,
    revision: RevisionOption = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, recorded with the decision.")
    ] = None,
) -> None:
    """Reject the plan awaiting a decision; the run ends rejected."""
    _said(_decide(run, "reject", revision, reason))


def modify(
    run: RunArgument,
    feedback: Annotated[str, typer.Argument(help="What should change, in plain words.")],
    revision: RevisionOption = None,
) -> None:
    """Send the plan back with feedback; the run plans again and asks anew."""
    if not feedback.strip():
        raise fail("say what should change")
    _said(_decide(run, "modify", revision, feedback))


def cancel(run: RunArgument) -> None:
    """Cancel a run: awaiting a decision, it ends at once; executing, its current step is
    stopped and the rest skipped."""
    from chiffon.errors import ChiffonError
    from chiffon.runs import Identity, RunNotFound

    async def ask(runs: Runs) -> str | ChiffonError:
        handle = await runs.get(run)
        try:
            await handle.cancel(by=Identity.of_os_user("terminal"))
        except RunNotFound:
            raise
        except ChiffonError as exc:
            return exc
        return str(handle.id)

    answer = with_runs(ask, configured=settings())
    if isinstance(answer, ChiffonError):
        raise fail(str(answer), 1)
    typer.echo(f"run {answer}: cancelled")
