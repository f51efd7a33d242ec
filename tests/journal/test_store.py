"""``open_store``: what the composition root gets, on the embedded server and on a URL."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy import select

from chiffon.actors.envelope import Envelope, new_id
from chiffon.journal import open_store
from chiffon.journal.errors import SchemaOutdated
from chiffon.journal.schema import messages


async def test_an_embedded_store_journals_and_queries_then_closes(tmp_path: Path) -> None:
    item = Envelope(new_id(), "store.test", {"ok": True}, "test/recipient")
    with anyio.fail_after(60):
        async with open_store(
            None,
            tmp_path / "pgdata",
            pool_size=2,
            batch_size=16,
            flush_delay_s=0.001,
            auto_upgrade=True,
        ) as store:
            assert store.display_url == store.dsn
            assert f"host={tmp_path / 'pgdata'}" in store.dsn
            await store.journal.append(item)
            row = await store.database.fetch_one(
                select(messages.c.body).where(messages.c.id == item.uuid)
            )
            assert row is not None
            assert row["body"] == {"ok": True}


async def test_a_url_store_masks_the_password_it_shows(machine_dsn: str, tmp_path: Path) -> None:
    user, _, rest = machine_dsn.split("://", 1)[1].partition("@")
    url = f"postgresql://{user.split(':')[0]}:hunter2@{rest}"
    async with open_store(
        url, tmp_path, pool_size=1, batch_size=8, flush_delay_s=0.001, auto_upgrade=False
    ) as store:
        assert store.dsn == url
        assert store.display_url == url.replace(":hunter2@", ":***@")


async def test_without_automatic_upgrade_an_empty_schema_is_a_config_error(
    embedded_admin_dsn: str, tmp_path: Path
) -> None:
    import asyncpg

    from tests.conftest import with_database

    admin = await asyncpg.connect(embedded_admin_dsn)
    try:
        await admin.execute('CREATE DATABASE "chiffon_store_empty"')
        url = with_database(embedded_admin_dsn, "chiffon_store_empty")
        with pytest.raises(
            SchemaOutdated, match=r"schema is empty, .* run `chiffon db upgrade`\.$"
        ):
            async with open_store(
                url, tmp_path, pool_size=1, batch_size=8, flush_delay_s=0.001, auto_upgrade=False
            ):
                pass
    finally:
        await admin.execute('DROP DATABASE IF EXISTS "chiffon_store_empty" WITH (FORCE)')
        await admin.close()
