"""Every code block of the README and the docs is checked: what is meant to run runs, the rest
is parsed and validated.

- ``python``: the README's first block runs as a script (``test_readme_library.py``); the
  second, a fragment, runs here inside ``async def main()`` against the example catalog.
- shell (``sh``, and untagged blocks of ``uv run`` lines): every ``chiffon`` command line is
  parsed by the CLI's own parser (an unknown command or option, a missing argument fails);
  the offline ones (``chiffon plan``) run for real; ``export CHIFFON_…`` names a setting;
  a path a line names exists; the few lines that cannot run here are listed with why.
- ``json``: parses; an envelope's ``body`` validates against the model of its ``kind``.
- ``yaml``: parses (``docs/catalog.md``'s example loads as a catalog entry).
- ``text`` blocks and untagged diagrams show output or layout: nothing to run.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from chiffon.catalog.entries import CatalogEntry
from chiffon.cli import app
from chiffon.protocol.codec import model_for
from chiffon.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "examples/homelab/README.md",
]
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", flags=re.MULTILINE | re.DOTALL)

NOT_RUN_HERE = {
    "docker": "compose.yaml's stack: tests/test_deployment_files.py checks the file",
    "printf": "docs/protocol.md's HMAC by hand, with openssl: shown to agent writers",
    "POSTGRES_PASSWORD=…": "compose.yaml's stack: tests/test_deployment_files.py checks it",
}
"""Shell lines that are not run or parsed here, by their first word, and why."""


def blocks(*, languages: set[str]) -> list[tuple[str, str, str]]:
    """(document, language, text) of every fenced block in one of ``languages``."""
    found = []
    for doc in DOCS:
        for language, text in _BLOCK.findall(doc.read_text()):
            if language in languages:
                found.append((doc.relative_to(REPO).as_posix(), language, text))
    return found


def shell_lines() -> list[tuple[str, str]]:
    """(document, line) of every command in a shell block (comments and continuations
    joined); untagged blocks count when they are commands."""
    lines: list[tuple[str, str]] = []
    for doc, language, text in blocks(languages={"sh", ""}):
        joined = text.replace("\\\n", " ")
        commands = [
            line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]  # fmt: skip
        if language == "" and not all(c.startswith(("uv run", "export")) for c in commands):
            continue  # a diagram or a listing
        lines.extend((doc, command) for command in commands)
    return lines


def words_of(line: str) -> list[str]:
    return shlex.split(line, comments=True)


def parse_chiffon(args: list[str]) -> Any:
    """``args`` parsed as ``chiffon`` would parse them, down to the subcommand (its click
    context); nothing runs. Raises click's ``UsageError`` for an unknown command or option, or
    a missing argument."""
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("chiffon", list(args), resilient_parsing=False)
    while hasattr(command, "resolve_command"):  # a group: on to its subcommand
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None
        assert name is not None
        command = sub
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
    return ctx


def test_the_docs_have_the_blocks_this_test_checks() -> None:
    assert len(blocks(languages={"python"})) == 2
    assert len(shell_lines()) > 20
    assert blocks(languages={"json"})


@pytest.mark.parametrize(("doc", "line"), shell_lines(), ids=lambda v: str(v)[:60])
def test_every_shell_line_parses_and_names_what_exists(doc: str, line: str) -> None:
    words = words_of(line)
    if words[0] in NOT_RUN_HERE:
        return
    if words[0] == "export":
        name = words[1].split("=", 1)[0]
        assert name.startswith("CHIFFON_"), line
        assert name.removeprefix("CHIFFON_").lower() in Settings.model_fields, line
        return
    assert words[:2] == ["uv", "run"], f"{doc}: {line}"
    tool, args = words[2], words[3:]
    if tool == "pytest":
        return  # the suite itself
    if tool == "python":
        if args[0] == "-m":
            module = REPO / args[1].replace(".", "/")
            assert module.with_suffix(".py").is_file() or (module / "__main__.py").is_file()
        else:
            assert (REPO / args[-1]).is_file(), line
        return
    if tool == "ansible-playbook":
        for flag, value in itertools.pairwise(args):
            if flag == "-i":
                assert (REPO / value).is_file(), line
        assert (REPO / next(a for a in args if a.endswith(".yml") and "-i" not in a)).is_file()
        return
    assert tool == "chiffon", f"{doc}: {line}"
    parse_chiffon(args)


def test_the_offline_commands_of_the_docs_run(tmp_path: Path) -> None:
    offline = [words_of(line)[3:] for _, line in shell_lines() if " chiffon plan " in line]
    assert offline
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env["CHIFFON_HOME"] = str(tmp_path / "home")
    for args in offline:
        done = subprocess.run(
            [sys.executable, "-m", "chiffon", *args], capture_output=True, text=True, env=env,
            cwd=REPO, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stderr)


@pytest.mark.parametrize(("doc", "language", "text"), blocks(languages={"json"}))
def test_every_json_block_parses_and_its_messages_validate(
    doc: str, language: str, text: str
) -> None:
    data = json.loads(text)
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and "kind" in item and "body" in item:
            model_for(item["kind"]).model_validate(item["body"])


@pytest.mark.parametrize(("doc", "language", "text"), blocks(languages={"yaml"}))
def test_every_yaml_block_parses(doc: str, language: str, text: str) -> None:
    data = yaml.safe_load(text)
    if doc == "docs/catalog.md" and isinstance(data, dict) and "entries" in data:
        for entry in data["entries"]:
            CatalogEntry.model_validate(entry)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_readmes_library_run_fragment_runs_against_the_example_catalog() -> None:
    fragment = blocks(languages={"python"})[1][2]
    script = "import anyio\n\nimport chiffon\n\n\nasync def main() -> None:\n"
    script += textwrap.indent(fragment, "    ") + "\n\nanyio.run(main)\n"
    with tempfile.TemporaryDirectory(prefix="chiffon-test-readme-") as home:
        path = Path(home) / "fragment.py"
        path.write_text(script)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
        env.update(CHIFFON_HOME=str(Path(home) / "home"))
        done = subprocess.run(
            [sys.executable, str(path)], capture_output=True, text=True, env=env, cwd=REPO,
            timeout=550, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("succeeded [('uptime-kuma', "), done.stdout
