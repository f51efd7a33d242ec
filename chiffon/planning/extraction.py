"""Hosts and variable values named in a request: "on nas", "to the pi", "on core and hass",
"on port 3002", "keep 14 daily backups", "retention 30d", "image grafana/grafana-oss:11.4.0",
"timezone Europe/Paris", "every 30 seconds", "8.8.8.8 as upstream dns", "at most 5 GB of
storage", "and its data" (of a removal), "kuma_port=3002".

A length of time is read once and given in the form its variable takes: seconds for an
``int`` variable (``monitor_interval``), a duration with its unit for a ``duration`` one
("every 30 minutes" is ``1800`` for the first, ``"30m"`` for ``prometheus_scrape_interval``).

An ``Extractor`` finds the mentions in the text with their offsets, so the planner can mask
them before matching words to entries ("grafana" inside an image name names nothing) and bind
each to the entries of the clause it is in. Values come out as text or numbers; the plan's
validation coerces and checks them against the declared types.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from chiffon.catalog import Catalog, CatalogEntry
from chiffon.protocol.plan import VariableValue

EVERYWHERE = "all"
"""The inventory group every Ansible inventory has: all hosts."""

Selector = Callable[[CatalogEntry], str | None]


@dataclasses.dataclass(frozen=True, slots=True)
class HostMention:
    """Inventory names a request targets; empty ``targets`` for a place that names no
    particular host ("to the homelab")."""

    start: int
    end: int
    text: str
    targets: tuple[str, ...]
    preposition: str


@dataclasses.dataclass(frozen=True, slots=True)
class ValueMention:
    """A value for an entry's variable. ``variable`` picks the variable of an entry (``None``
    when the entry has none such); ``shared`` values (a timezone) go to every entry of their
    clause; ``implies`` names the entries the mention itself identifies (an image's
    repository, a variable's own name, "daily backups"). ``label`` never holds a secret."""

    start: int
    end: int
    text: str
    value: VariableValue
    variable: Selector
    shared: bool = False
    implies: tuple[str, ...] = ()
    label: str = ""
    """How to quote the mention: its text, or for a secret value only what it sets."""
    duration: str | None = None
    """The same length of time as a duration with its unit ("30m"), for a ``duration``
    variable; None when the mention is no length of time."""

    def value_for(self, entry: CatalogEntry) -> VariableValue:
        """The value for ``entry``'s variable: as a duration when that variable is one."""
        name = self.variable(entry)
        if (
            name is not None
            and self.duration is not None
            and (entry.variables[name].type == "duration")
        ):
            return self.duration
        return self.value


def by_suffix(suffix: str) -> Selector:
    """The entry's first variable whose name ends with ``suffix``."""

    def select(entry: CatalogEntry) -> str | None:
        return next((name for name in entry.variables if name.endswith(suffix)), None)

    return select


def by_name(name: str) -> Selector:
    """The entry's variable called ``name``."""

    def select(entry: CatalogEntry) -> str | None:
        return name if name in entry.variables else None

    return select


_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_SEP = r"\s*(?:=|:|to|of|is|at)?\s*"
_IP = r"\d{1,3}(?:\.\d{1,3}){3}"
_REGION = r"(?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)"
# Minutes are read too, so that "30 minutes of retention" gets a clear refusal from the
# variable's pattern instead of being ignored.
_DURATION = r"(?P<n>\d+)\s*(?P<unit>d|h|w|m|days?|hours?|weeks?|mins?|minutes?)\b"


def _seconds(m: re.Match[str]) -> int:
    unit = (m.group("unit") or "second").lower().rstrip("s") or "s"
    return int(m.group("n") or 1) * _UNITS.get(unit, 1)


def _duration(m: re.Match[str]) -> str:
    return m.group("n") + m.group("unit")[0].lower()


def _clock(m: re.Match[str]) -> str:
    hour, minute = int(m.group("h")), int(m.group("min") or 0)
    half = (m.group("half") or "").lower()
    if half == "pm" and hour < 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    return f"{hour:02d}:{minute:02d}"


def _ips(m: re.Match[str]) -> list[str | int | float | bool]:
    return list(re.findall(_IP, m.group("v")))


def _as_duration(m: re.Match[str]) -> str | None:
    groups = m.groupdict()
    if "unit" not in groups:
        return None
    unit = (groups.get("unit") or "").lower()
    if not unit:
        return None
    from chiffon.catalog.units import DURATION_UNITS

    canonical = DURATION_UNITS.get(unit) or DURATION_UNITS.get(unit.rstrip("s"))
    if canonical is None:
        canonical = {"d": "d", "w": "w", "h": "h", "m": "m", "s": "s"}.get(unit[0], "s")
    return f"{int(groups.get('n') or 1)}{canonical}"


def _size(m: re.Match[str]) -> str:
    from chiffon.catalog.units import SIZE_UNITS

    return f"{int(float(m.group('n')))}{SIZE_UNITS[m.group('u').lower()]}"


def _text(m: re.Match[str]) -> str:
    return m.group("v").strip("\"'").rstrip(".,;")


# (pattern, value, selector, shared, entries-it-implies-by-variable) in order of precedence:
# a mention found by an earlier pattern hides what later ones would find in the same words.
_Pattern = tuple[str, Callable[[re.Match[str]], VariableValue], Selector, bool, bool]
_PATTERNS: tuple[_Pattern, ...] = (
    (r"\bimage" + _SEP + r"(?P<v>[a-z0-9][\w.-]*(?:/[\w.-]+)*(?::[\w.-]+)?)", _text,
     by_suffix("_image"), False, False),
    (r"(?<![\w/])(?P<v>[a-z0-9][\w.-]*(?:/[\w.-]+)+:[\w.-]*\w)", _text,
     by_suffix("_image"), False, False),
    (r"\bupstream(?:\s+dns)?(?:\s+servers?)?" + _SEP + r"(?P<v>" + _IP
     + r"(?:(?:\s*,\s*|\s+and\s+|\s+)" + _IP + r")*)", _ips,
     by_suffix("_upstream_dns"), False, False),
    (r"(?P<v>" + _IP + r"(?:(?:\s*,\s*|\s+and\s+|\s+)" + _IP + r")*)\s+(?:as|for)\s+"
     r"(?:(?:the|an?|my)\s+)?upstreams?(?:\s+dns)?(?:\s+(?:servers?|resolvers?))?\b", _ips,
     by_suffix("_upstream_dns"), False, False),
    (r"\b(?:time\s*zone|tz)" + _SEP + r"(?P<v>[A-Za-z]+(?:/[A-Za-z_+-]+){0,2})", _text,
     by_name("timezone"), True, False),
    (r"(?<![\w/])(?P<v>" + _REGION + r"/[A-Za-z_+-]+(?:/[A-Za-z_+-]+)?)", _text,
     by_name("timezone"), True, False),
    (r"\b(?:repository|repo)" + _SEP + r"(?P<v>/\S+)", _text,
     by_suffix("_repository"), False, False),
    (r"\b(?:(?:admin|web|root|user)\s+)?password(?!\s+(?:manager|vault|safe|keeper|store)s?\b)"
     + _SEP + r"(?P<v>\S+)", _text,
     by_suffix("_password"), False, False),
    (r"\b(?:keep|keeping|retain|retaining)\s+(?P<v>\d+)\s+(?:daily\s+)?"
     r"(?:backups?|snapshots?)\b", lambda m: int(m.group("v")),
     by_suffix("_keep_daily"), False, True),
    (r"\b(?:keep|keeping|retain|retaining)\s+(?P<v>\d+)\s+(?:daily|days?\s+of\s+"
     r"(?:backups?|snapshots?))\b", lambda m: int(m.group("v")),
     by_suffix("_keep_daily"), False, True),
    (r"\b(?P<v>\d+)\s+daily\s+(?:backups?|snapshots?)\b", lambda m: int(m.group("v")),
     by_suffix("_keep_daily"), False, True),
    (r"\bretention(?:\s+time)?\s*(?:=|:|to|of|for|is)?\s*" + _DURATION, _duration,
     by_suffix("_retention"), False, False),
    (r"\bkeep\s+(?:the\s+)?(?:metrics|data)\s+for\s+" + _DURATION, _duration,
     by_suffix("_retention"), False, False),
    (r"\b" + _DURATION + r"\s+(?:of\s+)?retention\b", _duration,
     by_suffix("_retention"), False, False),
    (r"\bevery\s+(?:(?P<n>\d+)\s*)?(?P<unit>s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b",
     _seconds, by_suffix("_interval"), False, False),
    (r"\binterval" + _SEP + r"(?P<n>\d+)\s*(?P<unit>s|secs?|seconds?|m|mins?|minutes?)?\b",
     _seconds, by_suffix("_interval"), False, False),
    (r"\b(?P<v>\d+)\s+retries\b|\bretries" + _SEP + r"(?P<w>\d+)\b",
     lambda m: int(m.group("v") or m.group("w")), by_suffix("_retries"), False, False),
    (r"\bat\s+(?=[0-2]?\d(?::[0-5]\d|\s*(?:am|pm)\b))(?P<h>[0-2]?\d)(?::(?P<min>[0-5]\d))?"
     r"\s*(?P<half>am|pm)?\b", _clock, by_suffix("_time"), False, False),
    (r"\b(?:(?:at\s+most|up\s+to|max(?:imum)?|limit(?:ed)?\s+(?:to|at)|cap(?:ped)?\s+at)\s+)?"
     r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>[kmgtp]i?b|bytes?|kilobytes?|megabytes?|gigabytes?|gigs?"
     r"|terabytes?)\b(?:\s+(?:of\s+)?(?:storage|disk(?:\s+space)?|space|data))?", _size,
     by_suffix("_size"), False, False),
    (r"\b(?:and|with|including)\s+(?:all\s+)?(?:of\s+)?(?:its|their|the)\s+(?:data|files"
     r"|volumes?)\b", lambda m: True, by_suffix("_remove_data"), False, False),
    # Every dotted part is read, so "1.9.0.1" is refused whole rather than cut to "1.9.0".
    (r"\bversion\s+v?(?P<v>\d+(?:\.\d+){2,})\b|(?<![\w.:])v(?P<w>\d+(?:\.\d+){2,})\b",
     lambda m: m.group("v") or m.group("w"), by_suffix("_version"), False, False),
    (r"\bport" + _SEP + r"(?P<v>\d{1,5})\b|\bon\s+:(?P<w>\d{1,5})\b",
     lambda m: int(m.group("v") or m.group("w")), by_suffix("_port"), False, False),
)  # fmt: skip


def _spelling(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.lower())


def _loosely(name: str) -> str:
    """A pattern for an inventory name with a space, dash or underscore wherever it has one."""
    return r"[\s_-]+".join(re.escape(part) for part in re.split(r"[_-]+", name))


class Extractor:
    """The host and value patterns of one catalog, compiled once."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # "all" only through the everywhere pattern: "to all monitors" names no host.
        names = sorted(
            {*catalog.inventory.groups, *catalog.inventory.hosts} - {EVERYWHERE}, key=len
        )
        # "the gaming pc" names the host gaming-pc (or gaming_pc): people type spaces.
        self._spelled = {_spelling(n): n for n in names}
        name = "(?:" + "|".join(_loosely(n) for n in reversed(names)) + r")(?![\w-]|\s+hole\b)"
        det = r"(?:(?:the|my|our|both|host|hosts|machine|group|box|node)\s+)*"
        kind = r"(?:\s+(?:host|hosts|machine|box|server|node|group))?"
        item = det + name + kind
        self._hosts = re.compile(
            r"\b(?P<prep>on|onto|to|at|from)\s+" + item
            + r"(?:\s*(?:,\s*and|,|and|&)\s+" + item + r")*",
            re.IGNORECASE,
        )  # fmt: skip
        self._name = re.compile(r"\b" + name, re.IGNORECASE)
        self._everywhere = re.compile(
            r"\b(?P<prep>on|to|across)\s+(?:all|every|each)\s+(?:of\s+)?(?:the\s+|my\s+)?"
            r"(?:hosts?|machines?|nodes?|servers?|boxes)\b|\beverywhere\b",
            re.IGNORECASE,
        )
        self._patterns = [
            (re.compile(p, re.IGNORECASE), value, select, shared, implies)
            for p, value, select, shared, implies in _PATTERNS
        ]
        variables = sorted(
            {v for e in catalog.entries.values() for v in e.variables}, key=len, reverse=True
        )
        # With no declared variable, "(?P<name>)" would match the empty string before every
        # word and read the whole request as values: a name that never matches stands in.
        alternatives = "|".join(map(re.escape, variables)) or r"(?!x)x"
        self._named = re.compile(
            r"\b(?P<name>" + alternatives + r")\b"
            r"\s*(?:=|:|to|of|is)?\s*(?P<v>\"[^\"]*\"|'[^']*'|[^\s,;]+)",
            re.IGNORECASE,
        )
        self._images = {
            (str(var.default).split(":")[0]): entry.id
            for entry in catalog.entries.values()
            for name, var in entry.variables.items()
            if name.endswith("_image") and var.default
        }

    def hosts(self, text: str) -> list[HostMention]:
        """Places the request names, in order of appearance."""
        roots = {EVERYWHERE, *(g for g, members in self._catalog.inventory.groups.items()
                               if set(members) == set(self._catalog.inventory.hosts))}  # fmt: skip
        found: list[HostMention] = []
        for m in self._everywhere.finditer(text):
            prep = (m.group("prep") or "on").lower()
            found.append(HostMention(m.start(), m.end(), m.group(), (EVERYWHERE,), prep))
        for m in self._hosts.finditer(text):
            if any(h.start <= m.start() < h.end for h in found):
                continue
            after = text[m.end("prep") : m.end()]
            named = [
                self._spelled.get(_spelling(n.group()), n.group().lower())
                for n in self._name.finditer(after)
            ]
            # "to the homelab" says where, not which hosts: each entry keeps its own.
            targets = tuple(dict.fromkeys(n for n in named if n not in roots))
            prep = m.group("prep").lower()
            found.append(HostMention(m.start(), m.end(), m.group(), targets, prep))
        return sorted(found, key=lambda h: h.start)

    def values(self, text: str, taken: list[tuple[int, int]]) -> list[ValueMention]:
        """Variable values the request names, outside the ``taken`` spans."""
        spans = list(taken)
        found: list[ValueMention] = []

        def free(start: int, end: int) -> bool:
            return all(end <= a or start >= b for a, b in spans)

        for m in self._named.finditer(text):
            if free(m.start(), m.end()):
                name = m.group("name").lower()
                owners = tuple(e.id for e in self._catalog.entries.values() if name in e.variables)
                spans.append(m.span())
                found.append(
                    ValueMention(m.start(), m.end(), m.group(), _text(m), by_name(name),
                                 shared=True, implies=owners)
                )  # fmt: skip
        for pattern, value, select, shared, implies in self._patterns:
            for m in pattern.finditer(text):
                if not free(m.start(), m.end()):
                    continue
                spans.append(m.span())
                got = value(m)
                implied: tuple[str, ...] = ()
                if implies:
                    implied = tuple(e.id for e in self._catalog.entries.values() if select(e))
                elif isinstance(got, str) and got.split(":")[0] in self._images:
                    implied = (self._images[got.split(":")[0]],)
                found.append(ValueMention(m.start(), m.end(), m.group(), got, select, shared,
                                          implied, duration=_as_duration(m)))  # fmt: skip
        return sorted((self._labelled(v) for v in found), key=lambda v: v.start)

    def _labelled(self, mention: ValueMention) -> ValueMention:
        secret = [
            name
            for entry in self._catalog.entries.values()
            if (name := mention.variable(entry)) is not None and entry.variables[name].secret
        ]
        label = f"the {secret[0]} given" if secret else mention.text
        return dataclasses.replace(mention, label=label)
