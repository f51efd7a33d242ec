"""Who reported a dead letter: ``dead_letters.reported_by``.

Any login allowed on the dead-letter exchange (every agent's: agents refuse messages too) can
publish there, so a record says who refused the message as the broker vouches for it:
``orchestrator``, ``agent:<name>``, ``user:<login>`` for a login Chiffon does not know, or
``unverified`` when the dead letter carried no AMQP ``user_id`` (anyone may have sent it).
Rows recorded before this revision keep ``NULL``.

Revision ID: 0007_dead_letter_reporters
Revises: 0006_run_events
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_dead_letter_reporters"
down_revision: str | None = "0006_run_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "dead_letters",
        sa.Column(
            "reported_by",
            sa.Text,
            nullable=True,
            comment="Who refused it, as the broker vouches: orchestrator, agent:<name>, "
            "user:<login>, or unverified (no user_id).",
        ),
    )


def downgrade() -> None:
    op.drop_column("dead_letters", "reported_by")
