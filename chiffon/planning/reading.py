"""What a request says, read against the catalog: the entries it asks for, the ones it rules
out, the hosts and values it names, and what it leaves unclear.

A request is read in clauses ("deploy X and add Y", "X, Y and Z", "X with Y"), so each clause
names its own entries and binds its own hosts and values. Negation ("but not grafana",
"without pi-hole", "instead of grafana") runs from its word to the end of its clause, and on
through following clauses that add no verb of their own ("without grafana or prometheus").
A verb of removal ("remove", "uninstall", "delete", "tear down", "get rid of") runs the same
way: the entries of its clauses are to be removed, never deployed.

Nothing is dropped quietly. Words of a clause that name no entry are either a place the
inventory lacks ("on the toaster": ``strange_hosts``), words the planner asks about
(``unmatched``, a clause with nothing else), or ``ignored``: words beside what the clause
asked for that the plan does not use, which the plan names in a note.
"""

from __future__ import annotations

import dataclasses
import re

from chiffon.catalog import Catalog
from chiffon.catalog.matching import Hit, Token, Vocabulary, tokenize
from chiffon.planning.extraction import Extractor, HostMention, ValueMention

_JOINER = re.compile(
    r"\s*(?:;|:(?=\s|$)|,|\.(?=\s|$)|&|\b(?:and\s+then|and\s+also|as\s+well\s+as|along\s+with"
    r"|and|then|also|plus|with|but|or|nor)\b)\s*",
    re.IGNORECASE,
)
_NOT = (
    r"not|no|without|except(?:\s+for)?|excluding|exclude|skip(?:ping)?|minus|other\s+than"
    r"|instead\s+of|rather\s+than|leave\s+out|leaving\s+out|don[\u2019']?t|do\s+not|never"
)
_NEGATION = re.compile(rf"\b(?:{_NOT})\b", re.IGNORECASE)
_REMOVAL = re.compile(
    rf"\b(?:{_NOT}|drop|remove|delete|get\s+rid\s+of|take\s+out|lose)\b", re.IGNORECASE
)
_ONLY = re.compile(r"\b(?:only|just)\b", re.IGNORECASE)
_REMOVE = re.compile(
    r"\b(?:remove|removing|uninstall|uninstalling|delete|deleting|tear\s+down|tearing\s+down"
    r"|teardown|take\s+down|get\s+rid\s+of|destroy|purge|decommission|wipe\s+out|wipe)\b",
    re.IGNORECASE,
)
# Words before a phrase that make it a place: "on the toaster", "to my gaming pc".
_PLACES = {"on", "onto", "at", "to"}
# "add it to uptime kuma": the verbs that put something into an entry's care.
_ADDING = {"add", "adding", "include", "register", "attach", "put"}
_KEEP = re.compile(r"\s*(?:keep|keeping|leave|leaving)\b", re.IGNORECASE)
_WANTING = {"want", "wants", "need", "needs", "like", "how", "able", "going", "have", "has"}
_CONTINUES = {"and", ",", "or", "nor", "&"}
VERBS = {
    "deploy": "deploy", "install": "install", "instal": "install", "add": "add",
    "set": "set up", "setup": "set up", "configure": "configure", "run": "run",
    "start": "start", "create": "create", "enable": "enable", "schedule": "schedule",
    "spin": "spin up", "bring": "bring up", "put": "put", "get": "get", "make": "make",
    "update": "update", "upgrade": "upgrade", "use": "use", "keep": "keep", "move": "move",
}  # fmt: skip
# Words before an entry's name that make it a reference, not a request: "to its monitors",
# "into the existing Kuma".
_REFERENCE = {"to", "into", "in", "for", "on", "from", "its", "existing", "current", "running"}
_DETERMINERS = {"the", "my", "our", "a", "an", "this", "that"}


@dataclasses.dataclass(frozen=True, slots=True)
class Clause:
    """Characters ``start``..``end`` and tokens ``lo``..``hi`` of the request; ``joiner`` is
    the word that joined it to the previous clause; negation starts at ``negated_at``."""

    start: int
    end: int
    lo: int
    hi: int
    joiner: str
    negated_at: int | None
    removal: bool = False


