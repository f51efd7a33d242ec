"""docs/protocol.md is enough to write an agent: one written here from the page alone, against a
real orchestrator-side ``Bridge`` on the machine's RabbitMQ.

``ForeignAgent`` (the first half of this file) uses only aio-pika, json, hmac and hashlib (with
the standard library's uuid, time and asyncio for ids, clocks and events): nothing of Chiffon.
Each of its rules cites the section of docs/protocol.md it follows. The tests (the second half)
set up the orchestrator side with Chiffon and check that each side accepts what the other
publishes. The last tests check the page itself: its worked signing example is what
``chiffon.protocol.signing`` computes, and every example body is valid for its kind.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextlib
import dis
import hashlib
import hmac
import inspect
import json
import re
import secrets
import shutil
import subprocess
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import anyio
import pytest
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from chiffon.actors import Actor, ActorRef, handler
from chiffon.bridge.errors import RemoteError
from chiffon.bridge.remote_ref import RemoteRef
from chiffon.protocol import (
    AgentAnnounce,
    AgentsDiscover,
    CapacityOffer,
    CapacityQuery,
    Needs,
    StepCancel,
    StepOutput,
    StepPreview,
    StepPreviewResult,
    StepResult,
    StepStatusQuery,
    StepStatusReport,
)
from chiffon.protocol.codec import MESSAGE_MODELS
from chiffon.protocol.signing import new_key, sign
from chiffon.protocol.wire import WireEnvelope, decode_packet, encode_packet
from tests.bridge.conftest import (
    Letters,
    OrchestratorSide,
    execute,
    orchestrator_only,
    run_requested,
)
from tests.conftest import unavailable

# -- the foreign agent: aio-pika, json, hmac, hashlib -------------------------------------

KINDS = {
    "agent.announce": 1, "agent.heartbeat": 1, "agent.goodbye": 1, "agents.discover": 1,
    "capacity.query": 1, "capacity.offer": 1, "step.preview": 1, "step.preview.result": 1,
    "step.execute": 2, "step.output": 1, "step.result": 1, "step.status": 1,
    "step.status.report": 1, "step.cancel": 1, "error": 1, "run.requested": 1,
    "plan.proposed": 1, "plan.decision": 1, "run.finished": 1,
}  # fmt: skip
"""§8: every kind, with its version (§11)."""
REQUIRED = {"id", "kind", "v", "sender", "to", "body"}
FIELDS = REQUIRED | {
    "from", "reply_to", "correlation_id", "causation_id", "in_reply_to", "ask", "sent_at",
}  # fmt: skip
"""§4: the envelope's fields, and no others."""
MAX_BYTES = 1048576
MAX_AGE_MS, SKEW_MS = 24 * 3600 * 1000, 5 * 60 * 1000
PLAYBOOKS = {"uptime-kuma": "sha256:5c1b6d0f"}  # catalog id -> digest of its files
SAMPLE: dict[str, Any] = {
    "cpu_count": 8, "cpu_percent": 3.5, "load_1m": 0.2, "memory_total_mb": 16000,
    "memory_available_mb": 12000, "gpus": [], "gpu_note": "no GPU here",
    "sampled_at": "2025-11-24T16:00:00Z",
}  # fmt: skip


