"""The ``chiffon`` command line: a thin typer layer over ``chiffon.System``.

Start-up is part of speed: every subcommand module imports only typer at the top and pulls in
asyncpg, SQLAlchemy, the journal or the bench inside the command function, so ``chiffon --help``
stays fast.
"""

from __future__ import annotations

import typer

from chiffon.cli import (
    access,
    agent,
    agents,
    audit,
    bench,
    catalog,
    db,
    decide,
    playbooks,
    run,
    serve,
)  # fmt: skip

app = typer.Typer(
    name="chiffon",
    help="Plain-language infrastructure requests, planned, approved, executed and audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("plan")(run.plan)
app.command("run")(run.run)
app.command("approve")(decide.approve)
app.command("reject")(decide.reject)
app.command("modify")(decide.modify)
app.command("cancel")(decide.cancel)
app.command("serve")(serve.serve)
app.add_typer(agent.app, name="agent")
app.command("agents")(agents.agents)
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(playbooks.app, name="playbooks")
app.add_typer(catalog.app, name="catalog")
audit.app.command("suggestions")(playbooks.suggestions)
app.add_typer(access.users_app, name="users")
app.add_typer(access.tokens_app, name="tokens")
app.command("bench")(bench.bench)


def main() -> None:
    """Console-script entry point."""
    app()
