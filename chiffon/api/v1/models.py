"""Request and response bodies shared by the API's routes.

Request bodies refuse unknown fields (``extra="forbid"``): a misspelt field is an error the
client hears about, not a silent default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """Base of every request body."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
