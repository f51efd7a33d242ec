"""RabbitMQ users made for a test, and removed after it — on a broker the tests may
reconfigure: the session's own node (``rabbitmq_node``, with its ``rabbitmqctl``), never the
machine's broker; or, in a job that says ``CHIFFON_TEST_RABBITMQCTL=none``, the job's own
broker (a service container started for the tests alone) through its management API."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tests.rabbitmq_node import NodeCommandError, RabbitNode


def rabbitmqctl_declared_absent() -> bool:
    """Whether the job said it has no ``rabbitmqctl`` for its broker (a service container's):
    users are then made through the management API."""
    return os.environ.get("CHIFFON_TEST_RABBITMQCTL") == "none"


@dataclass(frozen=True)
class UsersBroker:
    """A broker whose users the tests may change: ``url`` is its guest's; ``node`` the
    session's own node when there is one (``rabbitmqctl`` then works on it)."""

    url: str
    node: RabbitNode | None

    def rabbitmqctl(self, args: Sequence[str]) -> None:
        """Run one ``rabbitmqctl`` command (``args`` without the program itself) on the node."""
        if self.node is None:
            raise AssertionError("no node of the session's own: rabbitmqctl has no broker here")
        self.node.ctl(*args, timeout=60)

    def delete_user(self, user: str) -> None:
        """Delete ``user``; one already gone is no error."""
        if self.node is None:
            with contextlib.suppress(urllib.error.HTTPError):
                management_call(self.url, "DELETE", "users/" + urllib.parse.quote(user, safe=""))
            return
        with contextlib.suppress(NodeCommandError):
            self.rabbitmqctl(["delete_user", user])

    @contextlib.contextmanager
    def user(self, user: str, password: str, *, write: str, vhost: str = "/") -> Iterator[None]:
        """A user that may publish to the exchanges matching ``write`` (and do nothing else),
        deleted afterwards."""
        try:
            if self.node is None:
                quoted = urllib.parse.quote(user, safe="")
                where = f"{urllib.parse.quote(vhost, safe='')}/{quoted}"
                management_call(self.url, "PUT", f"users/{quoted}",
                                {"password": password, "tags": ""})  # fmt: skip
                management_call(
                    self.url, "PUT", f"permissions/{where}",
                    {"configure": "^$", "write": write, "read": "^$"},
                )  # fmt: skip
            else:
                self.rabbitmqctl(["add_user", "--", user, password])
                self.rabbitmqctl(["set_permissions", "-p", vhost, user, "^$", write, "^$"])
            yield
        finally:
            self.delete_user(user)


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


def url_for(url: str, user: str, password: str) -> str:
    """``url`` (the guest's) with another login."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    login = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{login}@{host}"))
