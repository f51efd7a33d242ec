"""The README's request through the library: ``chiffon.System`` with a programmatic approver.

This is the embedding path: a program (a chat bot, a scheduler, a web hook) hands Chiffon a
request and decides on the plan itself. The approver below approves only plans whose every
step is low or medium risk and targets the `core` host; anything else is rejected. The
decision is recorded under the approver name given here, with channel ``library``.

Run it with ``uv run python examples/library_run.py``; it uses the embedded PostgreSQL under
CHIFFON_HOME (or CHIFFON_DATABASE_URL) and writes the homelab's files under CHIFFON_HOME/target.
"""

from __future__ import annotations

from pathlib import Path

import anyio

import chiffon

CATALOG = Path(__file__).parent / "homelab"
REQUEST = "Deploy Uptime Kuma and add the existing portals to its monitors"


def review(proposal: chiffon.PlanProposed) -> chiffon.Verdict:
    """Approve plans that only touch `core` and are not high risk."""
    plan = proposal.plan
    steps = ", ".join(f"{s.playbook} on {'/'.join(s.hosts)}" for s in plan.steps)
    print(f"plan {proposal.plan_hash[:19]}: {steps}")
    if plan.risk != "high" and all(set(s.hosts) == {"core"} for s in plan.steps):
        print("approver: approved")
        return chiffon.Verdict("approve")
    print("approver: rejected")
    return chiffon.Verdict("reject")


async def main() -> int:
    async with chiffon.System(catalog=CATALOG) as system:
        summary = await system.run(REQUEST, approver=review, approver_name="library-example")
    for step in summary.steps:
        print(
            f"step {step.playbook}: {step.status} "
            f"(ok={step.stats.ok} changed={step.stats.changed} failed={step.stats.failed})"
        )
    print(f"run {summary.run_id}: {summary.status}, ${summary.cost_usd:.2f}")
    return 0 if summary.status == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(anyio.run(main))
