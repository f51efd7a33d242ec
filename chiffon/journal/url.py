"""Database URLs: what Chiffon accepts, and how one is shown without its password."""

from __future__ import annotations

import urllib.parse

from chiffon.journal.errors import DatabaseUrlInvalid

_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}


def normalize(url: str) -> str:
    """``url`` as asyncpg takes it (``postgresql://…``), checked for what can be checked early.

    Accepts ``postgres://`` and SQLAlchemy's ``postgresql+asyncpg://`` too. Raises
    ``DatabaseUrlInvalid`` naming the problem, never the password.
    """
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise DatabaseUrlInvalid(_scrub(str(exc), url)) from None
    if not parts.scheme:
        raise DatabaseUrlInvalid("it is not a URL (expected postgresql://user@host:port/db)")
    if parts.scheme not in _SCHEMES:
        raise DatabaseUrlInvalid(
            f"the scheme is {parts.scheme!r}, expected postgresql://user@host:port/db"
        )
    if not parts.hostname and "host=" not in parts.query:
        raise DatabaseUrlInvalid("it names no host")
    del port
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql"))


def where(url: str) -> str:
    """``host:port`` (or the socket directory) of a URL, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname:
        try:
            port = parts.port or 5432
        except ValueError:
            port = 5432
        return f"{parts.hostname}:{port}"
    query = urllib.parse.parse_qs(parts.query)
    return query.get("host", ["localhost"])[0]


def mask(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "password" for key, _ in query):
        masked = [(k, "***" if k == "password" else v) for k, v in query]
        parts = parts._replace(query=urllib.parse.urlencode(masked, safe="/"))
    if parts.password is None:
        return urllib.parse.urlunsplit(parts)
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


def password(url: str) -> str | None:
    """The password in ``url``, so that messages can be scrubbed of it."""
    parts = urllib.parse.urlsplit(url)
    found = parts.password
    for key, value in urllib.parse.parse_qsl(parts.query):
        if key == "password":
            found = value
    return urllib.parse.unquote(found) if found else None


def _scrub(text: str, url: str) -> str:
    secret = password(url)
    return text.replace(secret, "***") if secret else text