@dataclasses.dataclass(slots=True)
class Choice:
    """An entry the request asks for, and the words that asked."""

    entry: str
    clause: int
    hits: list[Hit]
    strength: float
    position: int
    remove: bool = False
    via: str = ""
    """Why the entry was chosen when its words named another ("to uptime kuma")."""


@dataclasses.dataclass(slots=True)
class Reading:
    """Everything the planner needs from one request or feedback text."""

    text: str
    tokens: list[Token]
    clauses: list[Clause]
    chosen: dict[str, Choice] = dataclasses.field(default_factory=dict)
    negated: dict[str, str] = dataclasses.field(default_factory=dict)
    unclear: list[tuple[str, tuple[str, ...]]] = dataclasses.field(default_factory=list)
    unmatched: list[str] = dataclasses.field(default_factory=list)
    hosts: list[tuple[HostMention, int, bool]] = dataclasses.field(default_factory=list)
    values: list[tuple[ValueMention, int]] = dataclasses.field(default_factory=list)
    only: bool = False
    verb: str = "plan"
    strange_hosts: list[str] = dataclasses.field(default_factory=list)
    """Places the request names that are no inventory host or group ("the toaster")."""
    ignored: list[str] = dataclasses.field(default_factory=list)
    """Words the plan does not use, beside what their clause asked for."""
    _considered: list[tuple[Hit, int]] = dataclasses.field(default_factory=list)
    _vague: list[tuple[str, tuple[str, ...]]] = dataclasses.field(default_factory=list)

    def clause_of(self, position: int) -> int:
        """The index of the clause holding character ``position``."""
        # A position between two clauses (inside a joiner) belongs to the one that follows.
        for i, clause in enumerate(self.clauses):
            if position < clause.end:
                return i
        return len(self.clauses) - 1


def read(
    text: str,
    catalog: Catalog,
    vocabulary: Vocabulary,
    extractor: Extractor,
    *,
    feedback: bool = False,
) -> Reading:
    """Read ``text``; with ``feedback``, "drop X" and "remove X" rule X out too."""
    hosts = extractor.hosts(text)
    values = extractor.values(text, [(h.start, h.end) for h in hosts])
    chars = list(text)
    removals = [] if feedback else [m.span() for m in _REMOVE.finditer(text)]
    # Masked with NULs, not spaces: a joiner's surrounding \s* must not swallow a mention
    # into the gap between clauses.
    spans = [(h.start, h.end) for h in hosts] + [(v.start, v.end) for v in values]
    for start, end in spans + removals:
        chars[start:end] = "\0" * (end - start)
    masked = "".join(chars)
    tokens = tokenize(masked)
    clauses = _clauses(masked, tokens, _REMOVAL if feedback else _NEGATION, removals)
    reading = Reading(text, tokens, clauses, only=feedback and bool(_ONLY.search(masked)))
    reading.verb = next((VERBS[t.text] for t in tokens if t.text in VERBS), "plan")
    if removals:
        reading.verb = "remove"
    for mention in hosts:
        c = reading.clause_of(mention.start)
        negated_at = clauses[c].negated_at
        reading.hosts.append((mention, c, negated_at is not None and mention.start >= negated_at))
    reading.values = [(v, reading.clause_of(v.start)) for v in values]
    for c, clause in enumerate(clauses):
        _read_clause(reading, c, clause, catalog, vocabulary)
    _settle(reading, catalog)
    return reading


def _clauses(
    masked: str,
    tokens: list[Token],
    negation: re.Pattern[str],
    removals: list[tuple[int, int]],
) -> list[Clause]:
    bounds: list[tuple[int, int, str]] = []
    start, joiner = 0, ""
    for m in _JOINER.finditer(masked):
        if m.start() > start or not bounds:
            bounds.append((start, m.start(), joiner))
        start, joiner = m.end(), (m.group().strip().lower() or ",").split()[0]
    bounds.append((start, len(masked), joiner))
    out: list[Clause] = []
    for start, end, joiner in bounds:
        lo = next((i for i, t in enumerate(tokens) if t.start >= start), len(tokens))
        hi = next((i for i, t in enumerate(tokens) if t.start >= end), len(tokens))
        marker = negation.search(masked, start, end)
        negated_at = marker.start() if marker else None
        verbs = any(tokens[i].text in VERBS for i in range(lo, hi))
        after_negation = out and out[-1].negated_at is not None
        if negated_at is None and after_negation and joiner in _CONTINUES and not verbs:
            negated_at = start
        # "remove grafana but keep prometheus": what a removal keeps is left alone.
        if negated_at is None and removals and _KEEP.match(masked, start):
            negated_at = start
        removal = any(start <= a < end for a, _ in removals) or bool(
            out and out[-1].removal and joiner in _CONTINUES and not verbs
        )
        out.append(Clause(start, end, lo, hi, joiner, negated_at, removal))
    return out


