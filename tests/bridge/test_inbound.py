"""The bridge's inbound checks (``chiffon.bridge.inbound``), without a broker: each refusal
reason from bytes, headers and the AMQP user a message arrives with, against the real trust
of an orchestrator and of an agent (credentials files in a temporary directory).
``test_bad_input.py`` publishes the same kinds of input through RabbitMQ end to end."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from chiffon.bridge.credentials import AgentCredentials, Keyring, create, save
from chiffon.bridge.errors import Refused
from chiffon.bridge.inbound import Window, check
from chiffon.bridge.topology import Topology
from chiffon.bridge.trust import AgentTrust, OrchestratorTrust, Trust
from chiffon.protocol.signing import new_key, sign
from chiffon.protocol.wire import MAX_BODY_BYTES

AGENT = "agent-1"
NOW_MS = 1_800_000_000_000
WINDOW = Window(max_age_ms=60_000, skew_ms=5_000)
ACTORS = {"registry", "session", "agent"}


@pytest.fixture
def credentials(tmp_path: Path) -> AgentCredentials:
    made = create(AGENT, orchestrator_users=("chiffon-orchestrator",))
    save(made, tmp_path)
    return made


@pytest.fixture
def orchestrator(tmp_path: Path, credentials: AgentCredentials) -> OrchestratorTrust:
    return OrchestratorTrust("test", Keyring(tmp_path), Topology())


def envelope(**changes: Any) -> dict[str, Any]:
    """A well-formed envelope from the agent to the orchestrator's session."""
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()), "kind": "run.finished", "v": 1, "sender": f"agent:{AGENT}",
        "from": None, "reply_to": None, "to": "session", "correlation_id": None,
        "causation_id": None, "in_reply_to": None, "ask": False, "sent_at": NOW_MS,
        "body": {"run_id": str(uuid.uuid4()), "status": "succeeded"},
    }  # fmt: skip
    fields.update(changes)
    return fields


def packet(*envelopes: dict[str, Any]) -> bytes:
    return json.dumps(list(envelopes), separators=(",", ":")).encode()


def signed(key: bytes, body: bytes, key_id: str = AGENT) -> dict[str, Any]:
    return {"x-chiffon-key": key_id, "x-chiffon-sig": sign(key, body)}


def checked(
    trust: Trust, body: bytes, headers: dict[str, Any] | None, user_id: str | None
) -> list[Any]:
    return check(
        body, user_id, headers, trust=trust, has_actor=ACTORS.__contains__, now_ms=NOW_MS,
        window=WINDOW,
    )  # fmt: skip


def refusal(
    trust: Trust, body: bytes, headers: dict[str, Any] | None, user_id: str | None
) -> Refused:
    with pytest.raises(Refused) as raised:
        checked(trust, body, headers, user_id)
    return raised.value


def test_a_well_formed_message_passes_with_its_envelopes_in_order(
    orchestrator: OrchestratorTrust, credentials: AgentCredentials
) -> None:
    first, second = envelope(), envelope(sent_at=NOW_MS - 59_000, reply_to=f"agent.{AGENT}")
    body = packet(first, second)
    envelopes = checked(orchestrator, body, signed(credentials.key, body), credentials.amqp_user)
    assert [str(e.id) for e in envelopes] == [first["id"], second["id"]]
    assert [e.kind for e in envelopes] == ["run.finished", "run.finished"]


def test_headers_as_bytes_are_read_as_text(
    orchestrator: OrchestratorTrust, credentials: AgentCredentials
) -> None:
    body = packet(envelope())
    headers = {k: v.encode() for k, v in signed(credentials.key, body).items()}
    assert len(checked(orchestrator, body, headers, credentials.amqp_user)) == 1


