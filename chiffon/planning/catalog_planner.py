"""The catalog planner: a plan from the request's words alone, with no model and no I/O.

It reads the request in clauses (``chiffon.planning.reading``), takes the entries the request
names, binds the hosts and values it mentions to them, and lets ``validate_plan`` order and
normalise the steps. When the request is unclear (words that fit several entries equally,
"X or Y", nothing named) or asks for something the catalog lacks, it asks instead of guessing.
On a modify round it applies the human's feedback to the previous plan.

Given a ``generated_dir``, it also proposes generating what the catalog lacks: when the
request names a well-known service or gives an unknown one's image and port, ``plan``
generates the playbook into ``generated_dir/<run id>/``, checks it (syntax check and lint),
stages it in the catalog (``Catalog.stage``) and plans with it; the step says "generated: not
in the catalog" and the approval covers the generated files' digest. What happens to it next
(installed on approval, discarded at the run's end) is ``chiffon.playbooks.generation.staging``.
The two halves, ``to_generate`` and ``generate``, are public: the LLM planner's runs stage
with them too (``chiffon.planning.generating``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from chiffon.catalog import Catalog
from chiffon.catalog.matching import FUZZY, Hit, Vocabulary
from chiffon.errors import ChiffonError
from chiffon.planning.errors import InvalidPlan
from chiffon.planning.extraction import Extractor
from chiffon.planning.planner import NeedsClarification, PlanOutcome, PlanRequest
from chiffon.planning.reading import Choice, Reading, read
from chiffon.planning.validation import REDACTED, secret_variables, validate_plan
from chiffon.protocol import Plan, PlanStep
from chiffon.protocol.plan import VariableValue

if TYPE_CHECKING:
    from chiffon.playbooks.generation.spec import ServiceSpec

GENERATED_REASON = "generated: not in the catalog"
"""How a step's reason starts when its playbook was generated for this plan."""


@dataclasses.dataclass(slots=True)
class _Draft:
    hosts: list[str]
    variables: dict[str, VariableValue]
    reason: str
    notes: list[str] = dataclasses.field(default_factory=list)

    def text(self) -> str:
        reason = "; ".join(p for p in (self.reason, *self.notes) if p)
        return reason if len(reason) <= 500 else reason[:499] + "…"


