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

_TAIL = 600


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
    as ``file:line: rule: message``), and ``LintUnavailable`` when ansible-lint cannot run
    (and the syntax check passed: otherwise both are in ``ChecksFailed``).
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
    if unavailable and not problems:
        raise unavailable[0]
    problems.extend(str(exc) for exc in unavailable)
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
    lines = (done.stderr + done.stdout).decode(errors="replace").splitlines()
    # Ansible says what is wrong on its ERROR line and the few after it, up to a blank line
    # (then comes a traceback, when any).
    start = next((i for i, line in enumerate(lines) if line.startswith("ERROR")), None)
    if start is None:
        said = [line for line in lines if line.strip() and "[WARNING]" not in line][-3:]
    else:
        said = []
        for line in lines[start:]:
            if not line.strip():
                break
            said.append(line)
    return " ".join(" ".join(said).split())[:_TAIL] or f"exit status {done.returncode}"
