"""Errors of the PostgreSQL adapter. One class per condition; each says when it is raised.

Start-up problems are ``ConfigError``s: one readable sentence that names what to fix and never
contains a password, printed as it is by the CLI. Errors of the running journal are those of
the ``Journal`` port (``chiffon.actors.errors``): ``JournalUnavailable`` and friends, raised
for the exceptions in ``DATABASE_UNAVAILABLE`` with ``describe``'s sentence.
"""

from __future__ import annotations

import asyncpg

from chiffon.errors import ConfigError


class DatabaseUrlInvalid(ConfigError):
    """Raised at start when ``CHIFFON_DATABASE_URL`` cannot be parsed or is not PostgreSQL's."""

    code = "database_url_invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(f"CHIFFON_DATABASE_URL is invalid: {reason}.")


class DatabaseUnreachable(ConfigError):
    """Raised at start when the server named by the URL refuses or does not answer."""

    code = "database_unreachable"
    retryable = True

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"cannot connect to PostgreSQL at {where}: {reason}.")
        self.where = where


class DatabaseRejected(ConfigError):
    """Raised at start when the server answers but refuses us: authentication, no database."""

    code = "database_rejected"

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"PostgreSQL at {where} refused the connection: {reason}.")
        self.where = where


class DataDirUnusable(ConfigError):
    """Raised at start when the embedded server cannot use its data directory: not writable,
    not a PostgreSQL data directory, held by another server, or the server fails to start."""

    code = "data_dir_unusable"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"the embedded PostgreSQL cannot use {path}: {reason}.")
        self.path = path


class SchemaUnknown(ConfigError):
    """Raised by ``upgrade`` when the database is at a revision this version does not know
    (a newer Chiffon migrated it): downgrading silently would lose data."""

    code = "schema_unknown"

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"the database schema is at revision {revision}, which this version of Chiffon"
            " does not know; upgrade Chiffon."
        )
        self.revision = revision


class SchemaOutdated(ConfigError):
    """Raised at start with automatic upgrade off when the schema is behind this version."""

    code = "schema_outdated"

    def __init__(self, current: str | None, head: str) -> None:
        at = "empty" if current is None else f"at revision {current}"
        super().__init__(
            f"the database schema is {at}, this version of Chiffon needs {head}:"
            " run `chiffon db upgrade`."
        )


DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, no socket file: the server is not there
    TimeoutError,
    asyncpg.InterfaceError,  # includes "connection was closed in the middle of operation"
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # admin/crash shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.TransactionRollbackError,  # deadlock, serialization: worth another go
)
"""What PostgreSQL's absence (for now) raises: the port turns each into ``JournalUnavailable``
(retryable); anything else the server refuses is a bug or bad data, raised as it is."""


def describe(exc: BaseException) -> str:
    """One line saying what went wrong with the database, for ``JournalUnavailable``."""
    if isinstance(exc, TimeoutError):
        return "no answer from PostgreSQL in time"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