class CatalogPlanner:
    """The deterministic planner over one catalog (the default when no model is configured).

    ``plan`` never raises for a request it cannot plan: it answers ``NeedsClarification``.
    Every ``Plan`` it returns has passed ``validate_plan`` and is already normalised.
    """

    name = "catalog"

    def __init__(
        self,
        catalog: Catalog,
        *,
        generated_dir: Path | None = None,
        lint_cache: Path | None = None,
    ) -> None:
        self._catalog = catalog
        self._generated_dir = generated_dir
        self._lint_cache = lint_cache
        self._vocabulary = Vocabulary(catalog)
        self._extractor = Extractor(catalog)
        self._digests: dict[str, str] = {}
        self._version = catalog.version

    async def plan(self, request: PlanRequest) -> PlanOutcome:
        """Plan ``request`` (see ``plan_now``); with a ``generated_dir`` and the request's run
        id, a service the catalog lacks is generated, checked and staged first (see the
        module docstring). A generated playbook that fails its checks is a question that says
        why, like any plan that cannot be made."""
        outcome = self.plan_now(request)
        if isinstance(outcome, NeedsClarification):
            wanted = self.to_generate(request)
            if isinstance(wanted, NeedsClarification):
                return wanted
            if wanted:
                return await self.generate(request, wanted) or self.plan_now(request)
        return outcome

    def to_generate(self, request: PlanRequest) -> list[ServiceSpec] | NeedsClarification | None:
        """What ``plan`` would generate for ``request``: the specs of the services it names
        that the catalog lacks (a well-known one, or one whose image and port it gives); a
        question when it names one but not enough to generate it; None when there is nothing
        to generate (no ``generated_dir``, no run id, or no words the catalog left unmatched
        that look like a service). Pure: nothing is written."""
        from chiffon.planning.new_services import wanted_services

        if self._generated_dir is None or request.run_id is None:
            return None
        self._refresh()
        feedback = bool(request.feedback and request.previous is not None)
        text = request.feedback if feedback and request.feedback else request.text
        if request.feedback and not feedback:
            text = f"{request.text}. {request.feedback}"
        r = read(text, self._catalog, self._vocabulary, self._extractor, feedback=feedback)
        # A request to remove something the catalog lacks is refused, never a generated deploy.
        if r.unclear or not r.unmatched or r.verb == "remove" or r.strange_hosts:
            return None
        return wanted_services(r)

    async def generate(
        self, request: PlanRequest, specs: Iterable[ServiceSpec]
    ) -> NeedsClarification | None:
        """Generate each of ``specs`` (from ``to_generate``) under ``generated_dir/<run id>/``,
        check it and stage it in the catalog for ``request``'s run; None when all are staged,
        else the question saying which could not be and why. Raises ``ValueError`` without a
        ``generated_dir`` or a run id."""
        from chiffon.playbooks.generation.staging import stage_service

        if self._generated_dir is None or request.run_id is None:
            raise ValueError("generating needs a generated_dir and the request's run id")
        run = str(request.run_id)
        for spec in specs:
            try:
                await stage_service(
                    spec, self._catalog, self._generated_dir / run, run,
                    lint_cache=self._lint_cache,
                )  # fmt: skip
            except (ChiffonError, OSError) as exc:
                return NeedsClarification(
                    f"I could not generate a playbook for {spec.name}: {exc}", (spec.name,)
                )
        return None

    def plan_now(self, request: PlanRequest) -> PlanOutcome:
        """Plan ``request`` synchronously: a fresh plan, or with ``feedback`` and ``previous``
        the previous plan changed as the feedback says. Feedback without a previous plan is
        read as more of the request. Nothing is generated here."""
        self._refresh()
        if request.feedback and request.previous is not None:
            return self._modify(request.text, request.previous, request.feedback)
        text = f"{request.text}. {request.feedback}" if request.feedback else request.text
        return self._fresh(text)

    def _fresh(self, text: str) -> PlanOutcome:
        r = read(text, self._catalog, self._vocabulary, self._extractor)
        question = (
            self._unclear(r) or self._strange_hosts(r) or self._unknown(r) or self._removals(r)
        )
        if question:
            return question
        drafts = {
            e: _Draft([self._catalog.entries[e].hosts], {}, _reason(c)) for e, c in r.chosen.items()
        }
        strengths = [c.strength for c in r.chosen.values()]
        question = self._bind_values(r, drafts, strengths) or self._bind_hosts(r, drafts)
        if question:
            return question
        if not drafts:
            return NeedsClarification(f"What should I {r.verb}? The catalog has {self._listed()}.")
        return self._finish(text, drafts, min(strengths), ignored=r.ignored)

    def _modify(self, text: str, previous: Plan, feedback: str) -> PlanOutcome:
        r = read(feedback, self._catalog, self._vocabulary, self._extractor, feedback=True)
        question = self._unclear(r)
        if question:
            return question
        if r.unmatched:
            return self._no_such_playbook(r.unmatched, r.chosen)
        drafts = {
            s.playbook: _Draft(list(s.hosts), dict(s.variables), s.reason) for s in previous.steps
        }
        if r.only and r.chosen:
            drafts = {e: d for e, d in drafts.items() if e in r.chosen}
        dropped = [e for e in r.negated if drafts.pop(e, None) is not None]
        strengths = [previous.confidence]
        for e, choice in r.chosen.items():
            if e not in drafts:
                reason = "added on feedback: " + _matched(choice.hits)
                drafts[e] = _Draft([self._catalog.entries[e].hosts], {}, reason)
                strengths.append(choice.strength)
        if not drafts:
            return NeedsClarification(
                f"Dropping {_join(dropped, 'and')} leaves nothing to run: what should the "
                "plan do instead?",
                tuple(dropped),
            )
        question = self._bind_values(r, drafts, strengths) or self._bind_hosts(r, drafts)
        if question:
            return question
        outcome = self._finish(text, drafts, min(strengths))
        if isinstance(outcome, Plan) and outcome.steps == previous.steps:
            return NeedsClarification(
                f'I could not tell what to change from "{feedback}": name playbooks to add '
                "or drop, or the hosts, port or other setting to change.",
                tuple(s.playbook for s in previous.steps),
            )
        return outcome

    def answered(self, text: str, answer: str) -> str:
        """The request ``text`` rewritten as ``answer`` (to the question ``plan`` asked about
        it) says, to plan again on its own: a place the inventory lacks is replaced by the
        host the answer names ("toaster" + "core" -> "… on core"); "yes" to "should I plan X
        without it?" drops the words the catalog has nothing for; an answer naming entries
        ("grafana" to "which should I plan?") becomes the request, with its hosts and values.
        Anything else is added to the request as more of it."""
        self._refresh()
        r = read(text, self._catalog, self._vocabulary, self._extractor)
        said = answer.strip().rstrip(".!")
        if _AFFIRMATIVE.fullmatch(said):
            out = text
            for words in r.strange_hosts:
                out = re.sub(_place(words), "", out, count=1, flags=re.IGNORECASE)
            for words in r.unmatched:
                for word in words.split():
                    out = re.sub(rf"\b{re.escape(word)}\b", "", out, count=1, flags=re.I)
            out = " ".join(out.split())
            return re.sub(r"(?:[\s,;]+(?:and|or|with|the|a|an|plus))+[\s,;]*$", "", out) or text
        if r.strange_hosts:
            where = re.sub(r"^(?:(?:on|onto|to|at|the|my|our)\s+)+", "", said, flags=re.I)
            if self._extractor.hosts(f"on {where}"):
                place = _place(r.strange_hosts[0])
                return re.sub(place, f"on {where}", text, count=1, flags=re.IGNORECASE)
        if r.unclear:
            alone = read(said, self._catalog, self._vocabulary, self._extractor)
            if alone.chosen and not alone.unmatched and not alone.unclear:
                kept = [m.text for m, _, _ in r.hosts] + [v.text for v, _ in r.values]
                return " ".join([r.verb, said, *kept])
        return f"{text}. {said}"

    def _refresh(self) -> None:
        # Another run (or this one) staged, installed or dropped a generated entry: the words
        # and values the catalog answers to changed.
        if self._catalog.version != self._version:
            self._vocabulary = Vocabulary(self._catalog)
            self._extractor = Extractor(self._catalog)
            self._digests.clear()
            self._version = self._catalog.version

    def _unclear(self, r: Reading) -> NeedsClarification | None:
        if not r.unclear:
            return None
        words, candidates = r.unclear[0]
        candidates = self._in_catalog_order(candidates)
        if words == "or":
            question = f"Which should I plan: {_join(candidates, 'or')}?"
        elif len(candidates) == 1:
            question = f'By "{words}", do you mean {candidates[0]}?'
        else:
            question = f'"{words}" could mean {_join(candidates, "or")}: which should I plan?'
        return NeedsClarification(question, candidates)

    def _unknown(self, r: Reading) -> NeedsClarification | None:
        if r.unmatched and r.verb == "remove":
            words = " ".join(r.unmatched)
            return NeedsClarification(
                f'The catalog has no entry for "{words}", so there is nothing of it I can '
                f"remove; it has {self._listed()}.",
                tuple(r.chosen),
            )
        if r.unmatched:
            return self._no_such_playbook(r.unmatched, r.chosen)
        if r.chosen or any(v.implies for v, _ in r.values):
            return None
        return NeedsClarification(f"What should I {r.verb}? The catalog has {self._listed()}.")

    def _strange_hosts(self, r: Reading) -> NeedsClarification | None:
        """A place the request names that the inventory lacks: asked about, never ignored."""
        if not r.strange_hosts:
            return None
        inventory = self._catalog.inventory
        places = _join([f'"{w}"' for w in dict.fromkeys(r.strange_hosts)], "or")
        groups = [g for g in inventory.groups if g != "all"]
        where = _join(list(r.chosen), "and") or "it"
        return NeedsClarification(
            f"The inventory has no host or group {places}: it has the hosts "
            f"{_join(inventory.hosts, 'and')} and the groups {_join(groups, 'and')}. "
            f"Where should {where} run?",
            tuple(r.chosen),
        )

    def _removals(self, r: Reading) -> NeedsClarification | None:
        """Turn each entry a verb of removal names into its removal entry; refuse (a
        question) when one declares no removal: a request to remove is never a deploy."""
        removed = [e for e, c in r.chosen.items() if c.remove]
        lacking = [e for e in removed if self._catalog.removal_of(e) is None]
        if lacking:
            can = [e for e in self._catalog.deployable() if self._catalog.removal_of(e)]
            known = f"; the entries that can be removed are {_join(can, 'and')}" if can else ""
            return NeedsClarification(
                f"{_join(lacking, 'and')} {'has' if len(lacking) == 1 else 'have'} no removal "
                f"playbook in the catalog, so I will not plan removing "
                f"{'it' if len(lacking) == 1 else 'them'} (and never a deploy instead): add a "
                f"`removal:` to the catalog entry{known}.",
                tuple(lacking),
            )
        for e in removed:
            removal = self._catalog.removal_of(e)
            assert removal is not None
            choice = r.chosen.pop(e)
            choice.entry = removal
            choice.via = f"removes {e}"
            r.chosen[removal] = choice
        return None

    def _listed(self) -> str:
        return _join(self._catalog.deployable(), "and")

    def _no_such_playbook(self, unmatched: list[str], chosen: Iterable[str]) -> NeedsClarification:
        words = " ".join(unmatched)
        planned = list(chosen)
        if planned:
            return NeedsClarification(
                f'The catalog has no playbook for "{words}": should I plan '
                f"{_join(planned, 'and')} without it?",
                tuple(planned),
            )
        return NeedsClarification(
            f'The catalog has no playbook for "{words}"; it has {self._listed()}.'
        )

    def _bind_values(
        self, r: Reading, drafts: dict[str, _Draft], strengths: list[float]
    ) -> NeedsClarification | None:
        entries = self._catalog.entries
        for mention, c in r.values:
            candidates = [e for e in drafts if mention.variable(entries[e])]
            implied = [e for e in mention.implies if e in entries]
            if implied and set(candidates) & set(implied):
                candidates = [e for e in candidates if e in implied]
            elif implied and not candidates and len(implied) == 1:
                drafts[implied[0]] = _Draft(
                    [entries[implied[0]].hosts], {}, f'named by "{mention.label}"'
                )
                candidates = implied
                strengths.append(FUZZY)
            if not candidates:
                pool = implied or list(drafts)
                return NeedsClarification(
                    f"None of the playbooks in the plan ({_join(list(drafts), 'and')}) takes "
                    f'"{mention.label}".'
                    if not implied
                    else f'Which playbook should "{mention.label}" apply to: {_join(pool, "or")}?',
                    tuple(pool),
                )
            here = [e for e in candidates if e in r.chosen and r.chosen[e].clause == c]
            before = [
                e for e in candidates if e in r.chosen and r.chosen[e].position < mention.start
            ]
            if mention.shared:
                targets = here or candidates
            elif here:
                earlier = [e for e in here if r.chosen[e].position < mention.start]
                targets = [max(earlier or here, key=lambda e: r.chosen[e].position)]
            elif len(candidates) == 1:
                targets = candidates
            elif before:
                targets = [max(before, key=lambda e: r.chosen[e].position)]
            else:
                return NeedsClarification(
                    f'Which playbook should "{mention.label}" apply to: {_join(candidates, "or")}?',
                    tuple(candidates),
                )
            for e in targets:
                variable = mention.variable(entries[e])
                assert variable is not None  # candidates all have one
                drafts[e].variables[variable] = mention.value_for(entries[e])
                drafts[e].notes.append(f'{variable} from "{mention.label}"')
        return None

    def _bind_hosts(self, r: Reading, drafts: dict[str, _Draft]) -> NeedsClarification | None:
        inventory = self._catalog.inventory
        named = [e for e in r.chosen if e in drafts]
        positive = [(m, c) for m, c, negated in r.hosts if m.targets and not negated]
        placed: set[str] = set()
        for mention, c in positive:
            here = [e for e in named if r.chosen[e].clause == c]
            last = len(positive) == 1 and all(
                self._vocabulary.is_filler(t.text) for t in r.tokens if t.start >= mention.end
            )
            for e in here if here and not last else named or list(drafts):
                description = self._catalog.entries[e].description.lower()
                # "back up to the nas": where the entry sends data, not where it runs.
                targets = [
                    t
                    for t in mention.targets
                    if not (mention.preposition == "to" and f"to the {t}" in description)
                ]
                if not targets:
                    continue
                draft = drafts[e]
                draft.hosts = [*draft.hosts, *targets] if e in placed else targets
                draft.notes.append(f'hosts from "{mention.text}"')
                placed.add(e)
        for mention, c, negated in r.hosts:
            if not negated or not mention.targets:
                continue
            here = [e for e in named if r.chosen[e].clause == c]
            excluded = {h for t in mention.targets for h in inventory.resolve(t)}
            for e in here or named or list(drafts):
                hosts = [h for t in drafts[e].hosts for h in inventory.resolve(t) or (t,)]
                kept = list(dict.fromkeys(h for h in hosts if h not in excluded))
                if not kept:
                    return NeedsClarification(
                        f"Without {_join(list(mention.targets), 'and')}, {e} has no host left "
                        "to run on: where should it run?",
                        (e,),
                    )
                drafts[e].hosts = kept
                drafts[e].notes.append(f'hosts without "{mention.text}"')
        return None

    def _finish(
        self,
        text: str,
        drafts: dict[str, _Draft],
        confidence: float,
        *,
        ignored: Iterable[str] = (),
    ) -> PlanOutcome:
        """The validated plan of ``drafts``. Words of the request it does not use
        (``ignored``) are named in its summary, and each lowers its confidence."""
        ignored = list(ignored)
        if ignored:
            confidence *= max(0.5, 1.0 - 0.2 * len(ignored))
        steps = tuple(
            PlanStep(
                playbook=e, hosts=tuple(d.hosts), variables=d.variables, reason=self._why(e, d)
            )
            for e, d in drafts.items()
        )
        plan = Plan(
            request=text[:4000],
            steps=steps,
            planner=self.name,
            confidence=round(max(0.0, min(1.0, confidence)), 2),
        )
        try:
            checked = validate_plan(plan, self._catalog, digest=self._digest)
        except InvalidPlan as exc:
            return NeedsClarification(
                "I could not make a valid plan: " + "; ".join(exc.reasons) + ".",
                tuple(drafts),
            )
        summary = self._summary(checked)
        if ignored:
            unused = _join([f'"{w}"' for w in ignored], "and")
            summary = f"{summary} Not used: {unused} (nothing in the catalog takes it)."
            summary = summary if len(summary) <= 1000 else summary[:999] + "…"
        return checked.model_copy(update={"summary": summary})

    def _why(self, entry_id: str, draft: _Draft) -> str:
        if self._catalog.staged(entry_id) is None:
            return draft.text()
        return generated_reason(draft.text())

    def _summary(self, plan: Plan) -> str:
        parts = []
        for step in plan.steps:
            entry = self._catalog.entries[step.playbook]
            secret = secret_variables(self._catalog, step.playbook)
            changed = [
                f"{k}={REDACTED if k in secret else v}"
                for k, v in step.variables.items()
                if v != entry.variables[k].default
            ]
            settings = f" with {', '.join(changed)}" if changed else ""
            generated = " (generated)" if self._catalog.staged(step.playbook) else ""
            parts.append(f"{step.playbook}{generated} on {', '.join(step.hosts)}{settings}")
        summary = "Run " + ", then ".join(parts) + "."
        return summary if len(summary) <= 1000 else summary[:999] + "…"

    def _digest(self, entry_id: str) -> str:
        # Read once per planner: planning stays free of I/O after the first request, and the
        # orchestrator's own validate_plan reads the files again before approval.
        if entry_id not in self._digests:
            self._digests[entry_id] = self._catalog.digest(entry_id)
        return self._digests[entry_id]

    def _in_catalog_order(self, ids: Iterable[str]) -> tuple[str, ...]:
        wanted = set(ids)
        return tuple(e for e in self._catalog.entries if e in wanted)


