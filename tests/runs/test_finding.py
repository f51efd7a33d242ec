"""Finding runs through the application layer: one resolver (a full id, or a unique prefix
with or without dashes; wildcards literal; nothing from an empty prefix), and listings by
filters a page at a time."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from chiffon.runs import AmbiguousRunId, BadCursor, RunFilters, RunNotFound, Runs
from tests.audit.seed import Step, database, seed_run

pytestmark = pytest.mark.postgres


async def test_a_run_is_found_by_its_id_or_a_unique_prefix_with_or_without_dashes(
    machine_dsn: str,
) -> None:
    async with database(machine_dsn) as db:
        seeded = await seed_run(
            db,
            request="alpha on box",
            status="succeeded",
            services=["alpha"],
            steps_=[Step("alpha")],
        )
        runs = Runs(db)
        rid = seeded.run_id
        for text in (rid, str(rid), str(rid).upper(), rid.hex[:28], str(rid)[:30], rid.hex[:30]):
            assert (await runs.get(text)).id == rid, text
        for text in ("%", "_", "", "  ", "0%", rid.hex[:8] + "_", "kuma"):
            with pytest.raises(RunNotFound, match="is not a run id"):
                await runs.get(text)
        await seed_run(
            db, request="omega on box", status="failed", services=["omega"], steps_=[Step("omega")]
        )
        with pytest.raises(AmbiguousRunId, match="more than one run"):
            await runs.get("0")  # every UUIDv7 of this century starts with 0
        with pytest.raises(RunNotFound, match="no run has the id"):
            await runs.get(uuid.uuid4())


async def test_runs_are_listed_by_filters_newest_first_a_page_at_a_time(
    machine_dsn: str,
) -> None:
    async with database(machine_dsn) as db:
        marker = uuid.uuid4().hex[:8]
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        made = [
            await seed_run(
                db,
                request=f"{marker} {n}",
                status="succeeded",
                services=["uptime-kuma"],
                steps_=[Step("uptime-kuma", hosts=(f"h-{marker}",))],
                created_at=start + dt.timedelta(seconds=n),
            )
            for n in range(5)
        ]
        runs = Runs(db)
        seen: list[uuid.UUID] = []
        cursor = None
        while True:
            page = await runs.list(RunFilters(host=f"h-{marker}"), cursor=cursor, limit=2)
            seen += [item.id for item in page.items]
            assert len(page.items) <= 2
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [m.run_id for m in reversed(made)]
        [first] = (await runs.list(RunFilters(host=f"h-{marker}"), limit=1)).items
        assert first.hosts == (f"h-{marker}",)
        assert first.why_waiting is None
        assert (await runs.list(RunFilters(host=f"nowhere-{marker}"))).items == []
        with pytest.raises(BadCursor):
            await runs.list(cursor="not-a-cursor")
