"""Where-clauses shared by the audit's queries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Text, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY

from chiffon.run_records import runs


def touches(service: str) -> ColumnElement[bool]:
    """Runs whose plan names ``service``: ``services @> ARRAY[service]``, served by the GIN
    index on ``runs.services``."""
    return type_coerce(runs.c.services, ARRAY(Text)).contains([service])


def within(column: ColumnElement[dt.datetime], since: dt.timedelta) -> ColumnElement[bool]:
    """Rows whose ``column`` is within ``since`` of now, by this machine's clock (the cut-off
    is sent as a timestamp: ``now() - $1`` would make PostgreSQL guess ``$1`` wrong)."""
    return column >= dt.datetime.now(dt.UTC) - since