class Refusal(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ForeignAgent:
    """An agent from the credentials file's JSON (§3), on exchange ``exchange`` (``chiffon``
    outside tests)."""

    def __init__(self, url: str, credentials: dict[str, Any], *, exchange: str) -> None:
        self.url = url
        self.name: str = credentials["name"]
        self.login: str = credentials["amqp_user"]
        self.key = bytes.fromhex(credentials["key"])  # §3: the bytes, not the hex text
        self.orchestrator_users = set(credentials["orchestrator_users"])
        self.exchange_name = exchange
        self.queue_name = f"{exchange}.agent.{self.name}"
        self.route = f"agent.{self.name}"
        self.inbox: set[str] = set()  # §6 check 15 (a file that survives restarts, for real)
        self.ledger: dict[tuple[str, int], dict[str, Any] | None] = {}  # §9: attempt -> result
        self.newest: dict[tuple[str, int], int] = {}  # §9: (run, position) -> newest attempt
        self.holds: dict[str, dict[str, Any]] = {}  # §8 capacity.offer: step id -> needs
        self.accepted: list[dict[str, Any]] = []  # envelopes that passed §6
        self.refused: list[Refusal] = []
        self.playbook_runs = 0
        self.changed = asyncio.Event()
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._exchange: AbstractExchange | None = None
        self._dead: AbstractExchange | None = None
        self._connection: aio_pika.abc.AbstractConnection | None = None

    # §9 Start
    async def start(self) -> None:
        self._connection = await aio_pika.connect(self.url)
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=10)
        self._exchange = await channel.get_exchange(self.exchange_name, ensure=True)
        self._dead = await channel.get_exchange(f"{self.exchange_name}.dead-letter", ensure=True)
        queue = await channel.get_queue(self.queue_name, ensure=True)  # passive: declare nothing
        await queue.consume(self.on_message)
        await self.announce()

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    # §4, §5: publishing
    def envelope(
        self, kind: str, body: dict[str, Any], *, to: str, cause: dict[str, Any] | None = None,
        in_reply_to: str | None = None, from_actor: str | None = "agent",
    ) -> dict[str, Any]:  # fmt: skip
        return {
            "id": str(uuid.uuid4()), "kind": kind, "v": KINDS[kind], "sender": f"agent:{self.name}",
            "from": from_actor, "reply_to": self.route, "to": to,
            "correlation_id": None if cause is None else cause["correlation_id"] or cause["id"],
            "causation_id": None if cause is None else cause["id"],
            "in_reply_to": in_reply_to, "ask": False, "sent_at": now_ms(), "body": body,
        }  # fmt: skip

    def sign(self, body: bytes) -> str:
        return "hmac-sha256=" + hmac.new(self.key, body, hashlib.sha256).hexdigest()

    async def publish(self, routing_key: str, envelopes: list[dict[str, Any]]) -> None:
        """§4: mandatory, confirmed, persistent, ``user_id`` = the login, signed (§5)."""
        body = json.dumps(envelopes).encode()
        message = aio_pika.Message(
            body, user_id=self.login, content_type="application/json",
            message_id=envelopes[0]["id"], delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={"x-chiffon-key": self.name, "x-chiffon-sig": self.sign(body)},
        )  # fmt: skip
        assert self._exchange is not None
        await self._exchange.publish(message, routing_key, mandatory=True)

    async def tell_orchestrators(self, kind: str, body: dict[str, Any]) -> None:
        await self.publish("orchestrators", [self.envelope(kind, body, to="registry")])

    async def announce(self) -> None:
        """§8 agent.announce: ``from`` and ``reply_to`` are how the registry reaches us."""
        await self.tell_orchestrators(
            "agent.announce",
            {"name": self.name, "agent_kind": "infra", "capabilities": ["ansible"],
             "version": "foreign-0.1", "resources": SAMPLE, "heartbeat_interval_s": 5.0,
             "started_at": self.started_at},
        )  # fmt: skip

    async def answer(self, ask: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
        """§7: one envelope in_reply_to the ask, to its ``from`` at its ``reply_to``."""
        reply = self.envelope(
            kind, body, to=ask["from"] or "asker", cause=ask, in_reply_to=ask["id"],
            from_actor=None,
        )  # fmt: skip
        await self.publish(ask["reply_to"], [reply])

    async def tell_back(self, to: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
        """§7: a tell to the ``from`` of ``to`` at its ``reply_to``."""
        await self.publish(to["reply_to"], [self.envelope(kind, body, to=to["from"], cause=to)])

    # §6: receiving
    async def on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            fresh = self.fresh(message, self.check(message))
            for envelope in fresh:
                self.accepted.append(envelope)  # it passed §6 (kept first: a test may look now)
                await self.handle(envelope)
            self.inbox.update(e["id"] for e in fresh)
        except Refusal as refusal:
            self.refused.append(refusal)
            await self.dead_letter(message, refusal)
        await message.ack()  # after the effects (and after a dead letter)
        self.changed.set()

    def check(self, message: AbstractIncomingMessage) -> list[dict[str, Any]]:
        """§6 checks 1 to 14, in order."""
        body = message.body
        if len(body) > MAX_BYTES:
            raise Refusal("oversize", f"{len(body)} bytes")
        if not message.user_id:
            raise Refusal("unauthenticated", "no user_id")
        headers = message.headers or {}
        signature, key_id = headers.get("x-chiffon-sig"), headers.get("x-chiffon-key")
        signature = signature.decode() if isinstance(signature, bytes) else signature
        key_id = key_id.decode() if isinstance(key_id, bytes) else key_id
        if not isinstance(signature, str) or not isinstance(key_id, str) or not key_id:
            raise Refusal("unsigned", "x-chiffon-sig and x-chiffon-key are required")
        if key_id != self.name:
            raise Refusal("unknown_sender", f"signed with {key_id}'s key")
        if message.user_id not in self.orchestrator_users:
            raise Refusal("forged", f"published by {message.user_id}")
        if not hmac.compare_digest(self.sign(body), signature):
            raise Refusal("forged", "the signature does not match")
        try:
            envelopes = json.loads(body)
        except ValueError as exc:
            raise Refusal("not_json", str(exc)) from None
        if not isinstance(envelopes, list) or not envelopes:
            raise Refusal("not_a_frame", "not a non-empty array")
        for envelope in envelopes:
            if not isinstance(envelope, dict) or not REQUIRED <= set(envelope) <= FIELDS:
                raise Refusal("not_a_frame", "missing or unknown envelope fields")
            if envelope["kind"] not in KINDS:
                raise Refusal("unknown_kind", str(envelope["kind"]))
            if envelope["v"] != KINDS[envelope["kind"]]:
                raise Refusal("wrong_version", f"{envelope['kind']} v{envelope['v']}")
            if not isinstance(envelope["body"], dict):
                raise Refusal("invalid_body", "the body is not an object")
            for field in ("from", "reply_to", "correlation_id", "causation_id", "in_reply_to"):
                envelope.setdefault(field, None)
            envelope["ask"] = envelope.get("ask") is True
        for envelope in envelopes:
            if not str(envelope["sender"]).startswith("orchestrator:"):
                raise Refusal("forged", f"sender {envelope['sender']}")
        now = now_ms()
        for envelope in envelopes:
            sent_at = envelope.get("sent_at", 0)
            if not isinstance(sent_at, int) or not now - MAX_AGE_MS <= sent_at <= now + SKEW_MS:
                raise Refusal("replayed", f"sent at {sent_at}")
        return envelopes

    def fresh(
        self, message: AbstractIncomingMessage, envelopes: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """§6 checks 15 and 16: what this agent has not processed yet, each to an actor here."""
        fresh = [e for e in envelopes if e["id"] not in self.inbox]
        if len(fresh) < len(envelopes) and not message.redelivered:
            raise Refusal("replayed", "an envelope was already processed")
        for envelope in fresh:
            if envelope["to"] != "agent" and envelope["in_reply_to"] is None:
                raise Refusal("no_recipient", f"no actor named {envelope['to']!r} here")
        return fresh

    async def dead_letter(self, message: AbstractIncomingMessage, refusal: Refusal) -> None:
        """§6 Dead-lettering: the same body to the dead-letter exchange, reasons in headers."""
        headers = dict(message.headers or {})
        headers.update({
            "x-chiffon-dead-code": refusal.code, "x-chiffon-dead-reason": refusal.reason,
            "x-chiffon-dead-queue": self.queue_name, "x-chiffon-dead-user": message.user_id or "",
            "x-chiffon-dead-message-id": message.message_id or "",
            "x-chiffon-dead-routing-key": message.routing_key or "",
        })  # fmt: skip
        dead = aio_pika.Message(
            message.body, headers=headers, user_id=self.login,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )  # fmt: skip
        assert self._dead is not None
        await self._dead.publish(dead, routing_key="")

    # §8, §9: what the agent does
    async def handle(self, envelope: dict[str, Any]) -> None:
        kind, body = envelope["kind"], envelope["body"]
        if kind == "agents.discover":
            await self.announce()
        elif kind == "capacity.query" and envelope["ask"]:
            await self.answer(envelope, "capacity.offer", self.offer(body))
        elif kind == "step.preview" and envelope["ask"]:
            known = body["playbook"] in PLAYBOOKS
            text = "no changes" if known else f"no dry run: unknown playbook {body['playbook']}"
            await self.answer(envelope, "step.preview.result", {"text": text, "refused": not known})
        elif kind == "step.execute":
            await self.execute(envelope)
        elif kind == "step.cancel":
            pass  # §9: this agent's attempts end within execute, so none still runs to stop
        elif kind == "step.status":
            report = self.status(body)
            if envelope["ask"]:
                await self.answer(envelope, "step.status.report", report)
            else:
                await self.tell_back(envelope, "step.status.report", report)
        elif envelope["ask"]:  # §7: a kind this agent does not answer
            await self.answer(envelope, "error", {
                "code": "no_handler", "sentence": f"actor agent has no handler for {kind}",
                "message_id": envelope["id"], "retryable": False,
            })  # fmt: skip

    def offer(self, query: dict[str, Any]) -> dict[str, Any]:
        reserved = sum(n.get("memory_mb", 0) for n in self.holds.values())
        available = {
            "cpu_cores": float(SAMPLE["cpu_count"]), "gpu_vram_mb": 0,
            "memory_mb": SAMPLE["memory_available_mb"] - reserved,
        }  # fmt: skip
        needs = query["needs"]
        short = [k for k, wanted in needs.items() if wanted > available[k]]
        if not short:
            self.holds[query["step_id"]] = needs
        return {
            "name": self.name, "accepted": not short, "available": available,
            "reason": f"{self.name} lacks {', '.join(short)}" if short else None,
            "resources": SAMPLE,
        }  # fmt: skip

    async def execute(self, envelope: dict[str, Any]) -> None:
        """§9 Execution."""
        body = envelope["body"]
        if not body.get("approval_id") or not body.get("plan_hash"):
            raise Refusal("invalid_body", "step.execute without approval_id and plan_hash")
        key = (body["step_id"], body["attempt"])
        if key in self.ledger:  # never run an attempt twice
            stored = self.ledger[key]
            if stored is not None:
                await self.tell_back(envelope, "step.result", stored)
            return
        head = {"run_id": body["run_id"], "step_id": body["step_id"]}
        step = (body["run_id"], body["position"])
        newest = self.newest.get(step, 0)
        if body["attempt"] < newest:  # §9: the orchestrator gave up on it before
            why = f"refused: attempt {body['attempt']} is older than attempt {newest}"
            await self.tell_back(envelope, "step.result", {
                **head, "attempt": body["attempt"], "status": "failed", "seconds": 0.0,
                "failure": {"error": why},
            })  # fmt: skip
            return
        self.newest[step] = body["attempt"]
        self.ledger[key] = None  # recorded before anything starts
        self.holds.pop(body["step_id"], None)
        if PLAYBOOKS.get(body["playbook"]) != body["digest"]:
            why = f"refused: {body['playbook']} is unknown here or its files changed"
            result = {**head, "attempt": body["attempt"], "status": "failed", "seconds": 0.0,
                      "failure": {"error": why}}  # fmt: skip
        else:
            self.playbook_runs += 1
            await self.tell_back(envelope, "step.output", {
                **head, "seq": 0, "event": "runner_on_ok", "host": body["hosts"][0],
                "task": "Start the container", "status": "changed", "text": "changed: [x]",
            })  # fmt: skip
            result = {**head, "attempt": body["attempt"], "status": "succeeded", "seconds": 0.4,
                      "stats": {body["hosts"][0]: {"ok": 3, "changed": 1}}}  # fmt: skip
        self.ledger[key] = result
        await self.tell_back(envelope, "step.result", result)

    def status(self, query: dict[str, Any]) -> dict[str, Any]:
        head = {k: query[k] for k in ("run_id", "step_id", "attempt")}
        result = self.ledger.get((query["step_id"], query["attempt"]), "never")
        if result == "never":
            return {"name": self.name, **head, "state": "unknown", "reason": "never started"}
        if result is None:
            return {"name": self.name, **head, "state": "running"}
        return {"name": self.name, **head, "state": "finished", "result": result}

    async def wait_for(self, predicate: Any) -> None:
        while not predicate():
            self.changed.clear()
            await self.changed.wait()


# -- the tests: a real orchestrator side (Chiffon) ----------------------------------------

NAME = "foreign-1"
WAIT_S = 20
DOC = Path(__file__).parents[2] / "docs" / "protocol.md"


class Registry(Actor):
    """Stands for the orchestrator's registry: keeps each announcement and who sent it."""

    def __init__(self) -> None:
        self.announced: list[tuple[AgentAnnounce, ActorRef | None]] = []
        self.changed = anyio.Event()

    @handler
    async def on_announce(self, message: AgentAnnounce) -> None:
        self.announced.append((message, self.context.sender))
        self.changed.set()
        self.changed = anyio.Event()

    async def wait(self, count: int) -> list[tuple[AgentAnnounce, ActorRef | None]]:
        while len(self.announced) < count:
            await self.changed.wait()
        return self.announced


class Run(Actor):
    """Stands for a run's actor: keeps what the agent tells it, in order."""

    def __init__(self) -> None:
        self.told: list[StepOutput | StepResult | StepStatusReport] = []
        self.changed = anyio.Event()

    def note(self, message: StepOutput | StepResult | StepStatusReport) -> None:
        self.told.append(message)
        self.changed.set()
        self.changed = anyio.Event()

    @handler
    async def on_output(self, message: StepOutput) -> None:
        self.note(message)

    @handler
    async def on_result(self, message: StepResult) -> None:
        self.note(message)

    @handler
    async def on_report(self, message: StepStatusReport) -> None:
        self.note(message)

    async def wait(self, count: int) -> list[StepOutput | StepResult | StepStatusReport]:
        while len(self.told) < count:
            await self.changed.wait()
        return self.told


@contextlib.asynccontextmanager
async def foreign_agent(
    side: OrchestratorSide, url: str, *, credentials: dict[str, Any] | None = None
) -> AsyncIterator[ForeignAgent]:
    """The foreign agent, given its credentials file's JSON (§3), started and announced."""
    agent = ForeignAgent(
        url, credentials or side.credentials.to_json(), exchange=side.topology.exchange
    )
    try:
        await agent.start()
        yield agent
    finally:
        await agent.stop()


async def test_an_agent_written_from_the_page_announces_itself_and_answers_the_orchestrators_asks(
    amqp_url: str, tmp_path: Path
) -> None:
    async with orchestrator_only(amqp_url, tmp_path, agent=NAME) as side:
        registry = Registry()
        await side.system.spawn(lambda: registry, name="registry")
        async with foreign_agent(side, amqp_url) as agent:
            with anyio.fail_after(WAIT_S):
                [(announce, ref)] = await registry.wait(1)
            assert announce.name == NAME
            assert announce.agent_kind == "infra"
            assert announce.resources.memory_available_mb == 12000
            # The registry reaches the agent through the announcement's sender (§8).
            assert isinstance(ref, RemoteRef)
            assert (ref.route, ref.name) == (f"agent.{NAME}", "agent")

            step = uuid.uuid4()
            with anyio.fail_after(WAIT_S):
                offer = await ref.ask(
                    CapacityQuery(run_id=uuid.uuid4(), step_id=step, needs=Needs(memory_mb=512)),
                    timeout=WAIT_S,
                )
                short = await ref.ask(
                    CapacityQuery(
                        run_id=uuid.uuid4(), step_id=uuid.uuid4(), needs=Needs(memory_mb=12000)
                    ),
                    timeout=WAIT_S,
                )
                preview = await ref.ask(
                    StepPreview(playbook="uptime-kuma", hosts=("monitoring",)), timeout=WAIT_S
                )
            assert isinstance(offer, CapacityOffer)
            assert offer.accepted
            assert offer.name == NAME
            assert offer.available.memory_mb == 12000
            # The first offer holds its 512 MB: the second step does not fit any more.
            assert isinstance(short, CapacityOffer)
            assert not short.accepted
            assert short.available.memory_mb == 11488
            assert short.reason == f"{NAME} lacks memory_mb"
            assert preview == StepPreviewResult(text="no changes")
        # Each side accepted everything the other published: signatures, users, envelopes.
        assert [e["kind"] for e in agent.accepted] == [
            "capacity.query", "capacity.query", "step.preview"
        ]  # fmt: skip
        assert agent.refused == []
        assert side.bridge.statistics.dead_lettered == 0


async def test_the_agent_runs_an_approved_step_once_and_tells_its_output_and_result_to_the_run(
    amqp_url: str, tmp_path: Path
) -> None:
    async with orchestrator_only(amqp_url, tmp_path, agent=NAME) as side:
        registry = Registry()
        await side.system.spawn(lambda: registry, name="registry")
        async with foreign_agent(side, amqp_url) as agent:
            with anyio.fail_after(WAIT_S):
                [(_, ref)] = await registry.wait(1)
            assert ref is not None
            message = execute(digest=PLAYBOOKS["uptime-kuma"])
            run = Run()
            run_ref = await side.system.spawn(lambda: run, name=f"run-{message.run_id}")
            with anyio.fail_after(WAIT_S):
                await ref.tell(message, sender=run_ref)
                output, result = await run.wait(2)
            assert isinstance(output, StepOutput)
            assert output.seq == 0
            assert isinstance(result, StepResult)
            assert result.status == "succeeded"
            assert (result.step_id, result.attempt) == (message.step_id, 1)

            # The same attempt again (a new envelope): its stored result, never a second run.
            with anyio.fail_after(WAIT_S):
                await ref.tell(message, sender=run_ref)
                told = await run.wait(3)
            assert told[2] == result
            assert agent.playbook_runs == 1

            # What became of it, asked; and of an attempt it never saw, told back to the run.
            with anyio.fail_after(WAIT_S):
                report = await ref.ask(
                    StepStatusQuery(run_id=message.run_id, step_id=message.step_id, attempt=1),
                    timeout=WAIT_S,
                )
                await ref.tell(
                    StepStatusQuery(run_id=message.run_id, step_id=message.step_id, attempt=2),
                    sender=run_ref,
                )
                told = await run.wait(4)
            assert isinstance(report, StepStatusReport)
            assert report.state == "finished"
            assert report.result == result
            assert isinstance(told[3], StepStatusReport)
            assert told[3].state == "unknown"

            # A playbook whose files changed since the approval is refused, as a failed result.
            changed = execute(run_id=message.run_id, attempt=2, digest="sha256:other")
            with anyio.fail_after(WAIT_S):
                await ref.tell(changed, sender=run_ref)
                told = await run.wait(5)
            refused = told[4]
            assert isinstance(refused, StepResult)
            assert refused.status == "failed"
            assert refused.failure is not None
            assert refused.failure.error.startswith("refused:")
            assert agent.playbook_runs == 1

            # Told to stop an attempt it no longer runs, it changes nothing; an attempt older
            # than one it has had of the same step is refused.
            cancel = StepCancel(
                run_id=message.run_id, step_id=message.step_id, attempt=1, reason="lost"
            )
            older = execute(run_id=message.run_id, attempt=1, digest=PLAYBOOKS["uptime-kuma"])
            with anyio.fail_after(WAIT_S):
                await ref.tell(cancel, sender=run_ref)
                await ref.tell(older, sender=run_ref)
                told = await run.wait(6)
            outdated = told[5]
            assert isinstance(outdated, StepResult)
            assert outdated.step_id == older.step_id
            assert outdated.status == "failed"
            assert outdated.failure is not None
            assert outdated.failure.error == "refused: attempt 1 is older than attempt 2"
            assert agent.playbook_runs == 1
        assert agent.refused == []
        assert side.bridge.statistics.dead_lettered == 0


async def test_a_kind_the_agent_does_not_answer_is_an_error_with_its_code_and_discovery_reannounces(
    amqp_url: str, tmp_path: Path
) -> None:
    async with orchestrator_only(amqp_url, tmp_path, agent=NAME) as side:
        registry = Registry()
        await side.system.spawn(lambda: registry, name="registry")
        async with foreign_agent(side, amqp_url):
            with anyio.fail_after(WAIT_S):
                [(_, ref)] = await registry.wait(1)
            assert ref is not None
            with (
                anyio.fail_after(WAIT_S),
                pytest.raises(
                    RemoteError,
                    match=r"^no_handler: actor agent has no handler for run\.requested$",
                ),
            ):
                await ref.ask(run_requested(), timeout=WAIT_S)
            with anyio.fail_after(WAIT_S):
                await ref.tell(AgentsDiscover())
                announcements = await registry.wait(2)
            assert [a.name for a, _ in announcements] == [NAME, NAME]


async def test_an_announcement_signed_with_another_key_is_dead_lettered_as_forged_and_never_heard(
    amqp_url: str, tmp_path: Path
) -> None:
    letters = Letters()
    async with orchestrator_only(amqp_url, tmp_path, agent=NAME, record=letters.record) as side:
        registry = Registry()
        await side.system.spawn(lambda: registry, name="registry")
        impostor = {**side.credentials.to_json(), "key": new_key().hex()}
        async with foreign_agent(side, amqp_url, credentials=impostor):
            with anyio.fail_after(WAIT_S):
                [letter] = await letters.wait(1)
        assert letter.code == "forged"
        assert letter.kind == "agent.announce"
        assert letter.queue == side.topology.orchestrator_queue(side.instance)
        assert registry.announced == []


async def test_an_announcement_giving_another_agents_queue_as_its_address_is_refused_as_forged(
    amqp_url: str, tmp_path: Path
) -> None:
    """Issue 17's attack: agent A announced with ``reply_to: agent.<B>`` and the registry
    routed the next run's work to B's queue under A's name. Refused at the bridge now."""
    letters = Letters()
    async with orchestrator_only(amqp_url, tmp_path, agent=NAME, record=letters.record) as side:
        registry = Registry()
        await side.system.spawn(lambda: registry, name="registry")
        agent = ForeignAgent(amqp_url, side.credentials.to_json(), exchange=side.topology.exchange)
        agent.route = "agent.victim"  # every envelope it sends names the victim's queue
        try:
            await agent.start()
            with anyio.fail_after(WAIT_S):
                [letter] = await letters.wait(1)
        finally:
            await agent.stop()
        assert (letter.code, letter.kind) == ("forged", "agent.announce")
        assert "'agent.victim' as its reply address" in letter.reason
        assert registry.announced == []


async def test_the_agent_dead_letters_an_execute_not_signed_with_its_key_into_chiffons_audit(
    amqp_url: str, tmp_path: Path
) -> None:
    letters = Letters()
    async with orchestrator_only(amqp_url, tmp_path, agent=NAME, record=letters.record) as side:
        registry = Registry()
        await side.system.spawn(lambda: registry, name="registry")
        async with foreign_agent(side, amqp_url) as agent:
            wire = WireEnvelope(
                id=uuid.uuid4(), kind="step.execute", body=execute(digest=PLAYBOOKS["uptime-kuma"]),
                sender=f"orchestrator:{side.instance}", sent_at=time.time_ns() // 1_000_000,
                to="agent", reply_to=side.topology.orchestrator_route(side.instance),
            )  # fmt: skip
            body = encode_packet([wire])
            connection = await aio_pika.connect(amqp_url)
            async with connection:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.get_exchange(side.topology.exchange)
                await exchange.publish(
                    aio_pika.Message(
                        body, user_id="guest",
                        headers={"x-chiffon-key": NAME, "x-chiffon-sig": sign(new_key(), body)},
                    ),
                    f"agent.{NAME}", mandatory=True,
                )  # fmt: skip
            with anyio.fail_after(WAIT_S):
                [letter] = await letters.wait(1)
        # The orchestrator's audit consumer reads the agent's dead letter as its own (§6).
        assert letter.code == "forged"
        assert letter.kind == "step.execute"
        assert letter.queue == side.topology.agent_queue(NAME)
        assert letter.body == body
        assert letter.user_id == "guest"
        assert [r.code for r in agent.refused] == ["forged"]
        assert agent.playbook_runs == 0


# -- the documented RabbitMQ permissions --------------------------------------------------


class Management:
    """The broker's management API (port 15672, with the test URL's login), or ``None``."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.base = f"http://{parts.hostname or '127.0.0.1'}:15672/api"
        login = f"{urllib.parse.unquote(parts.username or 'guest')}:"
        login += urllib.parse.unquote(parts.password or "guest")
        self.auth = "Basic " + base64.b64encode(login.encode()).decode()

    def call(self, method: str, path: str, body: dict[str, str] | None = None) -> None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, method=method, data=data,
            headers={"Authorization": self.auth, "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10):
            pass

    @classmethod
    def reachable(cls, url: str) -> Management | None:
        management = cls(url)
        try:
            management.call("GET", "/overview")
        except (OSError, urllib.error.URLError):
            return None
        return management


def rabbitmqctl(*args: str) -> None:
    program = shutil.which("rabbitmqctl") or shutil.which("/usr/sbin/rabbitmqctl")
    if program is None:
        unavailable(
            "the management API (port 15672) or rabbitmqctl is needed to make a RabbitMQ user "
            "with the agent's permissions"
        )
        raise AssertionError  # unreachable: unavailable() skips or fails
    done = subprocess.run([program, *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()
        if "cookie" in message.lower() or "permission" in message.lower():
            unavailable(f"rabbitmqctl may not manage this broker: {message}")
        raise AssertionError(f"rabbitmqctl {' '.join(args[:2])} failed: {message}")


@contextlib.contextmanager
def agent_user(url: str, user: str, password: str, exchange: str, name: str) -> Iterator[None]:
    """A RabbitMQ user with §3's permissions, on the test's exchange instead of ``chiffon``:
    through the management API when it answers, with ``rabbitmqctl`` otherwise."""
    prefix = re.escape(exchange)
    configure, write = "^$", f"^({prefix}|{prefix}\\.dead-letter)$"
    read = f"^{re.escape(f'{exchange}.agent.{name}')}$"
    topic_write = r"^(orchestrators|orchestrator\..+)$"
    management = Management.reachable(url)
    quoted = urllib.parse.quote(user, safe="")
    if management is not None:
        management.call("PUT", f"/users/{quoted}", {"password": password, "tags": ""})
        delete: Callable[[], None] = lambda: management.call("DELETE", f"/users/{quoted}")  # noqa: E731
    else:
        rabbitmqctl("add_user", "--", user, password)
        delete = lambda: rabbitmqctl("delete_user", user)  # noqa: E731
    try:
        if management is not None:
            management.call(
                "PUT", f"/permissions/%2F/{quoted}",
                {"configure": configure, "write": write, "read": read},
            )  # fmt: skip
            management.call(
                "PUT", f"/topic-permissions/%2F/{quoted}",
                {"exchange": exchange, "write": topic_write, "read": "^$"},
            )  # fmt: skip
        else:
            rabbitmqctl("set_permissions", "-p", "/", user, configure, write, read)
            rabbitmqctl(
                "set_topic_permissions", "-p", "/", user, exchange, topic_write, "^$"
            )  # fmt: skip
        yield
    finally:
        with contextlib.suppress(AssertionError, OSError):
            delete()


async def test_the_agents_documented_permissions_are_enough_for_it_and_keep_it_off_other_agents(
    amqp_url: str, tmp_path: Path
) -> None:
    user, password = f"chiffon-test-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    async with orchestrator_only(amqp_url, tmp_path, agent=NAME, agent_user=user) as side:
        registry = Registry()
        await side.system.spawn(lambda: registry, name="registry")
        parts = urllib.parse.urlsplit(amqp_url)
        login = parts._replace(netloc=f"{user}:{password}@{parts.netloc.rpartition('@')[2]}")
        with agent_user(amqp_url, user, password, side.topology.exchange, NAME):
            async with foreign_agent(side, urllib.parse.urlunsplit(login)) as agent:
                with anyio.fail_after(WAIT_S):
                    [(_, ref)] = await registry.wait(1)
                    assert ref is not None
                    offer = await ref.ask(
                        CapacityQuery(run_id=uuid.uuid4(), step_id=uuid.uuid4(), needs=Needs()),
                        timeout=WAIT_S,
                    )
                assert isinstance(offer, CapacityOffer)
                assert offer.accepted
                # Another agent's routing key is out of its topic permissions.
                envelope = agent.envelope("agent.heartbeat", {}, to="agent")
                with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                    await agent.publish("agent.other", [envelope])
    assert side.bridge.statistics.dead_lettered == 0


# -- the page itself ----------------------------------------------------------------------


def marked_block(text: str, mark: str) -> str:
    """The fenced block right after ``<!-- mark -->`` in the page, without its fences."""
    found = re.search(rf"<!-- {re.escape(mark)} -->\n```\w*\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, f"docs/protocol.md has no block marked {mark}"
    return found.group(1)


def test_the_worked_signing_example_is_what_chiffon_signs() -> None:
    text = DOC.read_text()
    key = bytes.fromhex(marked_block(text, "signing-example:key"))
    body = marked_block(text, "signing-example:body").encode()
    headers = dict(
        line.split(": ", 1) for line in marked_block(text, "signing-example:headers").splitlines()
    )
    assert len(key) == 32
    assert f"these {len(body)} bytes" in text
    assert headers["x-chiffon-sig"] == sign(key, body)
    [envelope] = decode_packet(body)
    assert headers["x-chiffon-key"] == envelope.sender.removeprefix("agent:")


def test_every_kind_has_a_valid_example_on_the_page_and_a_link_to_its_schema() -> None:
    text = DOC.read_text()
    kinds = {model.kind: model for model in MESSAGE_MODELS}
    marked = re.findall(r"<!-- example:([a-z.]+) -->", text)
    assert sorted(marked) == sorted(kinds)
    for kind in marked:
        [envelope] = decode_packet(marked_block(text, f"example:{kind}").encode())
        assert envelope.kind == kind
        schema = f"protocol/{kind}.v{kinds[kind].v}.json"
        assert f"]({schema})" in text
        assert (DOC.parent / schema).is_file()
    # The answers answer the asks shown beside them.
    for ask_kind, answer_kind in [
        ("capacity.query", "capacity.offer"), ("step.preview", "step.preview.result"),
    ]:  # fmt: skip
        [ask] = decode_packet(marked_block(text, f"example:{ask_kind}").encode())
        [answer] = decode_packet(marked_block(text, f"example:{answer_kind}").encode())
        assert ask.ask
        assert not answer.ask
        assert answer.in_reply_to == ask.id
        assert answer.to == ask.from_actor
        assert answer.causation_id == ask.id
    # A status question told (as the registry does) is told back to the run.
    [query] = decode_packet(marked_block(text, "example:step.status").encode())
    [report] = decode_packet(marked_block(text, "example:step.status.report").encode())
    assert not query.ask
    assert (report.to, report.reply_to) == (query.from_actor, f"agent.{report.body.name}")  # type: ignore[attr-defined]
    assert report.causation_id == query.id


def test_the_foreign_agent_uses_nothing_of_chiffon() -> None:
    tree = ast.parse(Path(__file__).read_text())
    chiffon_names = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("chiffon", "tests"))
        for alias in node.names
    }
    assert {"execute", "sign", "RemoteRef", "MESSAGE_MODELS"} <= chiffon_names
    used: set[str] = set()
    codes = [
        member.__code__
        for owner in (ForeignAgent, Refusal, now_ms)
        for _, member in [*inspect.getmembers(owner, inspect.isfunction), ("", owner)]
        if isinstance(member, types.FunctionType)
    ]
    while codes:
        code = codes.pop()
        used.update(
            str(i.argval)
            for i in dis.get_instructions(code)
            if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")
        )
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    assert used & chiffon_names == set()
