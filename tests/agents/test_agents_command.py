"""``chiffon agents`` as a user runs it, in a process of its own, on the agents a registry
recorded: online with their capabilities and resources while the registry runs, offline with
the reason once it has stopped."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from chiffon.actors import ActorSystem
from chiffon.agents.infra import ansible_agent
from chiffon.agents.registry import Registry
from chiffon.agents.resources import FileSampler
from chiffon.agents.routing import ListAgents
from chiffon.catalog import Catalog

from .conftest import opened

pytestmark = [pytest.mark.postgres]

GPU = {"index": 0, "name": "Test GPU", "utilisation_percent": 7, "vram_total_mb": 24576}


async def chiffon_agents(dsn: str, home: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env.update(CHIFFON_DATABASE_URL=dsn, CHIFFON_HOME=str(home), CHIFFON_LOG_LEVEL="warning")
    env["COLUMNS"] = "300"  # one line per agent
    done = await anyio.run_process(
        [sys.executable, "-m", "chiffon", "agents", *args], env=env, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def test_chiffon_agents_lists_what_the_registry_recorded(
    catalog: Catalog, tmp_path: Path, machine_dsn: str
) -> None:
    name = f"desk-{uuid.uuid4().hex[:8]}"
    resources = tmp_path / "gpu.json"
    resources.write_text(json.dumps({"gpus": [{**GPU, "vram_free_mb": 20000}]}))
    with anyio.fail_after(60):
        async with opened(machine_dsn, tmp_path) as store, ActorSystem() as system:
            registry = await system.spawn(lambda: Registry(store.database), name="registry")
            agent = await system.spawn(
                lambda: ansible_agent(
                    catalog, target_root=tmp_path / "target", work_dir=tmp_path / "work",
                    output_cap=4096, name=name, kind="desktop", registry=registry,
                    sampler=FileSampler(resources),
                ),
                name=name,
            )  # fmt: skip
            await registry.ask(ListAgents())  # answered once the announcement is recorded
            listed = json.loads(await chiffon_agents(machine_dsn, tmp_path, "--json"))
            table = await chiffon_agents(machine_dsn, tmp_path)
            await agent.stop()  # its goodbye is in the registry's mailbox before the question
            await registry.ask(ListAgents())
        after = json.loads(await chiffon_agents(machine_dsn, tmp_path, "--json"))
    [desk] = [a for a in listed if a["name"] == name]
    assert desk["kind"] == "desktop"
    assert desk["status"] == "online"
    assert desk["stale"] is False
    assert desk["capabilities"] == ["ansible", "gpu"]
    assert desk["last_heartbeat_age_s"] < desk["heartbeat_interval_s"] * 2
    assert desk["resources"]["gpus"][0]["vram_free_mb"] == 20000
    assert desk["resources"]["cpu_count"] >= 1
    [row] = [line for line in table.splitlines() if line.startswith(name)]
    assert "online" in row
    assert "ansible, gpu" in row
    assert "Test GPU: 19.5 GiB of 24.0 GiB VRAM free, 7% busy" in row
    [gone] = [a for a in after if a["name"] == name]
    assert gone["status"] == "offline"
    assert gone["offline_reason"] == f"{name} said goodbye (the agent stopped)"
