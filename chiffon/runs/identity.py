"""``Identity``: who acts on a run, as the channel they came through vouches for them."""

from __future__ import annotations

import getpass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["terminal", "library", "yes", "api", "web"]
"""How a person reached the run: a terminal prompt or command, a program using the library,
``--yes``, the HTTP API, the web dashboard."""


class Identity(BaseModel):
    """Who submits, decides or cancels: recorded with what they did.

    ``name`` comes from the channel, never from request text or a model: the OS user at a
    terminal, the authenticated user over HTTP, the embedding program's choice in a library.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    channel: Channel
    token_id: str | None = None
    """The API token it authenticated with, if any."""
    address: str | None = None
    """The client's address (HTTP)."""
    user_agent: str | None = None

    @classmethod
    def of_os_user(cls, channel: Channel = "terminal") -> Identity:
        """The person logged in at this terminal."""
        return cls(name=getpass.getuser(), channel=channel)

    def __str__(self) -> str:
        return f"{self.name} via {self.channel}"
