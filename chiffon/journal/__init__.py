"""The PostgreSQL adapter: implements the ``Journal`` port and the ``Database`` port.

The composition root calls ``open_store``; everything heavy (asyncpg, SQLAlchemy, Alembic, the
embedded server) is imported when it runs, not when this package is imported.
"""

from __future__ import annotations

from chiffon.journal.store import Store, open_store

__all__ = ["Store", "open_store"]
