"""Publishing: mandatory, confirmed, signed, and batched per routing key.

One publish is in flight per routing key at a time. A send to a key with nothing in flight
publishes its envelope itself, in its own task (a lone send costs what a raw publish costs,
with no hand-off to another task and back). Sends that arrive while a publish awaits its
confirm queue up; the route's flusher task then takes everything queued (up to
``max_batch``), publishes it as one AMQP message, and settles every waiting send with the
broker's confirm (or its refusal). So under load many envelopes share a message — the
aio-pika client's per-message cost, not the broker, bounds throughput.

A connection lost mid-publish is not an answer: the publishing task waits for the robust
channel to come back and publishes the same bytes again (the receiver drops what it already
has by envelope id). An unroutable message is an error (``Unroutable``), never a silent drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections import deque
from typing import TYPE_CHECKING, Any

import structlog

from chiffon.bridge.errors import Unroutable
from chiffon.protocol.signing import sign
from chiffon.protocol.wire import WireEnvelope, encode_packet

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractExchange

    from chiffon.bridge.trust import Trust

log = structlog.get_logger("chiffon.bridge")

RETRY_DELAY_S = 0.5


class _Route:
    __slots__ = ("inline", "pending", "task")

    def __init__(self) -> None:
        self.pending: deque[tuple[WireEnvelope, asyncio.Future[None] | None]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.inline: asyncio.Future[None] | None = None
        """Set while a sender publishes its own envelope: what queues meanwhile waits for it."""

    @property
    def idle(self) -> bool:
        return self.task is None and self.inline is None and not self.pending

    def busy(self) -> list[asyncio.Future[None]]:
        """What is publishing for this route now."""
        return [f for f in (self.task, self.inline) if f is not None and not f.done()]


class Publisher:
    """Publishes wire envelopes for one bridge. Owns its flusher tasks; ``aclose`` ends them."""

    def __init__(
        self,
        channel: AbstractChannel,
        exchange: AbstractExchange,
        trust: Trust,
        user_id: str,
        *,
        max_batch: int = 256,
        backlog: int = 10_000,
    ) -> None:
        self.channel = channel
        self.exchange = exchange
        self.trust = trust
        self.user_id = user_id
        self.max_batch = max_batch
        self.backlog = backlog
        self._routes: dict[str, _Route] = {}
        self._closed = False
        self.published_messages = 0
        self.published_envelopes = 0

    async def publish(self, route: str, envelope: WireEnvelope) -> None:
        """Publish ``envelope`` to ``route``; returns once the broker confirmed it.

        Raises ``Unroutable``, ``UnknownAgent`` (no key for the route), ``DeliveryError``
        (the broker nacked it), ``RuntimeError`` after ``aclose``.
        """
        slot = self._routes.get(route)
        if slot is None:
            slot = self._routes[route] = _Route()
        if not slot.idle or self._closed:
            future = asyncio.get_running_loop().create_future()
            self._enqueue(route, envelope, future)
            await future
            return
        slot.inline = inline = asyncio.get_running_loop().create_future()
        try:
            await self._publish_batch(route, [envelope])
        finally:
            slot.inline = None
            inline.set_result(None)
            if slot.pending and slot.task is None and not self._closed:
                slot.task = asyncio.get_running_loop().create_task(self._flush(route, slot))

    def publish_nowait(self, route: str, envelope: WireEnvelope) -> bool:
        """Queue ``envelope`` without waiting for its confirm (heartbeats, output lines);
        a failure is logged. ``False`` when the route's backlog is full."""
        slot = self._routes.get(route)
        if slot is not None and len(slot.pending) >= self.backlog:
            return False
        self._enqueue(route, envelope, None)
        return True

    def _enqueue(
        self, route: str, envelope: WireEnvelope, future: asyncio.Future[None] | None
    ) -> None:
        if self._closed:
            raise RuntimeError("the bridge's publisher is closed")
        slot = self._routes.get(route)
        if slot is None:
            slot = self._routes[route] = _Route()
        slot.pending.append((envelope, future))
        if slot.task is None and slot.inline is None:
            slot.task = asyncio.get_running_loop().create_task(self._flush(route, slot))

    async def _flush(self, route: str, slot: _Route) -> None:
        try:
            while slot.pending:
                batch = [
                    slot.pending.popleft() for _ in range(min(self.max_batch, len(slot.pending)))
                ]
                error: BaseException | None = None
                try:
                    await self._publish_batch(route, [envelope for envelope, _ in batch])
                except Exception as exc:
                    error = exc
                for envelope, future in batch:
                    if future is None:
                        if error is not None:
                            log.warning(
                                "message not published", kind=envelope.kind, route=route,
                                error=str(error),
                            )  # fmt: skip
                    elif not future.done():
                        if error is None:
                            future.set_result(None)
                        else:
                            future.set_exception(error)
                # The senders just released send again at once: let them queue behind this
                # flusher (one batch) rather than find the route idle and split in two groups.
                await asyncio.sleep(0)
        finally:
            slot.task = None
            if slot.pending and not self._closed:
                slot.task = asyncio.get_running_loop().create_task(self._flush(route, slot))

    async def _publish_batch(self, route: str, envelopes: list[WireEnvelope]) -> None:
        from aio_pika.exceptions import PublishError
        from pamqp.commands import Basic

        body = encode_packet(envelopes)
        key_id, key = self.trust.outgoing_key(route)
        headers: dict[str, Any] = {"x-chiffon-key": key_id, "x-chiffon-sig": sign(key, body)}
        # The properties go to aiormq (aio-pika's own protocol layer) as pamqp builds them:
        # aio-pika's Message would copy each field through a locked __setattr__ and build
        # this same object again at publish, a measurable share of a remote ask's round trip.
        properties = Basic.Properties(
            content_type="application/json",
            message_type="chiffon",
            message_id=str(envelopes[0].id),
            user_id=self.user_id,
            app_id=self.trust.identity,
            delivery_mode=2,  # persistent
            timestamp=datetime.datetime.now(datetime.UTC),
            headers=headers,
        )
        while True:
            try:
                # A robust channel hands out its current aiormq channel once connected (and
                # waits while it reconnects), as aio-pika's Exchange.publish does.
                channel = await self.channel.get_underlay_channel()
                await channel.basic_publish(
                    body, exchange=self.exchange.name, routing_key=route,
                    properties=properties, mandatory=True,
                )  # fmt: skip
            except PublishError:
                raise Unroutable(route) from None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closed or not _is_connection_loss(exc):
                    raise
                log.info("publish interrupted; retrying on the restored channel", error=str(exc))
                # The first copy may have arrived (only its confirm was lost): the receiver
                # drops a retried envelope it has processed quietly, as a duplicate.
                retries = headers.get("x-chiffon-retry")
                headers["x-chiffon-retry"] = retries + 1 if isinstance(retries, int) else 1
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.channel.ready(), timeout=30)  # type: ignore[attr-defined]
                await asyncio.sleep(RETRY_DELAY_S)
            else:
                self.published_messages += 1
                self.published_envelopes += len(envelopes)
                return

    async def aclose(self) -> None:
        """Stop publishing: waits briefly for queued envelopes, then cancels the flushers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        # An inline publish that ends hands what queued behind it to a new flusher: wait again.
        while (busy := [f for slot in self._routes.values() for f in slot.busy()]) and (
            left := deadline - loop.time()
        ) > 0:
            await asyncio.wait(busy, timeout=left)
        self._closed = True
        for slot in self._routes.values():
            if slot.task is not None:
                slot.task.cancel()
            while slot.pending:
                _, future = slot.pending.popleft()
                if future is not None and not future.done():
                    future.set_exception(RuntimeError("the bridge closed before publishing"))


def _is_connection_loss(exc: BaseException) -> bool:
    from aio_pika.exceptions import AMQPConnectionError, ChannelInvalidStateError
    from aiormq.exceptions import AMQPError, ChannelClosed, ConnectionClosed

    return isinstance(
        exc,
        (
            AMQPConnectionError, ChannelInvalidStateError, ConnectionClosed, ChannelClosed,
            ConnectionError, AMQPError,
        ),
    ) and not isinstance(exc, _nack_types())  # fmt: skip


def _nack_types() -> tuple[type[BaseException], ...]:
    from aio_pika.exceptions import DeliveryError

    return (DeliveryError,)
