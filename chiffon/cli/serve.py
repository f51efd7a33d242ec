"""``chiffon serve``: the long-running orchestrator, with its HTTP API and dashboard.

FastAPI and uvicorn are imported here, inside the command, and nowhere on the way to any
other command: ``chiffon --help`` does not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from chiffon.api.context import ApiOptions
    from chiffon.settings import Settings


def serve(
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog directory. Default: CHIFFON_CATALOG.")
    ] = None,
    listen: Annotated[
        str, typer.Option("--listen", metavar="HOST:PORT", help="Where the HTTP API listens.")
    ] = "127.0.0.1:8080",
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="TLS certificate (PEM) for HTTPS.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="TLS private key (PEM) for HTTPS.")
    ] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Serve plain HTTP on an address off loopback (behind a TLS proxy only).",
        ),
    ] = False,
    metrics_public: Annotated[
        bool, typer.Option("--metrics-public", help="Serve /metrics without a token.")
    ] = False,
    four_eyes: Annotated[
        bool,
        typer.Option("--four-eyes", help="Whoever requested a run may not approve it."),
    ] = False,
) -> None:
    """Run the orchestrator and its HTTP API until SIGTERM/SIGINT: journal, start-up
    reconciliation, the agents' registry, with CHIFFON_AMQP_URL the bridge to remote agents
    (local agents otherwise), and the API and dashboard on --listen.
    """
    from chiffon.api.server import check_tls_files, is_loopback, parse_listen
    from chiffon.cli.runner import run
    from chiffon.errors import ChiffonError
    from chiffon.settings import Settings

    def fail(sentence: str) -> typer.Exit:
        typer.echo(f"chiffon: {sentence}", err=True)
        return typer.Exit(2)

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise fail(f"--listen: {exc}") from None
    if (tls_cert is None) != (tls_key is None):
        raise fail("--tls-cert and --tls-key go together: give both or neither")
    if tls_cert is not None and tls_key is not None:
        try:
            check_tls_files(tls_cert, tls_key)
        except ValueError as exc:
            raise fail(str(exc)) from None
    elif not is_loopback(host) and not insecure_http:
        raise fail(
            f"--listen {listen} is off loopback: give --tls-cert and --tls-key, or "
            "--insecure-http when a TLS proxy is in front"
        )
    from chiffon.api.context import ApiOptions

    options = ApiOptions(
        metrics_public=metrics_public, four_eyes=four_eyes, secure_cookies=tls_cert is not None
    )
    try:
        settings = Settings.load()
        root = catalog or settings.catalog
        if root is None:
            raise fail("no catalog: pass --catalog DIR or set CHIFFON_CATALOG")
        run(lambda: _serve(settings, root, host, port, options, tls_cert, tls_key))
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot listen on {listen}: {exc.strerror or exc}") from None


async def _serve(
    settings: Settings,
    catalog: Path,
    host: str,
    port: int,
    options: ApiOptions,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    import signal

    import anyio

    from chiffon.api.app import create_app
    from chiffon.api.server import HttpServer
    from chiffon.assembly import System

    server = HttpServer(
        host, port, tls_cert=tls_cert, tls_key=tls_key, grace_s=settings.shutdown_deadline_s
    )
    bound_host, bound_port = server.bind()
    # Nobody else drives the runs this server takes over from a stopped one: it does.
    async with System(settings, catalog=catalog, resume_taken=True) as system:
        stop = anyio.Event()
        app = create_app(system, options=options, stop=stop)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve, app)
                scheme = "https" if tls_cert is not None else "http"
                shown = f"[{bound_host}]" if ":" in bound_host else bound_host
                where = system.remote_queue or "local agents only (CHIFFON_AMQP_URL is not set)"
                typer.echo(
                    f"chiffon serve: ready on {scheme}://{shown}:{bound_port}/ "
                    f"(database {system.database_url}; {where})",
                    err=True,
                )
                if not await app.state.chiffon.access.has_users():
                    typer.echo(
                        "chiffon serve: no users yet: add one with `chiffon users add NAME` "
                        "(scope admin), then log in",
                        err=True,
                    )
                async for received in signals:
                    typer.echo(
                        f"chiffon serve: {signal.Signals(received).name}, stopping", err=True
                    )
                    break
                stop.set()  # open event streams end now, so the server has nothing to wait for
                server.stop()