def _read_clause(
    reading: Reading, c: int, clause: Clause, catalog: Catalog, vocabulary: Vocabulary
) -> None:
    hits = vocabulary.hits(reading.tokens, reading.text, clause.lo, clause.hi)
    cut = clause.negated_at if clause.negated_at is not None else clause.end
    positive = [h for h in hits if reading.tokens[h.positions[0]].start < cut]
    reading._considered.extend((h, c) for h in positive)
    if positive:
        _leftovers(reading, clause, cut, positive, vocabulary)
    for hit in hits:
        if hit not in positive and (hit.named or not any(h.named for h in hits)):
            reading.negated.setdefault(hit.entry, hit.words)
    if not positive:
        words = [
            reading.tokens[i].text
            for i in range(clause.lo, clause.hi)
            if reading.tokens[i].start < cut
            and not reading.tokens[i].text.isdigit()
            and not vocabulary.is_filler(reading.tokens[i].text)
        ]
        if words:
            reading.unmatched.append(" ".join(words))
        return
    named = [h for h in positive if h.named]
    if named:
        alone = {h.entry for h in named if sum(g.positions == h.positions for g in named) == 1}
        # "a reverse proxy for my portals": words another named entry also answers to do not
        # name a second entry.
        picked = {
            e for e in alone if not all(set(h.also) & (alone - {e}) for h in named if h.entry == e)
        }
        for hit in named:
            owners = tuple(g.entry for g in named if g.positions == hit.positions)
            if len(owners) > 1 and not alone.intersection(owners):
                reading.unclear.append((hit.words, owners))
        _choose(reading, c, [h for h in named if h.entry in picked], catalog)
        return
    totals: dict[str, float] = {}
    for hit in positive:
        totals[hit.entry] = totals.get(hit.entry, 0.0) + hit.score
    top = max(totals.values())
    close = tuple(e for e, s in totals.items() if s * 1.5 > top)
    if len(close) == 1:
        _choose(reading, c, [h for h in positive if h.entry == close[0]], catalog, topic=True)
    else:
        reading._vague.append((" ".join(dict.fromkeys(h.words for h in positive)), close))


def _leftovers(
    reading: Reading, clause: Clause, cut: int, hits: list[Hit], vocabulary: Vocabulary
) -> None:
    """The words of a clause beside its hits: a place the inventory lacks, or ignored."""
    used = {p for h in hits for p in h.positions}
    tokens = reading.tokens
    runs: list[list[int]] = []
    for i in range(clause.lo, clause.hi):
        t = tokens[i]
        if t.start >= cut or i in used or t.text.isdigit() or vocabulary.is_filler(t.text):
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    for run in runs:
        words = reading.text[tokens[run[0]].start : tokens[run[-1]].end]
        before = run[0] - 1
        while before >= clause.lo and tokens[before].text in _DETERMINERS | {"my", "our"}:
            before -= 1
        gap = reading.text[tokens[before].end : tokens[run[0]].start] if before >= 0 else ""
        # "want to know", "need to see": a verb after "to", not a place.
        wanting = before > clause.lo and tokens[before - 1].text in _WANTING
        if (
            before >= clause.lo
            and tokens[before].text in _PLACES
            and "\0" not in gap
            and not (tokens[before].text == "to" and wanting)
            and not gap.lstrip().startswith(("/", "~", "."))  # a path, not a place
        ):
            reading.strange_hosts.append(words)
        else:
            reading.ignored.append(words)


