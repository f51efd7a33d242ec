"""YAML with line marks: what Chiffon's rules read playbooks, task files and catalogs with.

PyYAML's safe loader, with mappings and sequences built as ``Node``/``Items`` (a dict and a
list that remember where each key and item starts and ends in the file), ``!vault`` values
kept as ``Vaulted`` strings and any other local tag (``!unsafe``) read as its plain value.
Lines are 1-based, as editors and ansible-lint show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chiffon.playbooks.errors import UnreadableFile

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Vaulted(str):
    """A value encrypted with ansible-vault (``!vault |``): never a secret in plain text."""

    __slots__ = ()


class Node(dict[Any, Any]):
    """A YAML mapping that remembers its lines: ``line`` (its first), ``end`` (its last),
    ``key_line[key]`` (where a key is written) and ``span[key]`` (first and last line of
    its value)."""

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.end = 0
        self.key_line: dict[Any, int] = {}
        self.span: dict[Any, tuple[int, int]] = {}


class Items(list[Any]):
    """A YAML sequence that remembers its lines: ``line``, ``end`` and ``span[i]`` (first and
    last line of item ``i``)."""

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.end = 0
        self.span: list[tuple[int, int]] = []


def _end(node: yaml.Node) -> int:
    # A block collection's end mark sits on the next token (after blank and comment lines):
    # its last line is its last value's.
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _end(node.value[-1])
    mark = node.end_mark
    # A block scalar ends at the start of the line after it.
    return (
        int(mark.line) if mark.column == 0 and mark.line > node.start_mark.line else mark.line + 1
    )


class _Loader(_BASE):  # type: ignore[misc]
    pass


def _mapping(loader: Any, node: yaml.MappingNode) -> Any:
    data = Node()
    data.line, data.end = node.start_mark.line + 1, _end(node)
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            key = str(key)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_line[key] = key_node.start_mark.line + 1
        data.span[key] = (value_node.start_mark.line + 1, _end(value_node))


def _sequence(loader: Any, node: yaml.SequenceNode) -> Any:
    data = Items()
    data.line, data.end = node.start_mark.line + 1, _end(node)
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.span.append((item.start_mark.line + 1, _end(item)))


def _vault(loader: Any, node: yaml.Node) -> Vaulted:
    return Vaulted(loader.construct_scalar(node))


def _other_tag(loader: Any, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return _collect(_sequence(loader, node))
    return _collect(_mapping(loader, node))  # type: ignore[arg-type]


def _collect(generator: Any) -> Any:
    data = next(generator)
    for _ in generator:
        pass
    return data


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)
_Loader.add_constructor("!vault", _vault)
_Loader.add_multi_constructor("!", _other_tag)


@dataclass(frozen=True, slots=True)
class Document:
    """A YAML file as read: its path relative to the catalog root, its lines, its data."""

    path: str
    lines: tuple[str, ...]
    data: Any

    @property
    def text(self) -> str:
        return "".join(self.lines)


def load_document(root: Path, relative: str) -> Document:
    """Read ``root/relative`` with line marks. Raises ``UnreadableFile`` naming the file when
    it cannot be read or is not YAML."""
    path = root / relative
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableFile(relative, str(exc)) from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise UnreadableFile(relative, f"not valid YAML: {exc}") from None
    return Document(path=relative, lines=tuple(text.splitlines(keepends=True)), data=data)
