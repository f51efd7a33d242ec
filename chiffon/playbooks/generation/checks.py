"""The checks a generated playbook passes before it is offered: ``ansible-playbook
--syntax-check`` against the catalog's inventory, and ansible-lint (``chiffon.playbooks.lint``)
with no finding at all. Both run as subprocesses, side by side.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path, PurePosixPath

import anyio

from chiffon.playbooks.errors import PlaybooksError
from chiffon.playbooks.generation.errors import ChecksFailed

_TAIL = 1500


@dataclasses.dataclass(frozen=True, slots=True)
class CheckTimes:
    """How long each check took, in seconds (shown by ``chiffon playbooks new``)."""

    syntax_s: float
    lint_s: float


async def check_playbook(
    service: str,
    root: Path,
    playbook: PurePosixPath,
    inventory: Path,
    *,
    lint_cache: Path | None = None,
) -> CheckTimes:
    """Syntax-check and lint ``root/playbook`` (with its roles). ``lint_cache`` is passed to
    ``lint`` (an unchanged playbook is not linted twice).

    Raises ``ChecksFailed`` listing every problem (the syntax check's error, each lint finding
    as ``file:line: rule: message``), and ``LintUnavailable`` when ansible-lint cannot run.
    """
    problems: list[str] = []
    times: dict[str, float] = {}

    async def syntax() -> None:
        started = time.monotonic()
        error = await _syntax_error(root, playbook, inventory)
        times["syntax"] = time.monotonic() - started
        if error:
            problems.insert(0, f"ansible-playbook --syntax-check: {error}")

    unavailable: list[Exception] = []

    async def lint_it() -> None:
        from chiffon.playbooks.lint import lint

        started = time.monotonic()
        try:
            findings = await lint([root / playbook], root=root, cache_dir=lint_cache)
        except PlaybooksError as exc:  # kept, so it leaves unwrapped by the task group
            unavailable.append(exc)
            return
        times["lint"] = time.monotonic() - started
        problems.extend(f"{f.path}:{f.line}: {f.rule}: {f.message}" for f in findings)

    async with anyio.create_task_group() as group:
        group.start_soon(syntax)
        group.start_soon(lint_it)
    if unavailable:
        raise unavailable[0]
    if problems:
        raise ChecksFailed(service, problems)
    return CheckTimes(round(times["syntax"], 3), round(times["lint"], 3))


async def _syntax_error(root: Path, playbook: PurePosixPath, inventory: Path) -> str | None:
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        # ansible-playbook of Chiffon's own environment, as the agent runs it.
        "PATH": os.pathsep.join([str(venv_bin), os.environ.get("PATH", os.defpath)]),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_NOCOWS": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }
    command = [
        str(venv_bin / "ansible-playbook"),
        "--syntax-check",
        "-i",
        str(inventory),
        str(playbook),
    ]
    try:
        done = await anyio.run_process(command, cwd=root, env=env, check=False)
    except OSError as exc:
        return f"it could not be started: {exc}"
    if done.returncode == 0:
        return None
    output = (done.stderr + done.stdout).decode(errors="replace")
    lines = [line for line in output.splitlines() if line.strip() and "[WARNING]" not in line]
    return " ".join(" ".join(lines).split())[-_TAIL:] or f"exit status {done.returncode}"
