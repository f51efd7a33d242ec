"""Line edits of a file and the unified diff they make: how mechanical fixes are written.

Rules edit lines, never re-dump YAML, so that a fix touches only what it must and keeps the
file's comments, quoting and layout.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

_KEY_COLUMN = re.compile(r"^(\s*(?:-\s+)*)")


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace lines ``start``..``end`` (1-based, inclusive; ``end = start - 1`` inserts
    before ``start``) with ``lines`` (each ending with a newline)."""

    start: int
    end: int
    lines: tuple[str, ...]


def insert_after(line: int, lines: Sequence[str]) -> Edit:
    return Edit(line + 1, line, tuple(lines))


def replace(line: int, text: str) -> Edit:
    return Edit(line, line, (text,))


def remove(start: int, end: int) -> Edit:
    return Edit(start, end, ())


def apply(lines: Sequence[str], edits: Sequence[Edit]) -> list[str]:
    """``lines`` with ``edits`` made, bottom-up so line numbers stay those of the original.
    Raises ``ValueError`` when two edits overlap."""
    result = list(lines)
    if result and not result[-1].endswith("\n"):
        result[-1] += "\n"
    last_start = len(result) + 2
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        if edit.end >= last_start:
            raise ValueError(f"edits overlap at line {edit.start}")
        result[edit.start - 1 : edit.end] = list(edit.lines)
        last_start = edit.start
    return result


def unified_diff(path: str, before: Sequence[str], after: Sequence[str]) -> str | None:
    """The unified diff of one file (``a/PATH`` → ``b/PATH``, as git writes it), or ``None``
    when nothing changed."""
    before = list(before)
    if before and not before[-1].endswith("\n"):
        before[-1] += "\n"
    text = "".join(
        difflib.unified_diff(before, list(after), fromfile=f"a/{path}", tofile=f"b/{path}")
    )
    return text or None


def diff_of(path: str, lines: Sequence[str], edits: Sequence[Edit]) -> str | None:
    """The diff that ``edits`` make to the file ``path`` holding ``lines``."""
    return unified_diff(path, lines, apply(lines, edits))


def key_column(line: str) -> int:
    """The column where a line's first key starts: after its indentation and any ``- ``."""
    match = _KEY_COLUMN.match(line)
    return len(match.group(1)) if match else 0


def dash_column(line: str) -> int:
    """The column of a list item's ``-``."""
    return len(line) - len(line.lstrip(" "))


def last_content_line(lines: Sequence[str], start: int, end: int) -> int:
    """The last line in ``start``..``end`` that is neither blank nor only a comment."""
    for number in range(end, start - 1, -1):
        text = lines[number - 1].strip()
        if text and not text.startswith("#"):
            return number
    return start