_AFFIRMATIVE = re.compile(
    r"(?:y|yes|yeah|yep|ok|okay|sure|go\s+ahead|do\s+it|please\s+do|yes\s+please"
    r"|(?:yes,?\s+)?without\s+(?:it|them))",
    re.IGNORECASE,
)


def _place(words: str) -> str:
    """A pattern for "on the <words>" (any preposition and determiners) in a request."""
    return (
        r"\b(?:on|onto|to|at)\s+(?:(?:the|my|our|a|an)\s+)*"
        + r"\s+".join(re.escape(w) for w in words.split())
        + r"\b"
    )


def generated_reason(reason: str) -> str:
    """``reason`` for a step whose playbook is staged (generated for this plan): it starts
    with ``GENERATED_REASON``, so the approval shows it, and stays within a step's 500
    characters. A reason that already says so is returned as it is."""
    if reason.startswith(GENERATED_REASON):
        return reason
    why = f"{GENERATED_REASON}; {reason}" if reason else GENERATED_REASON
    return why if len(why) <= 500 else why[:499] + "…"


def _reason(choice: Choice) -> str:
    matched = _matched(choice.hits)
    return f"{matched} ({choice.via})" if choice.via else matched


def _matched(hits: list[Hit]) -> str:
    said = []
    for hit in hits:
        if hit.kind == "typo":
            said.append(f'"{hit.words}" (taken as {hit.entry})')
        elif hit.kind == "loose" and hit.words.lower() != hit.term.lower():
            said.append(f'"{hit.words}" (like "{hit.term}")')
        else:
            said.append(f'"{hit.words}"')
    return "matched " + ", ".join(dict.fromkeys(said))


def _join(items: Iterable[str], word: str) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]
