"""``Bridge``: one process's actor system joined to RabbitMQ.

What it owns: one robust connection, one channel with publisher confirms, the publisher's
flusher tasks, the consumer of this process's queue and, for an orchestrator, of the
dead-letter audit queue. ``aclose`` (or leaving ``async with``) releases all of it.

Receiving, for each AMQP message (each refusal is a dead letter with its reason, and the
consumer goes on): the checks of ``chiffon.bridge.inbound`` (size, sender, signature, the
envelopes, recipient, age), then the inbox (an id already processed: a broker redelivery is
acknowledged quietly, anything else is ``replayed``). Then each envelope is
delivered — an answer to the ask waiting for it, a tell or ask to the named local actor, with a
``RemoteRef`` to its sender — its id recorded in the inbox, and only then the message
acknowledged (ack after commit: a local send of a sync-durability kind returns once its journal
record is committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from chiffon.actors import ActorNotFound, ActorStopped, AskTimeout, Envelope, LocalRef
from chiffon.actors.envelope import new_id
from chiffon.actors.errors import (
    JournalError,
    MailboxFull,
    SyncSendNeedsAwait,
    UnencodableBody,
)
from chiffon.actors.journal import Durability
from chiffon.bridge import inbound
from chiffon.bridge.consumer import Consumer, Delivery
from chiffon.bridge.dead_letters import REPORTED_BY, DeadLetter, from_headers, peek, reporter
from chiffon.bridge.errors import BrokerUnavailable, Refused, RemoteError
from chiffon.bridge.inbox import Inbox
from chiffon.bridge.publisher import Publisher
from chiffon.bridge.remote_ref import AgentsRef, RemoteRef
from chiffon.bridge.topology import Topology, declare_exchanges, declare_orchestrator_queue
from chiffon.protocol import ErrorBody, WireModel
from chiffon.protocol.wire import WireEnvelope

if TYPE_CHECKING:
    import ssl

    from aio_pika.abc import (
        AbstractChannel,
        AbstractExchange,
        AbstractIncomingMessage,
        AbstractQueue,
        AbstractRobustConnection,
    )

    from chiffon.actors import ActorSystem
    from chiffon.bridge.trust import Trust

log = structlog.get_logger("chiffon.bridge")

DeadLetterRecorder = Callable[[DeadLetter], Awaitable[None]]


@dataclasses.dataclass(slots=True)
class BridgeStatistics:
    """Counters since the bridge started."""

    received: int = 0
    delivered: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    answered: int = 0


class Bridge:
    """Connects ``system`` to the broker at ``url`` as ``trust.identity``.

    ``orchestrator=True`` declares the exchanges and this process's queue (an agent's login
    may declare nothing: its queue was declared by ``chiffon agent add``) and, with
    ``record_dead_letter``, consumes the dead-letter audit queue. ``prefetch`` is the number
    of unacknowledged messages the broker lets this consumer hold: the mailbox capacity, so
    backpressure crosses the network. ``answer_timeout_s`` bounds how long a local handler
    may take to answer a remote ask. Messages older than ``max_age_s`` (or dated more than
    ``clock_skew_s`` ahead) are refused as replayed. Tells of the kinds in
    ``ack_after_handling`` are acknowledged once the recipient's handler has returned rather
    than once they are queued. With ``delete_queue_on_close`` an orchestrator deletes its own
    queue when it closes: a queue named after one process is of no use to the next, and while
    it waited to expire it would keep every agent's heartbeats (what was sent to it for a run
    is recovered by asking the agent).
    """

    def __init__(
        self,
        url: str,
        system: ActorSystem,
        trust: Trust,
        inbox: Inbox,
        *,
        orchestrator: bool,
        topology: Topology | None = None,
        prefetch: int = 1000,
        answer_timeout_s: float = 3600.0,
        record_dead_letter: DeadLetterRecorder | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_age_s: float = 86_400.0,
        clock_skew_s: float = 300.0,
        max_batch: int = 256,
        ack_after_handling: frozenset[str] = frozenset(),
        delete_queue_on_close: bool = False,
    ) -> None:
        self.url = url
        self.system = system
        self.trust = trust
        self.inbox = inbox
        self.orchestrator = orchestrator
        self.topology = topology or Topology()
        self.prefetch = prefetch
        self.answer_timeout_s = answer_timeout_s
        self.record_dead_letter = record_dead_letter
        self.ssl_context = ssl_context
        self.window = inbound.Window(int(max_age_s * 1000), int(clock_skew_s * 1000))
        self.max_batch = max_batch
        self.ack_after_handling = ack_after_handling
        self.delete_queue_on_close = delete_queue_on_close
        self.user = urllib.parse.unquote(urllib.parse.urlsplit(url).username or "guest")
        self.consumer_name = f"bridge:{trust.queue}"
        self.statistics = BridgeStatistics()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._dead: AbstractExchange | None = None
        self._publisher: Publisher | None = None
        self._queue: AbstractQueue | None = None
        self._consumer: Consumer | None = None
        self._queues: list[tuple[AbstractQueue, str]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._down_since: float | None = None  # monotonic; while the connection is lost

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """``connect`` then ``start_consuming``."""
        await self.connect()
        await self.start_consuming()

    async def connect(self) -> None:
        """Connect and declare (orchestrator) or find (agent) the topology; sends work from
        here on. Raises ``BrokerUnavailable`` when the broker cannot be reached, refuses the
        login, or (for an agent) has no queue for it."""
        import aio_pika

        safe = without_password(self.url)
        try:
            self._connection = await aio_pika.connect_robust(
                self.url,
                ssl_context=self.ssl_context,
                client_properties={"connection_name": self.trust.identity},
                reconnect_interval=1.0,
            )
        except Exception as exc:
            raise BrokerUnavailable(safe, exc) from None
        self._connection.close_callbacks.add(self._on_connection_lost)
        self._connection.reconnect_callbacks.add(self._on_reconnected)
        try:
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._channel = channel
            await channel.set_qos(prefetch_count=self.prefetch)
            if self.orchestrator:
                exchange, self._dead = await declare_exchanges(channel, self.topology)
                self._queue = await declare_orchestrator_queue(
                    channel, self.topology, self.trust.route.removeprefix("orchestrator.")
                )
            else:
                exchange = await channel.get_exchange(self.topology.exchange, ensure=True)
                self._dead = await channel.get_exchange(
                    self.topology.dead_letter_exchange, ensure=True
                )
                self._queue = await channel.get_queue(self.trust.queue, ensure=True)
        except Exception as exc:
            self._closing = True
            await self._connection.close()
            hint = "" if self.orchestrator else " (was the agent added with `chiffon agent add`?)"
            raise BrokerUnavailable(safe, Exception(f"{exc}{hint}")) from None
        self._publisher = Publisher(
            channel, exchange, self.trust, self.user, max_batch=self.max_batch
        )
        log.info("bridge connected", identity=self.trust.identity, queue=self.trust.queue)

    async def start_consuming(self) -> None:
        """Deliver what arrives on this process's queue (and record dead letters): call it
        once the actors it delivers to are spawned."""
        if self._channel is None or self._queue is None:
            raise RuntimeError("connect() the bridge before consuming")
        self._consumer = Consumer(self._channel, self._queue.name, self._on_message)
        await self._consumer.start()
        if self.orchestrator and self.record_dead_letter is not None:
            audit = await self._channel.get_queue(
                self.topology.dead_letter_audit_queue, ensure=True
            )
            self._queues.append((audit, await audit.consume(self._on_dead_letter)))

    async def stop_consuming(self) -> None:
        """Take no more messages (what is unacknowledged goes back to the queue); sends
        still work. Called before the actors stop."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        for queue, consumer_tag in self._queues:
            with contextlib.suppress(Exception):
                await queue.cancel(consumer_tag)
        self._queues.clear()

    async def aclose(self) -> None:
        """Stop consuming, finish publishing what is queued, fail pending asks, disconnect."""
        self._closing = True
        await self.stop_consuming()
        if self._publisher is not None:
            await self._publisher.aclose()
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RemoteError("bridge_closed", "the bridge closed"))
        self._pending.clear()
        if self.delete_queue_on_close and self._queue is not None and self.connected:
            try:
                await asyncio.wait_for(self._queue.delete(if_unused=False, if_empty=False), 5)
            except Exception as exc:  # it expires by itself a day after its last consumer
                log.info("queue not deleted", queue=self._queue.name, error=str(exc))
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    def _on_connection_lost(self, _: object, exc: BaseException | None = None) -> None:
        # The robust connection reconnects by itself; these two lines are what an operator
        # (and the broker-fault tests) read an outage and its end from.
        if self._closing or self._down_since is not None:
            return
        self._down_since = time.monotonic()
        log.warning("bridge connection lost", identity=self.trust.identity,
                    error=None if exc is None else str(exc) or type(exc).__name__)  # fmt: skip

    def _on_reconnected(self, _: object) -> None:
        """Called once the robust connection has restored its channel, queues and consumers."""
        down = None if self._down_since is None else round(time.monotonic() - self._down_since, 3)
        self._down_since = None
        log.info("bridge reconnected", identity=self.trust.identity, queue=self.trust.queue,
                 down_s=down)  # fmt: skip

    @property
    def confirmed(self) -> tuple[int, int]:
        """(messages, envelopes) the broker confirmed since the bridge connected."""
        publisher = self._publisher
        if publisher is None:
            return 0, 0
        return publisher.published_messages, publisher.published_envelopes

    @property
    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    # -- refs and sending ------------------------------------------------------------------

    def ref(self, route: str, name: str) -> RemoteRef:
        """A ref to actor ``name`` in the process whose queue is bound to ``route``."""
        return RemoteRef(self, route, name)

    def every_agent(self, name: str) -> AgentsRef:
        """Actor ``name`` in every agent this orchestrator has credentials for (re-read at
        each tell). Raises ``TypeError`` on an agent's bridge."""
        keyring = getattr(self.trust, "keyring", None)
        if keyring is None:
            raise TypeError("only an orchestrator's bridge knows every agent")

        def names() -> list[str]:
            keyring.reload()
            return list(keyring.names())

        return AgentsRef(self, names, name)

    def _wire(self, envelope: Envelope, *, ask: bool = False) -> WireEnvelope:
        body = envelope.body
        if not isinstance(body, WireModel):
            raise UnencodableBody(envelope.kind, "only protocol models cross the wire")
        sender = envelope.sender
        return WireEnvelope(
            id=uuid.UUID(int=envelope.id),
            kind=envelope.kind,
            body=body,
            sender=self.trust.identity,
            sent_at=time.time_ns() // 1_000_000,
            to=envelope.recipient.name,
            from_actor=sender.name if isinstance(sender, LocalRef) else None,
            reply_to=self.trust.route,
            correlation_id=_uuid(envelope.correlation_id),
            causation_id=_uuid(envelope.causation_id),
            ask=ask,
        )

    def _journal(self, envelope: Envelope) -> Durability:
        durability = self.system.durability_of(type(envelope.body))
        journal = self.system.journal
        if journal is not None and durability is Durability.ASYNC:
            journal.append_nowait(envelope)
        return durability

    async def send(self, envelope: Envelope) -> None:
        """Journal (by the kind's durability) and publish; returns after the confirm."""
        wire = self._wire(envelope)
        journal = self.system.journal
        if (
            journal is not None
            and self.system.durability_of(type(envelope.body)) is Durability.SYNC
        ):
            await journal.append(envelope)
        else:
            self._journal(envelope)
        await self._require_publisher().publish(envelope.recipient.route, wire)

    def send_nowait(self, envelope: Envelope) -> None:
        """Queue for publishing without waiting. Raises ``SyncSendNeedsAwait``, ``MailboxFull``."""
        wire = self._wire(envelope)
        if self.system.durability_of(type(envelope.body)) is Durability.SYNC and (
            self.system.journal is not None
        ):
            raise SyncSendNeedsAwait(envelope.kind)
        route = envelope.recipient.route
        if not self._require_publisher().publish_nowait(route, wire):
            raise MailboxFull(envelope.recipient.address, self._require_publisher().backlog)
        self._journal(envelope)

    async def request(self, envelope: Envelope, timeout: float) -> Any:
        """Publish an ask and wait for its answer. Raises ``AskTimeout``, ``RemoteError``."""
        wire = self._wire(envelope, ask=True)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[envelope.id] = future
        try:
            journal = self.system.journal
            if journal is not None and (
                self.system.durability_of(type(envelope.body)) is Durability.SYNC
            ):
                await journal.append(envelope)
            async with asyncio.timeout(timeout):
                await self._require_publisher().publish(envelope.recipient.route, wire)
                return await future
        except TimeoutError:
            raise AskTimeout(envelope.recipient.address, envelope.kind, timeout) from None
        finally:
            self._pending.pop(envelope.id, None)

    def _require_publisher(self) -> Publisher:
        if self._publisher is None:
            raise RuntimeError("the bridge is not started")
        return self._publisher

    # -- receiving -------------------------------------------------------------------------

    async def _on_message(self, message: Delivery) -> None:
        self.statistics.received += 1
        try:
            envelopes = inbound.check(
                message.body, message.user_id, message.headers, trust=self.trust,
                has_actor=self._has_actor, now_ms=time.time_ns() // 1_000_000,
                window=self.window,
            )  # fmt: skip
            fresh = await self._fresh(message, envelopes)
            for envelope in fresh:
                await self._deliver(envelope)
            if fresh:
                await self.inbox.mark_processed_many(self.consumer_name, [e.id.int for e in fresh])
        except Refused as refused:
            if not await self._refuse(message, refused):
                return
        except (JournalError, OSError, ActorStopped) as exc:
            # The database (or disk) is away: not the message's fault. It comes back later.
            log.warning("delivery failed; message requeued", error=str(exc))
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        with contextlib.suppress(Exception):
            await message.ack()

    def _has_actor(self, name: str) -> bool:
        try:
            self.system.lookup(name)
        except ActorNotFound:
            return False
        return True

    async def _fresh(self, message: Delivery, envelopes: list[WireEnvelope]) -> list[WireEnvelope]:
        seen = await self.inbox.processed_among(self.consumer_name, [e.id.int for e in envelopes])
        if not seen:
            return envelopes
        # A broker redelivery, or the publisher's own retry after a reconnection (its confirm
        # was lost, the first copy had arrived): a duplicate, dropped quietly. The same bytes
        # again otherwise were published again by someone else: a replay.
        retried = (message.headers or {}).get("x-chiffon-retry") is not None
        if not (message.redelivered or retried):
            first = next(e for e in envelopes if e.id.int in seen)
            raise Refused("replayed", f"envelope {first.id} was already processed")
        self.statistics.duplicates += len(seen)
        return [e for e in envelopes if e.id.int not in seen]

    async def _deliver(self, envelope: WireEnvelope) -> None:
        if envelope.in_reply_to is not None:
            future = self._pending.get(envelope.in_reply_to.int)
            if future is None or future.done():
                log.info("late answer dropped", kind=envelope.kind, to=str(envelope.in_reply_to))
                return
            body = envelope.body
            if isinstance(body, ErrorBody):
                future.set_exception(
                    RemoteError(body.code, body.sentence, retryable=body.retryable)
                )
            else:
                future.set_result(body)
            self.statistics.delivered += 1
            return
        try:
            target = self.system.lookup(envelope.to)
        except ActorNotFound:
            # Checked before any envelope was delivered; it stopped since.
            raise Refused("no_recipient", f"no actor named {envelope.to!r} here") from None
        sender = (
            RemoteRef(self, envelope.reply_to, envelope.from_actor)
            if envelope.reply_to and envelope.from_actor
            else None
        )
        if not envelope.ask:
            if envelope.kind in self.ack_after_handling:
                # Acknowledged once the handler has returned (an agent's execute handler
                # records the attempt in its ledger before returning), not when queued.
                try:
                    await target.ask(envelope.body, timeout=self.answer_timeout_s, sender=sender)
                except ActorStopped:
                    raise
                except Exception as exc:
                    log.warning("handler failed", kind=envelope.kind, error=str(exc))
            else:
                await target.tell(envelope.body, sender=sender)
            self.statistics.delivered += 1
            return
        task = asyncio.get_running_loop().create_task(self._answer(target, envelope, sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.statistics.delivered += 1

    async def _answer(
        self, target: LocalRef, envelope: WireEnvelope, sender: RemoteRef | None
    ) -> None:
        """Ask the local actor and publish its answer (or its failure) to the asker."""
        answer: WireModel
        try:
            result = await target.ask(envelope.body, timeout=self.answer_timeout_s, sender=sender)
            if isinstance(result, WireModel):
                answer = result
            else:
                answer = ErrorBody(
                    code="unencodable_answer",
                    sentence=f"{envelope.kind} was answered with {type(result).__name__}, "
                    "not a protocol model",
                    message_id=str(envelope.id),
                )
        except Exception as exc:
            answer = ErrorBody(
                code=getattr(exc, "code", None) or type(exc).__name__,
                sentence=(str(exc) or type(exc).__name__)[:2000],
                message_id=str(envelope.id),
                retryable=bool(getattr(exc, "retryable", False)),
            )
        if not envelope.reply_to:
            return
        reply = WireEnvelope(
            id=uuid.UUID(int=new_id()),
            kind=answer.kind,
            body=answer,
            sender=self.trust.identity,
            sent_at=time.time_ns() // 1_000_000,
            to=envelope.from_actor or "asker",
            reply_to=self.trust.route,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.id,
            in_reply_to=envelope.id,
        )
        try:
            await self._require_publisher().publish(envelope.reply_to, reply)
            self.statistics.answered += 1
        except Exception as exc:
            log.warning("answer not published", kind=envelope.kind, error=str(exc))

    async def _refuse(self, message: Delivery, refused: Refused) -> bool:
        """Publish ``message`` to the dead-letter exchange with the reason; ``False`` (and
        the message requeued) when that publish failed."""
        from aio_pika import DeliveryMode, Message

        self.statistics.dead_lettered += 1
        kind, sender = peek(message.body)
        log.warning(
            "message dead-lettered", code=refused.code, reason=refused.sentence, kind=kind,
            sender=sender, user_id=message.user_id, queue=self.trust.queue,
        )  # fmt: skip
        headers = dict(message.headers or {})
        headers.update(
            {
                "x-chiffon-dead-code": refused.code,
                "x-chiffon-dead-reason": refused.sentence[:2000],
                "x-chiffon-dead-queue": self.trust.queue,
                "x-chiffon-dead-user": message.user_id or "",
                "x-chiffon-dead-message-id": message.message_id or "",
                "x-chiffon-dead-routing-key": message.routing_key or "",
            }
        )
        dead = Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            user_id=self.user,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        assert self._dead is not None
        try:
            await self._dead.publish(dead, routing_key="", mandatory=False)
        except Exception as exc:
            # Not acknowledged: the broker keeps the message and hands it over again.
            log.warning("dead letter not published; message requeued", error=str(exc))
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return False
        return True

    async def _on_dead_letter(self, message: AbstractIncomingMessage) -> None:
        assert self.record_dead_letter is not None
        headers = dict(message.headers or {})
        # Who refused it, as the broker vouches (an agent's login may publish dead letters:
        # it refuses messages too, and could make up refusals): kept apart from the
        # orchestrator's own, and ``unverified`` without a user_id the broker checked.
        headers[REPORTED_BY] = message.user_id or ""
        user = message.user_id or ""
        agent = self.trust.agent_of_login(user) if user else None
        reported_by = reporter(user, self.user, agent)
        record = from_headers(message.body, headers, message.routing_key, reported_by)
        try:
            await self.record_dead_letter(record)
        except Exception as exc:
            log.warning("dead letter not recorded; requeued", error=str(exc))
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        with contextlib.suppress(Exception):
            await message.ack()


def _uuid(value: int | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(int=value)


def without_password(url: str) -> str:
    """``url`` with its password shown as ``***`` (for messages and logs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
