"""Creating an agent's place on the broker: its queue and binding, and its RabbitMQ user.

The queue is declared over AMQP with the orchestrator's login. The user is created through
the management plugin's HTTP API when it answers (port 15672 on the broker's host), with
permissions restricted to the agent's own queue and the orchestrators' routing keys;
otherwise the equivalent ``rabbitmqctl`` commands are returned for the operator to run (or
run here with ``apply=True`` when this machine is the broker's).
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from chiffon.bridge.credentials import (
    AgentCredentials,
    permissions,
    rabbitmqctl_commands,
    vhost_of,
)
from chiffon.bridge.errors import BridgeError
from chiffon.bridge.topology import Topology


async def declare_agent(url: str, credentials: AgentCredentials, topology: Topology) -> None:
    """Declare the exchanges and agent's queue and binding with the orchestrator's login."""
    import aio_pika

    from chiffon.bridge.topology import declare_agent_queue, declare_exchanges

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare_exchanges(channel, topology)
        await declare_agent_queue(channel, topology, credentials.name)


def management_api(
    url: str,
    credentials: AgentCredentials,
    *,
    topology: Topology | None = None,
    timeout: float = 3.0,
) -> bool:
    """Create the user through the management API (on port 15672 of ``url``'s host, over
    HTTPS for ``amqps://``), logging in as ``url``'s user. ``False`` when no API answers;
    raises ``BridgeError`` when it answers with a refusal."""
    parts = urllib.parse.urlsplit(url)
    scheme = "https" if parts.scheme == "amqps" else "http"
    base = f"{scheme}://{parts.hostname or 'localhost'}:15672/api"
    vhost = urllib.parse.quote(vhost_of(url), safe="")
    login = f"{urllib.parse.unquote(parts.username or 'guest')}:"
    login += urllib.parse.unquote(parts.password or "guest")
    auth = "Basic " + base64.b64encode(login.encode()).decode()
    user = urllib.parse.quote(credentials.amqp_user, safe="")
    allowed = permissions(credentials, topology)
    calls = [
        (f"{base}/users/{user}", {"password": credentials.amqp_password, "tags": ""}),
        (f"{base}/permissions/{vhost}/{user}",
         {"configure": allowed.configure, "write": allowed.write, "read": allowed.read}),
        (f"{base}/topic-permissions/{vhost}/{user}",
         {"exchange": allowed.topic_exchange, "write": allowed.topic_write,
          "read": allowed.topic_read}),
    ]  # fmt: skip
    for address, body in calls:
        request = urllib.request.Request(
            address, data=json.dumps(body).encode(), method="PUT",
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                pass
        except urllib.error.HTTPError as exc:
            raise BridgeError(
                f"the management API refused {address}: {exc.code} {exc.reason}"
            ) from None
        except (urllib.error.URLError, OSError):
            return False
    return True


def run_rabbitmqctl(credentials: AgentCredentials, url: str) -> None:
    """Run the ``rabbitmqctl`` commands here, on ``url``'s virtual host. Raises
    ``BridgeError`` naming the failing one."""
    for command in rabbitmqctl_commands(credentials, vhost=vhost_of(url)):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0 and "user_already_exists" not in done.stderr + done.stdout:
            shown = " ".join(command[:3])
            raise BridgeError(f"`{shown} …` failed: {(done.stderr or done.stdout).strip()}")
