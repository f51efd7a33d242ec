"""Which process drives a run: ``host:pid:start``, and whether that process still lives.

The start time tells a live process from a later one that reused its pid. A run owned by a
process on another host is never judged dead from here (remote orchestrators are issue 4's).
"""

from __future__ import annotations

import os
import socket

import psutil


def this_process() -> str:
    """The owner string of this process."""
    start = psutil.Process(os.getpid()).create_time()
    return f"{socket.gethostname()}:{os.getpid()}:{start:.2f}"


def is_alive(owner: str | None) -> bool:
    """Whether ``owner`` names a process that is still running (on this host)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, start_text = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        process = psutil.Process(int(pid_text))
        return f"{process.create_time():.2f}" == start_text and process.status() != "zombie"
    except (psutil.Error, ValueError):
        return False
