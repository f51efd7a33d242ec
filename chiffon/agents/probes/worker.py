"""The probe worker: ``python -m chiffon.agents.probes.worker ATTEMPT_DIR/probes.json`` runs the
probes in the file (validated by the executor before it wrote them) one after the other and
prints one JSON line per observation: ``{"title", "state": "ok"|"failed"|"waiting", "fact"}``
(each probe in the file carries its ``title``).

A process of its own, because a probe can hang where an agent must not — ``statvfs`` on a
stale NFS mount, a Docker daemon that does not answer — and so that what is left of an
attempt is found by the attempt directory on its command line, like Ansible's (the agent's
``leftovers``). It imports only the standard library and psutil: it starts fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil

COMMAND_TIMEOUT_S = 10.0
"""How long one ``systemctl``/``docker`` call may take before the probe fails saying so."""

_POLL_S = 0.5

Observation = tuple[bool, str]


def disk(probe: dict[str, Any]) -> Observation:
    path = probe["path"]
    try:
        fs = os.statvfs(path)
    except OSError as exc:
        return False, f"{path}: {exc.strerror or exc}"
    total = fs.f_blocks * fs.f_frsize
    free_mb = fs.f_bavail * fs.f_frsize // 2**20
    used = 0.0 if total == 0 else 100.0 * (total - fs.f_bfree * fs.f_frsize) / total
    fact = f"{path}: {free_mb} MB free of {total // 2**20} MB ({used:.0f}% used)"
    short = []
    if probe.get("min_free_mb") is not None and free_mb < probe["min_free_mb"]:
        short.append(f"less than the {probe['min_free_mb']} MB wanted")
    if probe.get("max_used_percent") is not None and used > probe["max_used_percent"]:
        short.append(f"more than the {probe['max_used_percent']:g}% allowed")
    return not short, fact + ("; " + " and ".join(short) if short else "")


def unit(probe: dict[str, Any]) -> Observation:
    name = probe["unit"]
    command = ["systemctl", "show", "--property=LoadState,ActiveState,SubState", name]
    done, problem = _command(command)
    if done is None:
        return False, f"unit {name}: {problem}"
    fields = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if done.returncode != 0 or fields.get("LoadState") in (None, "not-found"):
        return False, f"unit {name} is not installed here"
    state = fields.get("ActiveState", "unknown")
    fact = f"unit {name} is {state} ({fields.get('SubState', 'unknown')})"
    return state == probe["expect"], fact + _wanted(state, probe["expect"])


def container(probe: dict[str, Any]) -> Observation:
    name = probe["name"]
    done, problem = _command(["docker", "inspect", "--format", "{{json .State}}", name])
    if done is None:
        return False, f"container {name}: {problem}"
    if done.returncode != 0:
        if "no such" in (done.stderr or "").lower():
            return probe["expect"] == "absent", f"there is no container {name}" + _wanted(
                "absent", probe["expect"]
            )
        return False, f"container {name}: docker says {(done.stderr or '').strip()[:300]}"
    state = json.loads(done.stdout)
    status = str(state.get("Status", "unknown"))
    health = (state.get("Health") or {}).get("Status")
    fact = f"container {name} is {status}" + (f" ({health})" if health else "")
    observed = "running" if status == "running" else "stopped"
    return observed == probe["expect"], fact + _wanted(observed, probe["expect"])


def port(probe: dict[str, Any]) -> Observation:
    number = probe["port"]
    listening = any(
        c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == number
        for c in psutil.net_connections(kind="inet")
    )
    observed = "listening" if listening else "free"
    fact = f"port {number} is {'listened on' if listening else 'free'}"
    return observed == probe["expect"], fact + _wanted(observed, probe["expect"])


def path(probe: dict[str, Any]) -> Observation:
    where = probe["path"]
    observed = "present" if os.path.lexists(where) else "absent"
    return observed == probe["expect"], f"{where} is {observed}" + _wanted(
        observed, probe["expect"]
    )


PROBES: dict[str, Callable[[dict[str, Any]], Observation]] = {
    "disk": disk, "unit": unit, "container": container, "port": port, "path": path,
}  # fmt: skip


def _wanted(observed: str, expected: str) -> str:
    return "" if observed == expected else f", not {expected}"


def _command(argv: list[str]) -> tuple[subprocess.CompletedProcess[str] | None, str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
            env={**os.environ, "LC_ALL": "C"},
        )  # fmt: skip
    except FileNotFoundError:
        return None, f"{argv[0]} is not installed here"
    except subprocess.TimeoutExpired:
        return None, f"{argv[0]} did not answer within {COMMAND_TIMEOUT_S:g} s"
    return done, ""


def observe(probe: dict[str, Any], say: Callable[[dict[str, Any]], None]) -> bool:
    """Observe ``probe`` until it holds or its ``wait_s`` runs out; say what was seen."""
    deadline = time.monotonic() + float(probe.get("wait_s") or 0.0)
    look = PROBES[probe["probe"]]
    said_waiting = False
    while True:
        ok, fact = look(probe)
        left = deadline - time.monotonic()
        if ok or left <= 0:
            say({"title": probe["title"], "state": "ok" if ok else "failed", "fact": fact})
            return ok
        if not said_waiting:
            say({"title": probe["title"], "state": "waiting", "fact": fact})
            said_waiting = True
        time.sleep(min(_POLL_S, left))


def main(probes_file: str) -> int:
    with open(probes_file, encoding="utf-8") as f:
        probes = json.load(f)

    def say(line: dict[str, Any]) -> None:
        print(json.dumps(line), flush=True)

    results = [observe(probe, say) for probe in probes]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
