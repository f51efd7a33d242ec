"""Run one catalog playbook with ansible-runner, streaming its events as they happen.

``run_playbook`` finds the playbook by catalog id (never by a path from a message) and runs
it with ``--limit`` the step's hosts: a play of ``hosts: <group>`` touches only the hosts
the plan names. Of the step's variables (typed, checked against what the entry declares)
only those whose value is not what the repository itself gives each host (group_vars,
host_vars, role defaults, play vars: ``extra_vars``) are passed as extra vars, so the
repository's own precedence is kept otherwise; two of Chiffon's own always are:
``chiffon_target_root`` (where localhost targets write) and ``chiffon_hosts`` (the step's
hosts, for plays that target them). The hosts Ansible's recap names are the hosts the step
touched; one outside the step's hosts fails the step. ansible-runner runs in a worker
thread; each event is redacted there and handed to ``on_event`` on the event loop.

ansible_runner is imported inside ``run_playbook``: importing this module costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from chiffon.agents.infra.errors import PlaybookRunError, UndeclaredVariable, UnknownPlaybook
from chiffon.agents.infra.events import (
    MAX_ERROR,
    MAX_FAILURE_TAIL,
    EventRecorder,
    PlaybookEvent,
    PlaybookOutcome,
)
from chiffon.agents.infra.processes import inside, kill_processes_naming
from chiffon.agents.infra.redaction import Redactor
from chiffon.catalog import Catalog, CatalogError
from chiffon.catalog.plays import CHIFFON_HOSTS, ansible_cfg_paths
from chiffon.protocol import StepFailure

CANCEL_GRACE_S = 30.0
"""How long a cancelled run may take to stop ansible-playbook before it is left behind."""

# How often (seconds) the runner thread looks at the cancel flag while ansible-playbook runs.
_POLL_S = 0.25


def playbook_variables(
    catalog: Catalog, entry_id: str, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """The variables a step of ``entry_id`` runs with: its declared defaults, overridden by
    ``variables``.

    Raises ``UnknownPlaybook`` when the catalog has no such entry and ``UndeclaredVariable``
    when ``variables`` names anything the entry does not declare.
    """
    entry = catalog.entries.get(entry_id)
    if entry is None:
        raise UnknownPlaybook(entry_id)
    undeclared = [name for name in variables if name not in entry.variables]
    if undeclared:
        raise UndeclaredVariable(entry_id, undeclared)
    merged = {n: v.default for n, v in entry.variables.items() if v.default is not None}
    merged.update(variables)
    return merged


def extra_vars(
    catalog: Catalog, entry_id: str, hosts: Sequence[str], variables: Mapping[str, Any]
) -> dict[str, Any]:
    """The step's variables Ansible must be given as extra vars (which override everything
    else): a value the step sets that is not what the repository already gives each of
    ``hosts``, and a declared default the repository does not set on every host. A value
    equal to the repository's own is left out, and the repository's precedence kept.

    Raises ``UnknownPlaybook`` and ``UndeclaredVariable`` as ``playbook_variables`` does.
    """
    playbook_variables(catalog, entry_id, variables)
    return catalog.passed_variables(entry_id, hosts, variables)


async def run_playbook(
    catalog: Catalog,
    entry_id: str,
    hosts: Sequence[str],
    variables: Mapping[str, Any],
    *,
    target_root: Path,
    work_dir: Path,
    on_event: Callable[[PlaybookEvent], None] | None = None,
    check: bool = False,
    output_cap: int = 65536,
) -> PlaybookOutcome:
    """Run the playbook of catalog entry ``entry_id`` on ``hosts`` and report how it went.

    ``work_dir`` is ansible-runner's private data directory for this run (one per step); the
    files holding the variables and the environment are removed from it when the run ends,
    whatever the outcome.
    ``hosts`` empty: the play's default hosts. ``check``: ``--check --diff``, and the
    outcome's ``diff`` says what would change. ``on_event`` is called on the event loop, in
    order, for every event, secrets already redacted; if it raises, the run is cancelled and
    the exception is raised here once ansible-playbook has stopped.

    A playbook that fails is an outcome with status ``failed``, not an exception. Raises
    ``UnknownPlaybook`` and ``UndeclaredVariable`` before anything runs, and
    ``PlaybookRunError`` when ansible-playbook could not be run at all. Cancelling the calling
    task stops ansible-playbook (within ``CANCEL_GRACE_S``) and re-raises the cancellation.
    """
    merged = playbook_variables(catalog, entry_id, variables)
    redactor = Redactor.for_entry(catalog.entries[entry_id], merged)
    try:
        passed = extra_vars(catalog, entry_id, hosts, variables)
    except CatalogError as exc:
        raise PlaybookRunError(f"cannot read the playbook of {entry_id}: {exc}") from exc
    entry = catalog.entries[entry_id]
    # The entry's flags select what a site playbook runs: a plan does not unset them.
    extravars: dict[str, Any] = {**passed, **entry.flags, "chiffon_target_root": str(target_root)}
    if hosts:
        extravars[CHIFFON_HOSTS] = ",".join(hosts)
    kwargs = _runner_kwargs(catalog, entry_id, extravars, work_dir, check, tuple(hosts))

    loop = asyncio.get_running_loop()
    recorder = EventRecorder(output_cap)
    cancel = threading.Event()
    finished = asyncio.Event()
    callback_error: list[BaseException] = []

    def deliver(event: PlaybookEvent) -> None:
        if on_event is None or callback_error:
            return
        try:
            on_event(event)
        except Exception as exc:
            callback_error.append(exc)
            cancel.set()

    def handle(raw: dict[str, Any]) -> bool:
        event = recorder.add(redactor.data(raw))
        loop.call_soon_threadsafe(deliver, event)
        return False  # nothing of the event is written to disk

    def run() -> Any:
        import ansible_runner  # type: ignore[import-untyped]  # no stubs

        try:
            return ansible_runner.run(**kwargs, event_handler=handle, cancel_callback=cancel.is_set)
        finally:
            if cancel.is_set():
                _stop_processes(work_dir)
            _forget_variables(work_dir)
            # RuntimeError: the loop closed while a cancelled run was stopping.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(finished.set)

    started = time.monotonic()
    _prepare(work_dir, target_root)
    try:
        runner = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        cancel.set()
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_S):
            await finished.wait()
        raise
    except Exception as exc:
        raise PlaybookRunError(f"ansible-runner could not run {entry_id}: {exc}") from exc
    if callback_error:
        raise callback_error[0]
    return _outcome(runner, recorder, redactor, time.monotonic() - started, tuple(hosts))


def _runner_kwargs(
    catalog: Catalog,
    entry_id: str,
    extravars: dict[str, Any],
    work_dir: Path,
    check: bool,
    hosts: tuple[str, ...] = (),
) -> dict[str, Any]:
    venv_bin = str(Path(sys.executable).parent)
    envvars = {
        # ansible-playbook from Chiffon's own environment (a `uv run` venv included).
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", os.defpath)]),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOWS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_LOCAL_TEMP": str(work_dir / "tmp" / "local"),
        "ANSIBLE_REMOTE_TEMP": str(work_dir / "tmp" / "remote"),
        "ANSIBLE_FORCE_COLOR": "0",
        **repository_env(catalog, entry_id),
    }
    return {
        "private_data_dir": str(work_dir),
        "project_dir": str(catalog.root),
        "playbook": str(catalog.playbook_path(entry_id)),
        "inventory": str(catalog.inventory.path),
        "extravars": extravars,
        "envvars": envvars,
        "cmdline": "--check --diff" if check else None,
        # The plan's hosts, and no other: ansible-runner passes it as --limit.
        "limit": ",".join(hosts) if hosts else None,
        "tags": ",".join(catalog.entries[entry_id].run_tags) or None,
        "quiet": True,
        "settings": {"suppress_output_file": True, "pexpect_timeout": _POLL_S},
        "ident": "run",
        "rotate_artifacts": 1,
    }


def _prepare(work_dir: Path, target_root: Path) -> None:
    """A fresh private data directory: ansible-runner keeps files it finds in ``env/``."""
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(work_dir / "env", ignore_errors=True)
        for sub in ("local", "remote"):
            (work_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        target_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlaybookRunError(f"cannot prepare {work_dir} for the run: {exc}") from exc


def _stop_processes(work_dir: Path) -> None:
    """Kill whatever still works for the run in ``work_dir`` once ansible-runner has killed
    ansible-playbook's process group (``-e @work_dir/env/extravars``, modules under
    ``work_dir/tmp`` name it)."""
    kill_processes_naming(inside(work_dir))


def _forget_variables(work_dir: Path) -> None:
    # env/extravars holds the step's variables, secrets included, and artifacts/ the command
    # with the whole process environment: neither outlives the run.
    shutil.rmtree(work_dir / "env", ignore_errors=True)
    shutil.rmtree(work_dir / "artifacts", ignore_errors=True)


def repository_env(catalog: Catalog, entry_id: str) -> dict[str, str]:
    """What keeps the repository's own ``ansible.cfg`` in force where ansible-runner would
    override it: its ``callback_plugins`` (ansible-runner sets ``ANSIBLE_CALLBACK_PLUGINS``
    to its own, which hides the file's); and ``ANSIBLE_ROLES_PATH`` /
    ``ANSIBLE_COLLECTIONS_PATH`` with Chiffon's requirements directory first
    (``Catalog.requirements_dir``), then what ansible.cfg says, then Ansible's defaults —
    only once something has been installed there."""
    base = catalog.requirements_dir
    root = catalog.base(entry_id)
    env: dict[str, str] = {}
    callbacks = ansible_cfg_paths(root, "callback_plugins")
    if callbacks:
        env["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join(str(p) for p in callbacks)
    home = Path.home() / ".ansible"
    for kind, key, cfg_key, defaults in (
        ("roles", "ANSIBLE_ROLES_PATH", "roles_path",
         [home / "roles", Path("/usr/share/ansible/roles"), Path("/etc/ansible/roles")]),
        ("collections", "ANSIBLE_COLLECTIONS_PATH", "collections_path",
         [home / "collections", Path("/usr/share/ansible/collections")]),
    ):  # fmt: skip
        if (base / kind).is_dir():
            configured = ansible_cfg_paths(root, cfg_key) or defaults
            env[key] = os.pathsep.join(str(p) for p in [base / kind, *configured])
    return env


def _head(error: str, suffix: str) -> str:
    # The start says why (Ansible's "[ERROR]: …" line): a long error loses its end.
    if len(error) + len(suffix) <= MAX_ERROR:
        return error + suffix
    return error[: MAX_ERROR - len(suffix) - 1] + "…" + suffix


def _outcome(
    runner: Any,
    recorder: EventRecorder,
    redactor: Redactor,
    seconds: float,
    hosts: tuple[str, ...] = (),
) -> PlaybookOutcome:
    tail = redactor.text(recorder.output_tail())
    rc = runner.rc
    # A play with no host under --limit is skipped (a site playbook's other plays); the step
    # did nothing only when no play ran anywhere.
    nothing = recorder.no_hosts is not None and not recorder.stats
    outside = [h for h in recorder.stats if hosts and h not in hosts]
    succeeded = rc == 0 and runner.status == "successful" and not nothing and not outside
    failure = None
    if not succeeded:
        failure = recorder.first_failure()
        if outside:
            failure = StepFailure(
                error="Ansible ran on hosts the plan does not name: " + ", ".join(outside)
            )
        if failure is None and nothing:
            assert recorder.no_hosts is not None
            failure = StepFailure(error=recorder.no_hosts)
        if failure is None:
            error = recorder.last_error() or f"ansible-playbook ended with status {runner.status}"
            failure = StepFailure(error=_head(redactor.text(error), f" (exit code {rc})"))
        failure = failure.model_copy(update={"output_tail": tail[-MAX_FAILURE_TAIL:]})
    return PlaybookOutcome(
        status="succeeded" if succeeded else "failed",
        stats=recorder.stats,
        failure=failure,
        seconds=seconds,
        output_tail=tail,
        diff=redactor.text(recorder.diff()),
        rc=rc,
        left_for_you=recorder.left_for_you,
    )
