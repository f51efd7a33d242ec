"""encode_body: the compiled per-class encoders write exactly what json.dumps writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import uuid
from typing import Any

import pytest

from chiffon.actors.errors import UnencodableBody
from chiffon.actors.journal import _json_default, encode_body

REFERENCE = json.JSONEncoder(
    default=_json_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)


class Color(enum.Enum):
    RED = "red"


class Name(str):
    pass


class Count(int):
    pass


@dataclasses.dataclass
class Empty:
    pass


@dataclasses.dataclass
class Inner:
    a: float
    b: list[Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Everything:
    text: str
    number: int
    yes: bool
    no: bool
    nothing: None
    ratio: float
    inner: Inner
    color: Color
    ident: uuid.UUID
    at: dt.datetime
    tags: frozenset[int]
    pair: tuple[int, int]
    name: Name
    big: int
    mapping: dict[str, Any]
    empty: Empty


@dataclasses.dataclass
class AlsoADict(dict[str, Any]):
    x: int = 1


@dataclasses.dataclass
class Loop:
    me: Any = None


EVERYTHING = Everything(
    'h\u00e9"\n\\ \x01',
    3,
    True,
    False,
    None,
    1.5,
    Inner(2.0, [1, "x", None]),
    Color.RED,
    uuid.UUID(int=12345),
    dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC),
    frozenset({1}),
    (1, 2),
    Name("sub"),
    10**30,
    {"k": Count(5), "l": [Empty()]},
    Empty(),
)


@pytest.mark.parametrize(
    "body",
    [
        EVERYTHING,
        Empty(),
        Inner(1.0, [EVERYTHING]),
        AlsoADict(),
        {"a": 1, "b": [EVERYTHING]},
        [1, "two"],
        "text",
        7,
        None,
        1.25,
    ],
    ids=[
        "dataclass",
        "empty",
        "nested",
        "dict-dataclass",
        "dict",
        "list",
        "str",
        "int",
        "none",
        "float",
    ],
)
def test_the_text_is_what_json_dumps_writes(body: Any) -> None:
    text = encode_body("k", body)
    assert text == REFERENCE.encode(body)
    assert isinstance(json.loads(text), type(json.loads(REFERENCE.encode(body))))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (Inner(math.nan, []), "Out of range float"),
        (Inner(1.0, [object()]), "object is not JSON-serialisable"),
        ({"x": object()}, "object is not JSON-serialisable"),
    ],
)
def test_a_value_json_refuses_fails_naming_the_kind(body: Any, reason: str) -> None:
    with pytest.raises(UnencodableBody, match=rf"body of bad\.kind cannot be journaled: {reason}"):
        encode_body("bad.kind", body)


def test_a_circular_body_fails_instead_of_recursing_forever() -> None:
    loop = Loop()
    loop.me = loop
    items: list[Any] = []
    items.append(items)
    for body in (loop, items):
        with pytest.raises(UnencodableBody, match="circular reference"):
            encode_body("cycle", body)
