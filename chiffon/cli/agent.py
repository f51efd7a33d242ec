"""``chiffon agent``: run a remote agent process, or ``add`` one (its credentials and queue)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chiffon.agents.kinds import KINDS
from chiffon.cli.runner import fail

app = typer.Typer(
    help="Run a remote agent (" + ", ".join(KINDS) + ") joining over RabbitMQ, or add one.",
    invoke_without_command=True,
    no_args_is_help=False,
)

_KIND_HELP = "; ".join(f"{kind.name}: {kind.description}" for kind in KINDS.values()) + "."


@app.callback()
def agent(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help=_KIND_HELP)] = None,
    name: Annotated[str | None, typer.Option(help="The agent's name (as added).")] = None,
    connect: Annotated[
        str | None,
        typer.Option(
            help="Broker URL (amqp[s]://host:port/vhost); the login comes from the "
            "credentials. Default: CHIFFON_AMQP_URL."
        ),
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(help="The agent's credentials file. Default: CHIFFON_HOME/agents/NAME.json."),
    ] = None,
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog directory. Default: CHIFFON_CATALOG.")
    ] = None,
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="An inventory host name this machine is (repeatable), for a shell-check "
            "agent: probe steps on that host come to it. Default: --name and the host name.",
        ),
    ] = None,
) -> None:
    """Run an agent: announce itself, heartbeat, and carry out what orchestrators send it."""
    if ctx.invoked_subcommand is not None:
        return
    if kind is None or name is None:
        typer.echo(ctx.get_help())
        raise fail("--kind and --name are required to run an agent")
    if kind not in KINDS:
        raise fail(f"an agent's kind is one of {', '.join(KINDS)}, not {kind!r}")
    from chiffon.cli.runner import run
    from chiffon.errors import ChiffonError
    from chiffon.settings import Settings

    try:
        settings = Settings.load()
        url = connect or (settings.amqp_url.get_secret_value() if settings.amqp_url else None)
        if url is None:
            raise fail("no broker: pass --connect URL or set CHIFFON_AMQP_URL")
        from chiffon.assembly.agent_process import run_agent

        run(lambda: run_agent(
            settings, kind=kind, name=name, connect=url,
            credentials_file=credentials, catalog=catalog, hosts=tuple(host) if host else None,
        ))  # fmt: skip
    except ChiffonError as exc:
        raise fail(str(exc)) from None


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The new agent's name (lowercase, digits, dashes).")],
    amqp_user: Annotated[
        str | None,
        typer.Option(
            help="RabbitMQ user of the agent (default chiffon-agent-NAME; an existing "
            "user such as guest is used as it is)."
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Run the rabbitmqctl commands here (the broker's host).")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace existing credentials (new key).")] = False,
) -> None:
    """Create an agent's credentials (RabbitMQ user, signing key) and declare its queue."""
    import anyio

    from chiffon.bridge import credentials as creds
    from chiffon.bridge import provision
    from chiffon.bridge.topology import Topology
    from chiffon.errors import ChiffonError
    from chiffon.settings import Settings

    try:
        settings = Settings.load()
        if settings.amqp_url is None:
            raise fail("CHIFFON_AMQP_URL is not set: the orchestrator's broker login is needed")
        url = settings.amqp_url.get_secret_value()
        path = settings.agent_keys_path / f"{creds.check_name(name)}.json"
        if path.exists() and not force:
            raise fail(f"agent {name} already exists ({path}); --force replaces its key")
        import urllib.parse

        orchestrator_user = urllib.parse.unquote(urllib.parse.urlsplit(url).username or "guest")
        made = creds.create(name, amqp_user=amqp_user, orchestrator_users=(orchestrator_user,))
        anyio.run(provision.declare_agent, url, made, Topology())
        if amqp_user is not None:
            how = f"uses the existing RabbitMQ user {amqp_user}"
        elif provision.management_api(url, made):
            how = f"RabbitMQ user {made.amqp_user} created through the management API"
        elif apply:
            provision.run_rabbitmqctl(made, url)
            how = f"RabbitMQ user {made.amqp_user} created with rabbitmqctl"
        else:
            how = "no management API answered; run these on the broker's host:\n" + "\n".join(
                "  " + " ".join(_quote(part) for part in command)
                for command in creds.rabbitmqctl_commands(made, vhost=creds.vhost_of(url))
            )
        saved = creds.save(made, settings.agent_keys_path)
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"agent {name}: credentials written to {saved} (keep them secret)")
    typer.echo(f"agent {name}: queue {Topology().agent_queue(name)} declared; {how}")
    typer.echo(
        f"run it with: chiffon agent --kind {next(iter(KINDS))} --name {name} --connect URL "
        f"--credentials {saved.name}"
    )


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
