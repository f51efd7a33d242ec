"""RabbitMQ users made for a test with the machine's ``rabbitmqctl``, and removed after it."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator, Sequence

from tests.conftest import unavailable

RABBITMQCTL = "/usr/sbin/rabbitmqctl"


def rabbitmqctl_path() -> str:
    """The ``rabbitmqctl`` to run; skips (fails in CI) when there is none."""
    found = shutil.which("rabbitmqctl") or (
        RABBITMQCTL if shutil.which(RABBITMQCTL) is not None else None
    )
    if found is None:
        unavailable(f"rabbitmqctl is needed to create RabbitMQ users (not at {RABBITMQCTL})")
        raise AssertionError  # unreachable: skip/fail raise
    return found


def rabbitmqctl(args: Sequence[str]) -> None:
    """Run one ``rabbitmqctl`` command (``args`` without the program itself)."""
    done = subprocess.run(
        [rabbitmqctl_path(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()
        if "permission" in message.lower() or "cookie" in message.lower():
            unavailable(f"rabbitmqctl may not manage this broker: {message}")
        raise AssertionError(f"rabbitmqctl {' '.join(args[:2])} failed: {message}")


def delete_user(user: str) -> None:
    with contextlib.suppress(AssertionError):
        rabbitmqctl(["delete_user", user])


@contextlib.contextmanager
def broker_user(user: str, password: str, *, write: str, vhost: str = "/") -> Iterator[None]:
    """A RabbitMQ user that may publish to the exchanges matching ``write`` (and do nothing
    else), deleted afterwards."""
    rabbitmqctl(["add_user", "--", user, password])
    try:
        rabbitmqctl(["set_permissions", "-p", vhost, user, "^$", write, "^$"])
        yield
    finally:
        delete_user(user)


def url_for(url: str, user: str, password: str) -> str:
    """``url`` (the guest's) with another login."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    login = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{login}@{host}"))