def _choose(
    reading: Reading, c: int, hits: list[Hit], catalog: Catalog, *, topic: bool = False
) -> None:
    by_entry: dict[str, list[Hit]] = {}
    for hit in hits:
        by_entry.setdefault(hit.entry, []).append(hit)
    removal = reading.clauses[c].removal
    for entry, own in by_entry.items():
        if entry in reading.chosen:
            continue
        dependants = [
            d for d in by_entry if d != entry and entry in catalog.entries[d].needs
        ]  # fmt: skip
        if any(_refers(reading, own, by_entry[d]) for d in dependants):
            continue
        strength = max(h.quality for h in own) * (0.6 if topic else 1.0)
        position = reading.tokens[own[0].positions[0]].start
        add_on = None if removal else _added_to(reading, c, entry, own, catalog)
        if add_on is not None:
            if add_on not in reading.chosen:
                via = f'"{own[0].words}" taken as {add_on}, which adds to {entry}'
                reading.chosen[add_on] = Choice(add_on, c, own, strength, position, via=via)
            continue
        reading.chosen[entry] = Choice(entry, c, own, strength, position, remove=removal)


def _added_to(reading: Reading, c: int, entry: str, own: list[Hit], catalog: Catalog) -> str | None:
    """The add-on meant by "add it to <entry>": the one entry that needs ``entry`` (the
    monitors of "add it to uptime kuma"); None when the words are no such phrase."""
    clause = reading.clauses[c]
    tokens = reading.tokens
    if not any(tokens[i].text in _ADDING for i in range(clause.lo, clause.hi)):
        return None
    i = min(h.positions[0] for h in own) - 1
    while i >= clause.lo and tokens[i].text in _DETERMINERS:
        i -= 1
    if i < clause.lo or tokens[i].text not in ("to", "into"):
        return None
    add_ons = [
        e.id for e in catalog.entries.values() if entry in e.needs and e.removes is None
    ]  # fmt: skip
    return add_ons[0] if len(add_ons) == 1 else None


def _refers(reading: Reading, own: list[Hit], dependant: list[Hit]) -> bool:
    """Whether an entry is named only as what another entry works on: "to its monitors",
    "uptime kuma monitors" (a needed entry right before its dependant)."""
    first = min(h.positions[0] for h in own)
    last = max(h.positions[-1] for h in own)
    if any(h.positions[0] == last + 1 for h in dependant):
        return True
    i = first - 1
    while i >= 0 and reading.tokens[i].text in _DETERMINERS:
        i -= 1
    return i >= 0 and reading.tokens[i].text in _REFERENCE


def _settle(reading: Reading, catalog: Catalog) -> None:
    """Rule out what the request negates, and resolve unclear words against what it chose."""
    for entry in reading.negated:
        reading.chosen.pop(entry, None)
    # Words that fit several entries by topic only are explained when one of those entries
    # is asked for anyway ("a reverse proxy with https").
    for words, candidates in reading._vague:
        if not set(candidates) & set(reading.chosen):
            reading.unclear.append((words, candidates))
    asked = {e for _, candidates in reading.unclear for e in candidates}
    used = {p for ch in reading.chosen.values() for h in ch.hits for p in h.positions}
    for hit, _ in reading._considered:
        if hit.entry in reading.chosen or hit.entry in reading.negated or hit.entry in asked:
            continue
        if not used.intersection(hit.positions):
            reading.ignored.append(hit.words)
    reading.ignored = list(dict.fromkeys(reading.ignored))
    unclear = []
    for words, candidates in reading.unclear:
        left = tuple(e for e in candidates if e not in reading.chosen and e not in reading.negated)
        # An add-on of another candidate ("monitors" of Kuma) is not a choice of its own.
        left = tuple(e for e in left if not set(catalog.entries[e].needs) & set(left)) or left
        if left:
            unclear.append((words, left))
    reading.unclear = unclear
    alternatives = [c for c in reading.clauses if c.joiner == "or" and c.negated_at is None]
    for clause in alternatives:
        i = reading.clauses.index(clause)
        here = [e for e, ch in reading.chosen.items() if ch.clause == i]
        before = [e for e, ch in reading.chosen.items() if ch.clause == i - 1]
        if here and before:
            reading.unclear.append(("or", (*before, *here)))
