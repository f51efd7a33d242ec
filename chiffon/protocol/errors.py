"""Errors as messages: a code, a human sentence, the offending message id."""

from __future__ import annotations

from pydantic import Field

from chiffon.protocol.base import WireModel


class ErrorBody(WireModel):
    """What went wrong with a message, sent back to its sender or to the dead-letter record.

    ``code`` is stable and machine-readable (``unknown_kind``, ``invalid_body``…), ``sentence``
    is for a human, ``message_id`` names the message that caused it when there was one.
    """

    kind = "error"

    code: str = Field(min_length=1, max_length=100)
    sentence: str = Field(min_length=1, max_length=2000)
    message_id: str | None = None
    retryable: bool = False
