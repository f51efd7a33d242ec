"""The ``@handler`` decorator and the per-class dispatch table it feeds.

A handler is a method marked ``@handler`` whose first parameter's annotation names the message
class it takes (``@handler(Msg)`` names it explicitly, e.g. for classes defined inside a
function). Handlers may be ``async def`` or plain ``def``: a plain one skips a coroutine per
message, which is measurable on the hot path.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from chiffon.actors.errors import HandlerSpecError

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__chiffon_handles__"


@overload
def handler(target: type) -> Callable[[F], F]: ...


@overload
def handler(target: F) -> F: ...


def handler(target: Any) -> Any:
    """Mark a method as the handler of one message class.

    ``@handler`` reads the class from the annotation of the method's message parameter;
    ``@handler(Msg)`` names it. The method's return value answers an ``ask``.
    """
    if isinstance(target, type):
        message_class = target

        def mark(fn: F) -> F:
            setattr(fn, _MARK, message_class)
            return fn

        return mark
    setattr(target, _MARK, None)
    return target


class Dispatch:
    """A class's handlers by message class, resolved once and cached, subclasses included."""

    __slots__ = ("_by_class", "owner")

    def __init__(self, owner: type, table: dict[type, tuple[Callable[..., Any], bool]]) -> None:
        self.owner = owner
        self._by_class = table

    def lookup(self, message_class: type) -> tuple[Callable[..., Any], bool] | None:
        """The handler and whether it is a coroutine function, or ``None``."""
        found = self._by_class.get(message_class)
        if found is not None:
            return found
        for base in message_class.__mro__[1:]:
            found = self._by_class.get(base)
            if found is not None:
                self._by_class[message_class] = found
                return found
        return None

    @property
    def table(self) -> dict[type, tuple[Callable[..., Any], bool]]:
        return self._by_class


def _message_class(owner: type, name: str, fn: Callable[..., Any]) -> type:
    declared = getattr(fn, _MARK)
    if declared is not None:
        return typing.cast(type, declared)
    params = list(inspect.signature(fn).parameters.values())[1:]
    if not params:
        raise HandlerSpecError(f"{owner.__qualname__}.{name} takes no message parameter")
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:
        raise HandlerSpecError(
            f"cannot resolve the message class of {owner.__qualname__}.{name} ({exc}); "
            f"name it: @handler(MessageClass)"
        ) from None
    annotation = hints.get(params[0].name)
    if not isinstance(annotation, type):
        raise HandlerSpecError(
            f"{owner.__qualname__}.{name} needs a class annotation on {params[0].name!r} "
            f"or @handler(MessageClass)"
        )
    return annotation


def build_dispatch(owner: type) -> Dispatch:
    """Collect the ``@handler`` methods of ``owner`` and its bases (subclass wins)."""
    table: dict[type, tuple[Callable[..., Any], bool]] = {}
    for klass in reversed(owner.__mro__):
        for name, fn in vars(klass).items():
            if callable(fn) and hasattr(fn, _MARK):
                message_class = _message_class(klass, name, fn)
                if message_class in table and table[message_class][0].__qualname__.startswith(
                    klass.__qualname__ + "."
                ):
                    raise HandlerSpecError(
                        f"{klass.__qualname__} has two handlers for {message_class.__qualname__}"
                    )
                # A plain override in a subclass is what the instance calls, so dispatch calls
                # it too; a decorated one registers itself, for the class it names.
                impl = getattr(owner, name, fn)
                if not callable(impl) or hasattr(impl, _MARK):
                    impl = fn
                table[message_class] = (impl, inspect.iscoroutinefunction(impl))
    return Dispatch(owner, table)
