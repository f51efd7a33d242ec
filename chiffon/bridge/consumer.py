"""Consuming a queue through aiormq, under aio-pika's robust channel.

aio-pika's ``Queue.consume`` wraps every delivery in an ``IncomingMessage`` (each property
copied through a locked ``__setattr__``) and runs the callback in a second task of its own;
on a remote ask's round trip those two layers cost more than the bridge's whole signature
check. ``Consumer`` registers the callback with the aiormq channel underneath instead and
hands it a ``Delivery``, which reads the frame's fields where they are.

What aio-pika's robust queue would do for a consumer of its own, ``Consumer`` does itself:
the robust channel reopens after a channel error or a reconnection (restoring its QoS) and
calls its ``reopen_callbacks``; the consumer is registered again on the new channel, with
the same tag. A queue deleted under it (the broker cancels the consumer) is logged, and
consumed again at the next reopen.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel
    from aiormq.abc import AbstractChannel as AbstractChannelUnderlay
    from aiormq.abc import DeliveredMessage

log = structlog.get_logger("chiffon.bridge")


class Delivery:
    """One message from the broker, as the bridge reads it."""

    __slots__ = ("_message",)

    def __init__(self, message: DeliveredMessage) -> None:
        self._message = message

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def user_id(self) -> str | None:
        return self._message.header.properties.user_id

    @property
    def headers(self) -> dict[str, Any]:
        return self._message.header.properties.headers or {}

    @property
    def message_id(self) -> str | None:
        return self._message.header.properties.message_id

    @property
    def content_type(self) -> str | None:
        return self._message.header.properties.content_type

    @property
    def redelivered(self) -> bool:
        return bool(self._message.redelivered)

    @property
    def routing_key(self) -> str | None:
        return self._message.routing_key

    async def ack(self) -> None:
        """Acknowledge on the channel it came on (which fails once that channel is gone:
        the broker hands an unacknowledged message over again). The frame is queued for the
        connection's writer, not waited for: an ack has no answer, and one lost with its
        connection means a redelivery, which the inbox drops."""
        await self._message.channel.basic_ack(self._tag(), wait=False)

    async def nack(self, *, requeue: bool = True) -> None:
        await self._message.channel.basic_nack(self._tag(), requeue=requeue)

    def _tag(self) -> int:
        tag = self._message.delivery_tag
        assert tag is not None, "a consumed message has a delivery tag"
        return tag


class Consumer:
    """Delivers ``queue``'s messages to ``on_message`` until ``stop``; see the module
    docstring. ``channel`` is a robust aio-pika channel (its QoS is the prefetch)."""

    def __init__(
        self,
        channel: AbstractChannel,
        queue: str,
        on_message: Callable[[Delivery], Awaitable[None]],
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.on_message = on_message
        self.tag = f"chiffon.{uuid.uuid4().hex}"
        self._stopped = False
        self._on: AbstractChannelUnderlay | None = None
        """The aiormq channel the consumer is registered on."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Register with the broker; raises what the broker answers (e.g. no such queue)."""
        self.channel.reopen_callbacks.add(self._on_reopen)  # type: ignore[attr-defined]
        await self._consume()

    async def stop(self) -> None:
        """Cancel the consumer: what it holds unacknowledged goes back to the queue."""
        self._stopped = True
        self.channel.reopen_callbacks.discard(self._on_reopen)  # type: ignore[attr-defined]
        for task in list(self._tasks):
            task.cancel()
        # Only on the channel it is registered on, and not waiting for a reconnection: a
        # channel that closed took its consumers with it.
        on = self._on
        if on is None or on.is_closed:
            return
        try:
            await asyncio.wait_for(on.basic_cancel(self.tag), 5)
        except Exception as exc:
            log.debug("consumer not cancelled", queue=self.queue, error=str(exc))

    async def _consume(self) -> None:
        underlay = await self.channel.get_underlay_channel()
        if underlay is self._on:
            return
        underlay.on_consumer_cancel_callbacks.add(self._on_cancel)
        await underlay.basic_consume(self.queue, self._deliver, consumer_tag=self.tag)
        self._on = underlay

    async def _deliver(self, message: DeliveredMessage) -> None:
        await self.on_message(Delivery(message))

    def _on_reopen(self, *_: object) -> None:
        # Called inside aio-pika's restore, which holds its lock and may not have marked the
        # connection ready yet: the new registration waits in a task of its own.
        if self._stopped:
            return
        task = asyncio.get_running_loop().create_task(self._consume_again())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume_again(self) -> None:
        try:
            await self._consume()
        except Exception as exc:
            log.warning("queue not consumed again", queue=self.queue, error=str(exc))

    def _on_cancel(self, frame: Any) -> None:
        if getattr(frame, "consumer_tag", None) == self.tag and not self._stopped:
            log.warning("the broker cancelled the consumer (queue deleted?)", queue=self.queue)
