"""Killing what is left of a playbook run: ansible-playbook's forked workers and their modules
run in sessions of their own, so killing the parent's process group does not reach them.
They all name a path inside the step attempt's work directory (``<step id>-<attempt>/…``:
the extra-vars file, the modules' temporary directory) on their command lines, which is how
they are found — with the separator, so ``…-1/`` never matches attempt 10's ``…-10/``."""

from __future__ import annotations

import contextlib
import os
import uuid

import psutil


def attempt_dir_name(step_id: uuid.UUID, attempt: int) -> str:
    """The name of one step attempt's work directory."""
    return f"{step_id}-{attempt}"


def attempt_marker(step_id: uuid.UUID, attempt: int) -> str:
    """What the command line of every process of that attempt names, and of no other's."""
    return attempt_dir_name(step_id, attempt) + os.sep


def inside(directory: os.PathLike[str] | str) -> str:
    """What the command lines of processes working inside ``directory`` name."""
    return os.path.join(directory, "")


def processes_naming(marker: str) -> list[psutil.Process]:
    """Live processes (not zombies) with ``marker`` in an argument. Blocking: one scan of the
    process table."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.status() != psutil.STATUS_ZOMBIE and any(
                marker in arg for arg in process.cmdline()
            ):
                found.append(process)
    return found


def kill_processes_naming(marker: str, *, rounds: int = 20) -> list[int]:
    """Kill every live process with ``marker`` in an argument, until none is left (a worker
    may fork a module while we look); returns the pids killed. Blocking: a few scans of the
    process table, so call it from a worker thread in async code."""
    killed: list[int] = []
    for _ in range(rounds):
        found = processes_naming(marker)
        if not found:
            break
        for process in found:
            with contextlib.suppress(psutil.Error):
                process.kill()
                killed.append(process.pid)
        psutil.wait_procs(found, timeout=1.0)
    return killed
