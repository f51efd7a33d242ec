"""Killing what is left of a playbook run: ansible-playbook's forked workers and their modules
run in sessions of their own, so killing the parent's process group does not reach them.
They all name the step attempt's work directory (``<step id>-<attempt>``) on their command
lines, which is how they are found."""

from __future__ import annotations

import contextlib

import psutil


def kill_processes_naming(marker: str, *, rounds: int = 20) -> list[int]:
    """Kill every live process with ``marker`` in an argument, until none is left (a worker
    may fork a module while we look); returns the pids killed. Blocking: a few scans of the
    process table, so call it from a worker thread in async code."""
    killed: list[int] = []
    for _ in range(rounds):
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.status() != psutil.STATUS_ZOMBIE and any(
                    marker in arg for arg in process.cmdline()
                ):
                    found.append(process)
        if not found:
            break
        for process in found:
            with contextlib.suppress(psutil.Error):
                process.kill()
                killed.append(process.pid)
        psutil.wait_procs(found, timeout=1.0)
    return killed
