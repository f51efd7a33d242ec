"""What every route reaches through ``request.app.state``: the system, identity, options.

Routes and the dashboard's pages get it with the ``context`` dependency; nothing else in the
HTTP layer holds state.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import Request

from chiffon.access import Access
from chiffon.api.limits import RateLimiter

if TYPE_CHECKING:
    from chiffon.assembly import System


@dataclasses.dataclass(frozen=True, slots=True)
class ApiOptions:
    """How ``chiffon serve`` configured the HTTP face."""

    metrics_public: bool = False
    """``/metrics`` without a token (for a scraper on a trusted network)."""
    four_eyes: bool = False
    """The requester of a run may not approve it."""
    max_body_bytes: int = 1 << 20
    heartbeat_s: float = 15.0
    """Seconds between keep-alive comments on an idle event stream."""
    secure_cookies: bool = False
    """Mark the session cookie ``Secure`` (set when serving TLS)."""
    login_per_minute: int = 10
    submit_per_minute: int = 60
    trusted_origins: tuple[str, ...] = ()
    """Origins (``https://host[:port]``) besides the server's own that browsers may post from,
    e.g. a reverse proxy's public address."""


@dataclasses.dataclass(slots=True)
class ApiContext:
    system: System
    access: Access
    options: ApiOptions
    stop: anyio.Event
    """Set when the server stops: open event streams end at once."""
    limiter: RateLimiter
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)


async def context(request: Request) -> ApiContext:
    """The ``ApiContext`` of the app serving ``request`` (a FastAPI dependency; async, or
    FastAPI would call it on a worker thread, twice a request)."""
    found: ApiContext = request.app.state.chiffon
    return found
