"""Durations and sizes: the values of ``duration`` and ``size`` variables, with their units.

A duration is written the way Prometheus, Grafana and systemd read one: a number and a unit
(``ms``, ``s``, ``m``, ``h``, ``d``, ``w``, ``y``), or several of them ("1h30m"). A size is a
number and a byte unit (``B``, ``KB``, ``MB``, ``GB``, ``TB``, ``PB``). People write "30
minutes", "2 weeks", "5 GB"; a plan carries "30m", "2w", "5GB". A bare number is refused:
"1800" does not say whether it is seconds or minutes, and a playbook that gets it guesses.
"""

from __future__ import annotations

import re

DURATION_UNITS = {
    "ms": "ms", "millisecond": "ms", "milliseconds": "ms",
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w",
    "y": "y", "yr": "y", "yrs": "y", "year": "y", "years": "y",
}  # fmt: skip
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
SIZE_UNITS = {
    "b": "B", "byte": "B", "bytes": "B",
    "k": "KB", "kb": "KB", "kib": "KB", "kilobyte": "KB", "kilobytes": "KB",
    "m": "MB", "mb": "MB", "mib": "MB", "megabyte": "MB", "megabytes": "MB", "meg": "MB",
    "g": "GB", "gb": "GB", "gib": "GB", "gigabyte": "GB", "gigabytes": "GB", "gig": "GB",
    "gigs": "GB",
    "t": "TB", "tb": "TB", "tib": "TB", "terabyte": "TB", "terabytes": "TB",
    "p": "PB", "pb": "PB", "pib": "PB", "petabyte": "PB", "petabytes": "PB",
}  # fmt: skip
_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*", re.IGNORECASE)


class UnitError(ValueError):
    """A value that is not a duration (or size) with a unit; the message says what is wrong."""


def duration(value: object) -> str:
    """``value`` as a duration: "30 minutes" -> "30m", "1h 30m" -> "1h30m". Raises
    ``UnitError`` for a bare number, an unknown unit, or anything else."""
    text = _text(value, "a duration", "30s, 15m, 2h, 7d")
    parts = _parts(text)
    out = []
    for number, unit in parts or [("", "")]:
        canonical = DURATION_UNITS.get(unit.lower())
        if canonical is None:
            raise UnitError(
                f"must be a duration with its unit (ms, s, m, h, d, w, y), not {text!r}"
            )
        out.append(f"{int(number)}{canonical}")
    return "".join(out)


def seconds(text: str) -> float:
    """The length of a duration (as ``duration`` returns it), in seconds."""
    return sum(int(n) * SECONDS[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", text))


def size(value: object) -> str:
    """``value`` as a size: "5 GB" -> "5GB", "512 megabytes" -> "512MB". Raises
    ``UnitError`` for a bare number, an unknown unit, or anything else."""
    text = _text(value, "a size", "512MB, 5GB")
    parts = _parts(text)
    if len(parts) != 1 or parts[0][1].lower() not in SIZE_UNITS:
        raise UnitError(f"must be a size with its unit (B, KB, MB, GB, TB, PB), not {text!r}")
    number, unit = parts[0]
    return f"{int(number)}{SIZE_UNITS[unit.lower()]}"


def _text(value: object, what: str, examples: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UnitError(f"must be {what} with its unit (e.g. {examples}), not {value!r}")
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+(?:\.\d+)?", text):
        raise UnitError(
            f"must be {what} with its unit (e.g. {examples}), not the bare number {text!r}"
        )
    return text


def _parts(text: str) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    at = 0
    for m in _PART.finditer(text):
        if m.start() != at:
            return []
        parts.append((m.group(1), m.group(2)))
        at = m.end()
    return parts if at == len(text) else []
