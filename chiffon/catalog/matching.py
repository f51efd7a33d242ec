"""Matching a request's words to catalog entries: exact terms, plurals, word families,
multi-word synonyms in any order, misspellings, and the words of each entry's description.

The catalog's ids, services and synonyms *name* an entry; its tags and the words of its
description only say what it is about ("I want to know when my sites go down" finds the
uptime monitor whose description says it alerts "when a site or service goes down"). A
description word is matched as written (plurals too), never as a misspelling or word family:
descriptions are prose, and loose matching on prose finds everything.

Each request word goes to the entry (or entries, on a tie) whose term matches it best; a
longer match wins over the shorter ones inside it ("uptime kuma monitors" is one entry, not
two), and an exact match wins over an approximate one. Everything here is pure: the same
words give the same hits.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from chiffon.catalog.entries import Catalog

WORD = re.compile(r"[a-z0-9]+")

ID_WEIGHT = 4.0
NAME_WEIGHT = 3.0
TAG_WEIGHT = 1.5
DESCRIPTION_WEIGHT = 1.0

EXACT = 1.0
FUZZY = 0.8
LOOSE = 0.7

_FILLER = """a about add adding all also an and any anything are as at be both bring but by can
    check could create deploy deploying did do does don each enable every everything for from
    get give go have homelab host hosts i in install installing instead into is it its just
    lab lets let like machine machines make me my need new now of on onto only or our please
    plus put run running s server servers service services set setting setup should so some
    spin stack start t that the their them then there these they thing things this those to
    too up us use using want we well will with would you your know when whenever what which
    how where why tell something"""
FILLER = frozenset(_FILLER.split())
"""Words that say nothing about which playbook is meant."""

_PROSE = """after again already always another deploys did each every first for goes how
    if know means most much never one ones own per self-hosted than through what when where
    which who why via"""
PROSE = frozenset(_PROSE.split())
"""Words of descriptions (beyond ``FILLER``) that say nothing about what an entry does."""

# Misspelt, these still say nothing ("instal", "deply"); other filler words are too close to
# real ones to be guessed at ("theme" is not a misspelt "these").
_FILLER_VERBS = tuple(
    w
    for w in FILLER
    if len(w) >= 5
    and w in {"adding", "bring", "check", "could", "create", "deploy", "deploying", "enable",
              "install", "installing", "please", "running", "setting", "setup", "should",
              "start", "using", "would"}
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    """A request word: as typed (lowercased), where it is, its singular and its root."""

    text: str
    start: int
    end: int
    key: str
    root: str


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """Request words that name (or are about) an entry."""

    entry: str
    positions: tuple[int, ...]
    score: float
    quality: float
    named: bool
    words: str
    term: str
    kind: str = "exact"
    """``exact`` (plurals too), ``typo`` (a misspelling) or ``loose`` (word family, any order)."""
    also: tuple[str, ...] = ()
    """Other entries the same words match, less well."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Term:
    entry: str
    text: str
    weight: float


