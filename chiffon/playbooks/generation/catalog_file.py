"""A new entry appended to ``catalog.yml`` as text, so the file keeps its comments, order and
style: the entry is written in the catalog's own style (flow lists and one line per variable)
right after the last entry, at the entries' indentation.

YAML is parsed only to find where the ``entries`` list ends (PyYAML's node marks); the file
is never re-dumped. The caller loads the catalog again to check the result.
"""

from __future__ import annotations

from typing import Any

import yaml

from chiffon.catalog import CatalogEntry
from chiffon.playbooks.generation.errors import CatalogNotAppendable


def appended(text: str, entry: CatalogEntry, *, path: str = "catalog.yml") -> str:
    """``text`` (a ``catalog.yml``) with ``entry`` added at the end of its entries.

    Raises ``CatalogNotAppendable`` when the text is not YAML, has no ``entries`` key, or its
    entries are not a non-empty block-style list.
    """
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise CatalogNotAppendable(path, f"it is not valid YAML: {exc}") from None
    if not isinstance(document, yaml.MappingNode):
        raise CatalogNotAppendable(path, "it is not a mapping")
    entries = next(
        (value for key, value in document.value if getattr(key, "value", None) == "entries"),
        None,
    )
    if not isinstance(entries, yaml.SequenceNode) or entries.flow_style or not entries.value:
        raise CatalogNotAppendable(
            path, "its `entries` must be a block-style list (`- id: …` items) with one entry"
        )
    last = entries.value[-1]
    item_column = last.start_mark.column
    line = text.splitlines()[last.start_mark.line]
    before = line[:item_column].rstrip()
    if not before.endswith("-"):
        raise CatalogNotAppendable(path, "its last entry does not start with `- `")
    dash_column = len(before) - 1
    end = _end(last)
    if end > 0 and text[end - 1] == "\n":
        cut = end
    else:
        newline = text.find("\n", end)
        cut = len(text) if newline == -1 else newline + 1
    head = text[:cut] if text[:cut].endswith("\n") else text[:cut] + "\n"
    block = entry_text(entry, dash_column, item_column - dash_column)
    return head + "\n" + block + text[cut:]


def entry_text(entry: CatalogEntry, indent: int = 2, step: int = 2) -> str:
    """One entry in the catalog's style: ``indent`` spaces before its dash, its keys
    ``step`` columns further in."""
    pad = " " * (indent + step)
    lines = [f"{' ' * indent}-{' ' * (step - 1)}id: {_flow(entry.id)}"]
    lines.append(f"{pad}playbook: {_flow(entry.playbook)}")
    lines.append(f"{pad}description: {_flow(entry.description)}")
    for key in ("tags", "services", "synonyms"):
        values = list(getattr(entry, key))
        if values:
            lines.append(f"{pad}{key}: {_flow(values)}")
    lines.append(f"{pad}hosts: {_flow(entry.hosts)}")
    for key in ("after", "needs"):
        values = list(getattr(entry, key))
        if values:
            lines.append(f"{pad}{key}: {_flow(values)}")
    if entry.variables:
        lines.append(f"{pad}variables:")
        for name, variable in entry.variables.items():
            declared = variable.model_dump(mode="json", exclude_defaults=True)
            # The type first, as the catalog writes it, even when it is the default str.
            shown: dict[str, Any] = {"type": variable.type, **declared}
            lines.append(f"{pad}  {name}: {_flow(shown)}")
    resources = entry.resources.model_dump(mode="json", exclude_defaults=True)
    if resources:
        lines.append(f"{pad}resources: {_flow(resources)}")
    lines.append(f"{pad}risk: {entry.risk}")
    return "\n".join(lines) + "\n"


def _end(node: yaml.Node) -> int:
    """Where the text of a node ends: for block collections, where their last value ends
    (their own end mark lies past any comments and blank lines that follow)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end(node.value[-1])
    return int(node.end_mark.index)


def _flow(value: Any) -> str:
    # A one-item flow list quotes whatever a flow context needs; without its brackets it is a
    # valid scalar or collection in block context too.
    dumped = yaml.safe_dump([value], default_flow_style=True, width=1_000_000, sort_keys=False)
    return dumped.strip()[1:-1]
