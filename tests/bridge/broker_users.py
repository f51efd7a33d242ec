"""RabbitMQ users made for a test with the machine's ``rabbitmqctl`` (or its management API),
and removed after it."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
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


def management_call(url: str, method: str, path: str, body: dict[str, str] | None = None) -> None:
    """One call to the management API of ``url``'s broker (port 15672), logging in as
    ``url``'s user. Raises ``urllib.error.HTTPError`` on a refusal."""
    parts = urllib.parse.urlsplit(url)
    login = f"{urllib.parse.unquote(parts.username or 'guest')}:"
    login += urllib.parse.unquote(parts.password or "guest")
    request = urllib.request.Request(
        f"http://{parts.hostname or '127.0.0.1'}:15672/api/{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(login.encode()).decode(),
            "Content-Type": "application/json",
        },
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10):
        pass


def delete_user_by_api(url: str, user: str) -> None:
    """Delete ``user`` through the management API; one already gone is no error."""
    with contextlib.suppress(urllib.error.HTTPError):
        management_call(url, "DELETE", "users/" + urllib.parse.quote(user, safe=""))


def rabbitmqctl_declared_absent() -> bool:
    """Whether the job said it has no ``rabbitmqctl`` for its broker (a service container's):
    users are then made through the management API."""
    return os.environ.get("CHIFFON_TEST_RABBITMQCTL") == "none"


@contextlib.contextmanager
def broker_user(
    user: str, password: str, *, write: str, url: str, vhost: str = "/"
) -> Iterator[None]:
    """A RabbitMQ user that may publish to the exchanges matching ``write`` (and do nothing
    else), deleted afterwards. ``url`` is the guest's (for the management API)."""
    if rabbitmqctl_declared_absent():
        quoted = urllib.parse.quote(user, safe="")
        where = f"{urllib.parse.quote(vhost, safe='')}/{quoted}"
        management_call(url, "PUT", f"users/{quoted}", {"password": password, "tags": ""})
        try:
            management_call(
                url, "PUT", f"permissions/{where}",
                {"configure": "^$", "write": write, "read": "^$"},
            )  # fmt: skip
            yield
        finally:
            delete_user_by_api(url, user)
        return
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
