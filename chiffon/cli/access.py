"""``chiffon users`` and ``chiffon tokens``: who may use ``chiffon serve``, and how.

A user logs in to the dashboard with a password (stored as its argon2id hash); a token is for
programs (``Authorization: Bearer chf_…``), printed once when it is made, stored hashed, and
listed afterwards by its id only. Each command opens the store ``Settings`` describe, as the
audit commands do.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from chiffon.cli.audit import _print_json
from chiffon.cli.runner import fail, with_runs

if TYPE_CHECKING:
    from chiffon.access import Access, Scope, TokenInfo
    from chiffon.runs import Runs

T = TypeVar("T")

users_app = typer.Typer(help="Dashboard users: add, list, change a password.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ScopeOption = Annotated[
    str,
    typer.Option(
        "--scope",
        metavar="SCOPE",
        help="read, run, approve or admin (each includes the ones before).",
    ),
]


def _access(ask: Callable[[Access], Awaitable[T]]) -> T:
    async def with_access(runs: Runs) -> T:
        from chiffon.access import Access

        return await ask(Access(runs.db))

    return with_runs(with_access)


def _scope(text: str) -> Scope:
    from chiffon.access import parse_scope

    try:
        return parse_scope(text)
    except ValueError as exc:
        raise fail(f"--scope: {exc}") from None


def _password(from_stdin: bool, generate: bool) -> tuple[str, bool]:
    """The new password and whether it was generated (and so must be shown)."""
    if generate:
        import secrets

        return secrets.token_urlsafe(15), True
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise fail("--password-stdin: standard input has no password line")
        return line, False
    if not sys.stdin.isatty():
        raise fail("no terminal to ask for the password: pass --password-stdin or --generate")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="The name to log in with.")],
    scope: ScopeOption = "admin",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Make up a password and print it, once.")
    ] = False,
) -> None:
    """Add a user (asks for the password on the terminal, twice)."""
    chosen = _scope(scope)
    password, generated = _password(password_stdin, generate)
    _access(lambda access: access.add_user(name, password, scope=chosen))
    typer.echo(f"user {name} added with scope {chosen}")
    if generated:
        typer.echo(f"password (shown this once): {password}")


@users_app.command("passwd")
def set_password(
    name: Annotated[str, typer.Argument(help="Whose password.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Make up a password and print it, once.")
    ] = False,
) -> None:
    """Change a user's password; their browser sessions end."""
    password, generated = _password(password_stdin, generate)
    _access(lambda access: access.set_password(name, password))
    typer.echo(f"password of {name} changed")
    if generated:
        typer.echo(f"password (shown this once): {password}")


@users_app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """Users and their scopes."""
    found = _access(lambda access: access.users())
    if as_json:
        _print_json(
            [{"name": u.name, "scope": u.scope, "created_at": _iso(u.created_at)} for u in found]
        )
        return
    if not found:
        typer.echo("no users yet: add one with `chiffon users add NAME`")
    for user in found:
        typer.echo(f"{user.name}\t{user.scope}\tsince {user.created_at:%Y-%m-%d %H:%M}")


@tokens_app.command("create")
def create_token(
    user: Annotated[str, typer.Option("--user", metavar="NAME", help="The token's owner.")],
    scope: ScopeOption = "read",
    expires: Annotated[
        str | None,
        typer.Option("--expires", metavar="AGE", help="Expire after 12h, 30d, 2w… Default: never."),
    ] = None,
) -> None:
    """Create a token and print its secret, once: it cannot be shown again."""
    from chiffon.journal.retention import parse_age

    chosen = _scope(scope)
    lifetime: dt.timedelta | None = None
    if expires is not None:
        try:
            lifetime = parse_age(expires)
        except ValueError:
            raise fail(f"--expires {expires!r} is not an age like 12h, 30d or 2w") from None
    info, secret = _access(lambda access: access.create_token(user, chosen, lifetime))
    until = (
        "never expires"
        if info.expires_at is None
        else f"expires {info.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    typer.echo(f"token {info.id} for {user}, scope {chosen}, {until}", err=True)
    typer.echo(secret)


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", metavar="NAME", help="Only theirs.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Tokens with their state and last use (never their secrets)."""
    found = _access(lambda access: access.tokens(user))
    now = dt.datetime.now(dt.UTC)
    if as_json:
        _print_json([_token_record(token, now) for token in found])
        return
    if not found:
        typer.echo("no tokens: create one with `chiffon tokens create --user NAME --scope read`")
    for token in found:
        used = (
            "never used"
            if token.last_used_at is None
            else f"used {token.last_used_at:%Y-%m-%d %H:%M}"
        )
        typer.echo(f"{token.id}\t{token.user}\t{token.scope}\t{token.state(now)}\t{used}")


@tokens_app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    _access(lambda access: access.revoke_token(token_id))
    typer.echo(f"token {token_id} revoked")


def _token_record(token: TokenInfo, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": token.id,
        "user": token.user,
        "scope": token.scope,
        "state": token.state(now),
        "created_at": _iso(token.created_at),
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
        "last_used_at": _iso(token.last_used_at),
    }


def _iso(at: dt.datetime | None) -> str | None:
    return None if at is None else at.isoformat()
