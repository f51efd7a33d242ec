"""Hello, actor: spawn a greeter, tell it something, ask it something.

    uv run python examples/hello_actor.py

An actor is a class whose methods marked ``@handler`` each take one kind of message. You
never call them: you send messages through the ref that ``spawn`` returns, and the actor
handles them one at a time, so its state needs no lock.
"""

from __future__ import annotations

import dataclasses

import anyio

from chiffon.actors import Actor, ActorSystem, handler


@dataclasses.dataclass
class Greet:
    name: str


@dataclasses.dataclass
class HowMany:
    pass


class Greeter(Actor):
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting
        self.greeted = 0

    @handler  # the annotation of `message` says which messages this method takes
    def greet(self, message: Greet) -> str:
        self.greeted += 1
        text = f"{self.greeting}, {message.name}!"
        print(f"greeter says: {text}")
        return text  # the return value is the answer to an `ask`

    @handler
    def how_many(self, message: HowMany) -> int:
        return self.greeted


async def main() -> None:
    # Leaving the block stops every actor, after it has handled what is in its mailbox.
    async with ActorSystem() as system:
        # spawn builds Greeter("Hello") and returns a ref: the only way to reach the actor.
        greeter = await system.spawn(Greeter, "Hello", name="greeter")

        # tell: send and go on; nothing comes back.
        await greeter.tell(Greet("Ada"))

        # ask: send and wait for the handler's return value (or its exception).
        answer = await greeter.ask(Greet("Grace"), timeout=1.0)
        print(f"asked, got back: {answer!r}")

        count = await greeter.ask(HowMany())
        print(f"{greeter.address} has greeted {count} people")
    print("the system has shut down")


if __name__ == "__main__":
    anyio.run(main)
