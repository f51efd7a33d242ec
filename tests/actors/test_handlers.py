"""Handlers: how a message finds its method, and what happens when none does."""

from __future__ import annotations

import dataclasses

import anyio
import pytest

from chiffon.actors import Actor, ActorSystem, HandlerSpecError, NoHandler, handler

from .support import WAIT_S


@dataclasses.dataclass
class Greet:
    name: str


@dataclasses.dataclass
class Add:
    amount: int


class Total:
    pass


class Animal:
    pass


class Dog(Animal):
    pass


class Puppy(Dog):
    pass


class Unknown:
    pass


class Greeter(Actor):
    @handler
    def greet(self, message: Greet) -> str:
        return f"hello, {message.name}"


class Counter(Actor):
    """A sync handler that changes state and an async one that reads it."""

    def __init__(self) -> None:
        self.total = 0

    @handler
    def add(self, message: Add) -> int:
        self.total += message.amount
        return self.total

    @handler
    async def report(self, message: Total) -> int:
        await anyio.lowlevel.checkpoint()
        return self.total


class Zoo(Actor):
    @handler
    def any_animal(self, message: Animal) -> str:
        return f"animal {type(message).__name__}"

    @handler
    def a_dog(self, message: Dog) -> str:
        return f"dog {type(message).__name__}"


async def test_a_handler_is_chosen_by_the_annotation_of_its_message_parameter() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            greeter = await system.spawn(Greeter)
            assert await greeter.ask(Greet("Ada")) == "hello, Ada"


async def test_handler_given_a_class_takes_that_class_whatever_the_annotation_says() -> None:
    class Ping:  # local: an annotation could not name it under postponed evaluation
        pass

    class Ponger(Actor):
        @handler(Ping)
        def ping(self, message: object) -> str:
            return "pong"

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ponger = await system.spawn(Ponger)
            assert await ponger.ask(Ping()) == "pong"


async def test_sync_and_async_handlers_both_answer_asks_in_the_order_sent() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            counter = await system.spawn(Counter)
            await counter.tell(Add(2))
            assert await counter.ask(Add(3)) == 5
            assert await counter.ask(Total()) == 5


async def test_a_subclass_message_reaches_the_handler_of_its_nearest_base_class() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            zoo = await system.spawn(Zoo)
            assert await zoo.ask(Animal()) == "animal Animal"
            assert await zoo.ask(Dog()) == "dog Dog"
            assert await zoo.ask(Puppy()) == "dog Puppy"


async def test_a_subclass_actor_overrides_the_handler_of_its_base_actor() -> None:
    class PoliteGreeter(Greeter):
        @handler
        def greet_politely(self, message: Greet) -> str:
            return f"good morning, {message.name}"

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            greeter = await system.spawn(PoliteGreeter)
            assert await greeter.ask(Greet("Ada")) == "good morning, Ada"


async def test_a_plain_override_in_a_subclass_actor_is_what_dispatch_calls() -> None:
    class ShyGreeter(Greeter):
        def greet(self, message: Greet) -> str:  # no @handler: it overrides Greeter.greet
            return f"hi, {message.name}"

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            greeter = await system.spawn(ShyGreeter)
            assert await greeter.ask(Greet("Ada")) == "hi, Ada"


async def test_a_message_with_no_handler_fails_the_ask_and_the_actor_keeps_its_state() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            counter = await system.spawn(Counter)
            await counter.tell(Add(7))
            with pytest.raises(
                NoHandler, match=r"actor chiffon://chiffon/\$1 has no handler for Unknown"
            ):
                await counter.ask(Unknown())
            assert await counter.ask(Total()) == 7  # resumed, not restarted
            assert counter.is_alive


async def test_the_exception_of_a_handler_is_raised_to_the_asker() -> None:
    class Fussy(Actor):
        @handler
        def greet(self, message: Greet) -> str:
            raise ValueError(f"{message.name} is not on the list")

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            fussy = await system.spawn(Fussy)
            with pytest.raises(ValueError, match="Bob is not on the list"):
                await fussy.ask(Greet("Bob"))


async def test_an_unresolvable_annotation_is_rejected_at_spawn_with_the_way_out() -> None:
    class Local:
        pass

    class Confused(Actor):
        @handler
        def on_local(self, message: Local) -> None:
            pass

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            with pytest.raises(
                HandlerSpecError,
                match=(
                    r"cannot resolve the message class of .*Confused\.on_local "
                    r"\(name 'Local' is not defined\); name it: @handler\(MessageClass\)"
                ),
            ):
                await system.spawn(Confused, name="confused")
            assert system.actors == []


async def test_a_handler_annotated_with_something_other_than_a_class_is_rejected() -> None:
    class Vague(Actor):
        @handler
        def either(self, message: Greet | Add) -> None:
            pass

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            with pytest.raises(
                HandlerSpecError,
                match=r"Vague\.either needs a class annotation on 'message' or @handler\(Message",
            ):
                await system.spawn(Vague)


async def test_a_handler_without_a_message_parameter_is_rejected() -> None:
    class Empty(Actor):
        @handler
        def nothing(self) -> None:
            pass

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            with pytest.raises(
                HandlerSpecError, match=r"Empty\.nothing takes no message parameter"
            ):
                await system.spawn(Empty)


async def test_two_handlers_for_one_class_in_one_actor_are_rejected() -> None:
    class Twice(Actor):
        @handler
        def first(self, message: Greet) -> None:
            pass

        @handler(Greet)
        def second(self, message: object) -> None:
            pass

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            with pytest.raises(HandlerSpecError, match=r"Twice has two handlers for Greet"):
                await system.spawn(Twice)
