"""The ``agents`` table through the ``Database`` port: what the registry records of each agent,
and what ``chiffon agents`` reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert

from chiffon.agents.tables import agents
from chiffon.database import Database
from chiffon.protocol import AgentAnnounce, ResourceSample


@dataclasses.dataclass(frozen=True, slots=True)
class AgentRecord:
    """One row of ``agents``."""

    name: str
    kind: str
    version: str
    status: str
    capabilities: tuple[str, ...]
    resources: ResourceSample | None
    address: str
    heartbeat_interval_s: float
    announced_at: dt.datetime
    last_heartbeat_at: dt.datetime
    offline_at: dt.datetime | None
    offline_reason: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> AgentRecord:
        sample = row["resources"]
        return cls(
            name=row["name"], kind=row["kind"], version=row["version"], status=row["status"],
            capabilities=tuple(row["capabilities"] or ()),
            resources=ResourceSample.model_validate(sample) if sample else None,
            address=row["address"], heartbeat_interval_s=row["heartbeat_interval_s"],
            announced_at=row["announced_at"], last_heartbeat_at=row["last_heartbeat_at"],
            offline_at=row["offline_at"], offline_reason=row["offline_reason"],
        )  # fmt: skip


class AgentStore:
    """Writes and reads ``agents``. Every method may raise what the ``Database`` raises
    (``JournalUnavailable`` when PostgreSQL is unreachable)."""

    def __init__(self, database: Database) -> None:
        self.db = database

    async def announced(self, message: AgentAnnounce, address: str, at: dt.datetime) -> None:
        """An agent announced itself: it is online, with what it said."""
        values = {
            "kind": message.agent_kind, "version": message.version,
            "capabilities": list(message.capabilities),
            "resources": message.resources.model_dump(mode="json"), "status": "online",
            "address": address, "heartbeat_interval_s": message.heartbeat_interval_s,
            "announced_at": at, "last_heartbeat_at": at, "offline_at": None,
            "offline_reason": None,
        }  # fmt: skip
        statement = insert(agents).values(name=message.name, **values)
        await self.db.execute(
            statement.on_conflict_do_update(index_elements=[agents.c.name], set_=values)
        )

    async def heartbeat(self, name: str, resources: ResourceSample, at: dt.datetime) -> None:
        """A heartbeat: its sample, and online again if it had been marked offline."""
        await self.db.execute(
            update(agents)
            .where(agents.c.name == name)
            .values(
                resources=resources.model_dump(mode="json"), last_heartbeat_at=at,
                status="online", offline_at=None, offline_reason=None,
            )
        )  # fmt: skip

    async def offline(self, name: str, reason: str, at: dt.datetime) -> None:
        """The agent is offline, for ``reason``."""
        await self.db.execute(
            update(agents)
            .where(agents.c.name == name)
            .values(status="offline", offline_at=at, offline_reason=reason)
        )

    async def offline_if_silent(self, at: dt.datetime, missed: int) -> list[str]:
        """Mark offline every agent recorded online that has not been heard from for
        ``missed`` heartbeat intervals (a registry that starts cannot vouch for them);
        returns their names."""
        rows = await self.db.fetch(select(agents).where(agents.c.status == "online"))
        silent = [
            row["name"]
            for row in rows
            if (at - row["last_heartbeat_at"]).total_seconds()
            > missed * row["heartbeat_interval_s"]
        ]
        for name in silent:
            await self.db.execute(
                update(agents)
                .where(and_(agents.c.name == name, agents.c.status == "online"))
                .values(
                    status="offline", offline_at=at,
                    offline_reason=f"not heard from in {missed} heartbeat intervals",
                )
            )  # fmt: skip
        return silent

    async def all(self) -> Sequence[AgentRecord]:
        """Every agent, by name."""
        rows = await self.db.fetch(select(agents).order_by(agents.c.name))
        return [AgentRecord.of(row) for row in rows]