def singular(word: str) -> str:
    """``monitors`` -> ``monitor``, ``proxies`` -> ``proxy``; ``status``, ``dns`` unchanged."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def root(word: str) -> str:
    """A crude word-family root: ``blocker``, ``blocking``, ``blocks`` -> ``block``."""
    for suffix in ("ing", "ers", "er", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def tokenize(text: str) -> list[Token]:
    """The words of ``text`` (letters and digits), with their offsets in ``text``."""
    out = []
    for m in WORD.finditer(text.lower()):
        word = m.group()
        out.append(Token(word, m.start(), m.end(), singular(word), root(word)))
    return out


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent transpositions count one), or ``limit + 1``
    as soon as it is known to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def allowed_typos(word: str) -> int:
    """How many edits a misspelling of a word this long may have: none under 5 letters."""
    return 0 if len(word) < 5 else 1 if len(word) < 8 else 2


class Vocabulary:
    """The catalog's terms, indexed for matching. Built once per catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self._exact: dict[str, dict[str, _Term]] = {}
        self._loose: dict[str, dict[str, _Term]] = {}
        self._bags: list[tuple[frozenset[str], int, _Term]] = []
        self._longest = 1
        self._typos: dict[str, list[tuple[int, _Term]]] = {}
        self._fillers: dict[str, bool] = {}
        self._about: dict[str, dict[str, _Term]] = {}
        # Removals are planned from a verb of removal and the entry they remove, never
        # matched by their own words.
        entries = [e for e in catalog.entries.values() if e.removes is None]
        for entry in entries:
            self._add(_Term(entry.id, entry.id, ID_WEIGHT))
            for text in (*entry.services, *entry.synonyms):
                self._add(_Term(entry.id, text, NAME_WEIGHT))
            for text in entry.tags:
                self._add(_Term(entry.id, text, TAG_WEIGHT))
        for entry in entries:
            for word in WORD.findall(entry.description.lower()):
                key = singular(word)
                if len(key) < 3 or word in FILLER or key in FILLER or word in PROSE:
                    continue
                self._about.setdefault(key, {}).setdefault(
                    entry.id, _Term(entry.id, word, DESCRIPTION_WEIGHT)
                )

    def _add(self, term: _Term) -> None:
        words = [singular(w) for w in WORD.findall(term.text.lower())]
        self._longest = max(self._longest, len(words))
        _keep_best(self._exact.setdefault("".join(words), {}), term)
        if len(words) == 1:
            _keep_best(self._loose.setdefault(root(words[0]), {}), term)
        else:
            self._bags.append((frozenset(root(w) for w in words), len(words), term))

    def is_filler(self, word: str) -> bool:
        """Whether a word says nothing about a playbook, misspelled verbs ("instal") too."""
        known = self._fillers.get(word)
        if known is None:
            known = word in FILLER or (
                word not in self._exact
                and any(edit_distance(word, f, allowed_typos(f)) <= 1 for f in _FILLER_VERBS)
            )
            self._fillers[word] = known
        return known

    def hits(self, tokens: Sequence[Token], text: str, lo: int, hi: int) -> list[Hit]:
        """What tokens ``lo``..``hi`` of ``tokens`` (words of ``text``) name. A word belongs to
        one match at most; a match belongs to every entry that scores best on it."""
        claimed: set[int] = set()
        exact: list[tuple[tuple[int, ...], _Term, float]] = []
        for i in range(lo, hi):
            key = ""
            for j in range(i, min(hi, i + self._longest)):
                key += tokens[j].key
                for term in self._exact.get(key, {}).values():
                    exact.append((tuple(range(i, j + 1)), term, EXACT))
        found = _claim(exact, claimed, tokens, text)
        about: list[tuple[tuple[int, ...], _Term, float]] = [
            ((i,), term, EXACT)
            for i in range(lo, hi)
            if i not in claimed
            for term in self._about.get(tokens[i].key, {}).values()
        ]
        found.extend(_claim(about, claimed, tokens, text))
        loose: list[tuple[tuple[int, ...], _Term, float]] = []
        free = [i for i in range(lo, hi) if i not in claimed]
        for i in free:
            for term in self._loose.get(tokens[i].root, {}).values():
                loose.append(((i,), term, LOOSE))
        for roots, size, term in self._bags:
            spots = []
            for r in roots:
                spot = next((i for i in free if tokens[i].root == r), None)
                if spot is None:
                    break
                spots.append(spot)
            else:
                if max(spots) - min(spots) < size + 2:
                    loose.append((tuple(sorted(spots)), term, LOOSE))
        for n in (1, 2):
            for k, i in enumerate(free[: len(free) - n + 1]):
                span = tuple(free[k : k + n])
                if span[-1] - span[0] != n - 1:
                    continue
                key = "".join(tokens[p].key for p in span)
                if n == 1 and self.is_filler(tokens[i].text):
                    continue
                for distance, term in self._misspelt(key):
                    loose.append((span, term, FUZZY - 0.05 * (distance - 1)))
        found.extend(_claim(loose, claimed, tokens, text))
        return found

    def _misspelt(self, key: str) -> list[tuple[int, _Term]]:
        known = self._typos.get(key)
        if known is not None:
            return known
        best: list[tuple[int, _Term]] = []
        limit = allowed_typos(key)
        if limit and key not in self._exact:
            # A word may be a misspelling of a term only as far as both lengths allow.
            bound = {k: min(limit, allowed_typos(k)) for k in self._exact}
            distances = {k: edit_distance(key, k, bound[k]) for k in self._exact}
            close = {k: d for k, d in distances.items() if d <= bound[k]}
            least = min(close.values(), default=0)
            if least:
                best = [
                    (least, term)
                    for k, d in close.items()
                    if d == least
                    for term in self._exact[k].values()
                ]
        if len(self._typos) < 10_000:  # bounded: requests are short, vocabularies small
            self._typos[key] = best
        return best


def _keep_best(terms: dict[str, _Term], term: _Term) -> None:
    if term.entry not in terms or terms[term.entry].weight < term.weight:
        terms[term.entry] = term


def _claim(
    candidates: list[tuple[tuple[int, ...], _Term, float]],
    claimed: set[int],
    tokens: Sequence[Token],
    text: str,
) -> list[Hit]:
    spans: dict[tuple[int, ...], dict[str, tuple[float, float, _Term]]] = {}
    for positions, term, quality in candidates:
        per_entry = spans.setdefault(positions, {})
        score = term.weight * quality
        if term.entry not in per_entry or per_entry[term.entry][0] < score:
            per_entry[term.entry] = (score, quality, term)
    order = sorted(
        spans.items(),
        key=lambda item: (-len(item[0]), -max(s for s, _, _ in item[1].values()), item[0][0]),
    )
    hits: list[Hit] = []
    for positions, per_entry in order:
        if claimed.intersection(positions):
            continue
        claimed.update(positions)
        top = max(s for s, _, _ in per_entry.values())
        words = _words(tokens, text, positions)
        also = tuple(e for e, (s, _, _) in per_entry.items() if s < top - 1e-9)
        for entry, (score, quality, term) in per_entry.items():
            if score >= top - 1e-9:
                named = term.weight >= NAME_WEIGHT
                kind = "exact" if quality >= EXACT else "loose" if quality <= LOOSE else "typo"
                hits.append(
                    Hit(entry, positions, score, quality, named, words, term.text, kind, also)
                )
    return hits


def _words(tokens: Sequence[Token], text: str, positions: tuple[int, ...]) -> str:
    if positions[-1] - positions[0] == len(positions) - 1:
        return text[tokens[positions[0]].start : tokens[positions[-1]].end]
    return " ".join(text[tokens[p].start : tokens[p].end] for p in positions)