@pytest.mark.parametrize(
    ("build", "code", "reason"),
    [
        pytest.param(
            lambda c: (b"[" + b" " * MAX_BODY_BYTES + b"]", c.key, AGENT, c.amqp_user),
            "oversize",
            f"message is {MAX_BODY_BYTES + 2} bytes; the limit is {MAX_BODY_BYTES}",
            id="oversize",
        ),
        pytest.param(
            lambda c: (packet(envelope()), c.key, AGENT, None),
            "unauthenticated",
            "the AMQP user_id property is required",
            id="no-user",
        ),
        pytest.param(
            lambda c: (packet(envelope()), c.key, "stranger", c.amqp_user),
            "unknown_sender",
            "no agent named 'stranger' is known here",
            id="unknown-key",
        ),
        pytest.param(
            lambda c: (packet(envelope()), new_key(), AGENT, c.amqp_user),
            "forged",
            f"the signature does not match {AGENT}'s key",
            id="wrong-key",
        ),
        pytest.param(
            lambda c: (packet(envelope()), c.key, AGENT, "someone-else"),
            "forged",
            f"signed with agent {AGENT}'s key but published by AMQP user "
            f"'someone-else', not 'chiffon-agent-{AGENT}'",
            id="other-user",
        ),
        pytest.param(
            lambda c: (packet(envelope(sender="agent:other")), c.key, AGENT, c.amqp_user),
            "forged",
            f"an envelope claims to be from 'agent:other' under {AGENT}'s key",
            id="other-sender",
        ),
        pytest.param(
            lambda c: (
                packet(envelope(kind="agent.goodbye", to="registry", body={"name": "other"})),
                c.key,
                AGENT,
                c.amqp_user,
            ),
            "forged",
            f"agent {AGENT} sent a agent.goodbye in the name of 'other'",
            id="body-names-another-agent",
        ),
        pytest.param(
            lambda c: (packet(envelope(reply_to="agent.other")), c.key, AGENT, c.amqp_user),
            "forged",
            f"agent {AGENT} gave 'agent.other' as its reply address, not its own queue's "
            f"'agent.{AGENT}'",
            id="reply-to-another-agents-queue",
        ),
        pytest.param(
            lambda c: (packet(envelope(reply_to="orchestrator.test")), c.key, AGENT, c.amqp_user),
            "forged",
            None,
            id="reply-to-the-orchestrators-queue",
        ),
        pytest.param(
            lambda c: (b"{nope", c.key, AGENT, c.amqp_user), "not_json", None, id="not-json"
        ),
        pytest.param(
            lambda c: (b'{"a": 1}', c.key, AGENT, c.amqp_user),
            "not_a_frame",
            "message must be a non-empty JSON array of envelopes",
            id="not-a-frame",
        ),
        pytest.param(
            lambda c: (packet(envelope(kind="run.exploded")), c.key, AGENT, c.amqp_user),
            "unknown_kind",
            None,
            id="unknown-kind",
        ),
        pytest.param(
            lambda c: (packet(envelope(v=99)), c.key, AGENT, c.amqp_user),
            "wrong_version",
            None,
            id="wrong-version",
        ),
        pytest.param(
            lambda c: (packet(envelope(body={"run_id": "x"})), c.key, AGENT, c.amqp_user),
            "invalid_body",
            None,
            id="invalid-body",
        ),
        pytest.param(
            lambda c: (packet(envelope(to="nobody")), c.key, AGENT, c.amqp_user),
            "no_recipient",
            "no actor named 'nobody' here",
            id="no-recipient",
        ),
        pytest.param(
            lambda c: (packet(envelope(sent_at=NOW_MS - 60_001)), c.key, AGENT, c.amqp_user),
            "replayed",
            None,
            id="too-old",
        ),
        pytest.param(
            lambda c: (packet(envelope(sent_at=NOW_MS + 5_001)), c.key, AGENT, c.amqp_user),
            "replayed",
            None,
            id="from-the-future",
        ),
    ],
)
def test_each_refusal_has_its_code_and_reason(
    orchestrator: OrchestratorTrust,
    credentials: AgentCredentials,
    build: Any,
    code: str,
    reason: str | None,
) -> None:
    body, key, key_id, user_id = build(credentials)
    refused = refusal(orchestrator, body, signed(key, body, key_id), user_id)
    assert refused.code == code
    if reason is not None:
        assert refused.sentence == reason


def test_a_message_without_signature_headers_is_unsigned(
    orchestrator: OrchestratorTrust, credentials: AgentCredentials
) -> None:
    body = packet(envelope())
    for headers in (None, {}, {"x-chiffon-key": AGENT}, {"x-chiffon-sig": "abc"}):
        refused = refusal(orchestrator, body, headers, credentials.amqp_user)
        assert refused.code == "unsigned"


def test_one_envelope_twice_in_one_message_is_replayed(
    orchestrator: OrchestratorTrust, credentials: AgentCredentials
) -> None:
    once = envelope()
    body = packet(once, envelope(), once)
    refused = refusal(orchestrator, body, signed(credentials.key, body), credentials.amqp_user)
    assert (refused.code, refused.sentence) == (
        "replayed", f"envelope {once['id']} appears twice in one message"
    )  # fmt: skip


def test_a_check_that_breaks_on_the_input_refuses_it_as_unreadable(
    orchestrator: OrchestratorTrust, tmp_path: Path
) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    body = packet(envelope(sender="agent:broken"))
    refused = refusal(orchestrator, body, signed(new_key(), body, "broken"), "chiffon-agent-x")
    assert refused.code == "unreadable"
    assert refused.sentence.startswith("the message could not be checked: CredentialsError: ")


def test_an_agent_accepts_its_orchestrators_and_refuses_anyone_else(
    credentials: AgentCredentials,
) -> None:
    agent = AgentTrust(credentials, Topology())
    execute = envelope(sender="orchestrator:test", to="agent")
    body = packet(execute)
    headers = signed(credentials.key, body)
    assert len(checked(agent, body, headers, "chiffon-orchestrator")) == 1
    assert refusal(agent, body, headers, credentials.amqp_user).code == "forged"
    own = packet(envelope(to="agent"))  # the agent's own key, claiming to be from itself
    assert refusal(agent, own, signed(credentials.key, own), "chiffon-orchestrator").code == (
        "forged"
    )
