"""Secrets of requests and plans, sealed before anything is stored (``chiffon.sealing``).

- ``request_secrets``: the values a request gives secret variables ("admin password
  hunter2", "grafana_admin_password=hunter2"), found the way the catalog planner finds them;
  ``seal_request`` puts their tokens in their place, before the request is journaled — so the
  text kept in the database, the trail, logs and answers never holds them, while the planner,
  opening the text, reads what was typed.
- ``seal_plan``: a validated plan as it is stored, shown and sent: secret variables holding
  the catalog's default are left out (the agent fills defaults in at execution, so a default
  password is never stored — and is shown as a default to change), other secret values are
  sealed, and the request, summary and reasons hold no secret.
"""

from __future__ import annotations

from collections.abc import Iterable

from chiffon.catalog import Catalog
from chiffon.planning.extraction import Extractor
from chiffon.planning.validation import secret_variables
from chiffon.protocol.plan import Plan, PlanStep, VariableValue
from chiffon.sealing import Sealer, is_sealed, redacted, shown


def request_secrets(catalog: Catalog, text: str) -> list[str]:
    """The values ``text`` gives to variables some catalog entry declares secret."""
    extractor = Extractor(catalog)
    taken = [(h.start, h.end) for h in extractor.hosts(text)]
    found: list[str] = []
    for mention in extractor.values(text, taken):
        if any(
            (name := mention.variable(entry)) is not None and entry.variables[name].secret
            for entry in catalog.entries.values()
        ) and isinstance(mention.value, str | int | float):
            found.append(str(mention.value))
    return found


def secrets_for(catalog: Catalog, text: str, entry_id: str) -> dict[str, VariableValue]:
    """The values ``text`` gives to the secret variables of entry ``entry_id``: what the LLM
    planner sets itself, since a model is never shown a secret nor asked for one."""
    entry = catalog.entries.get(entry_id)
    if entry is None:
        return {}
    extractor = Extractor(catalog)
    taken = [(h.start, h.end) for h in extractor.hosts(text)]
    found: dict[str, VariableValue] = {}
    for mention in extractor.values(text, taken):
        name = mention.variable(entry)
        if name is not None and entry.variables[name].secret:
            found.setdefault(name, mention.value)
    return found


def without_secrets(catalog: Catalog, text: str) -> str:
    """``text`` with the secrets it gives replaced by ``***``: what a model is shown."""
    return redacted(text, request_secrets(catalog, text))


def seal_request(catalog: Catalog, text: str, sealer: Sealer) -> str:
    """``text`` with the secrets it gives replaced by their sealed tokens."""
    return sealer.seal_text(text, request_secrets(catalog, text))


def seal_plan(plan: Plan, catalog: Catalog, sealer: Sealer, request: str | None = None) -> Plan:
    """``plan`` as it is kept: see the module's docstring. ``request``: the request as stored
    (sealed); by default, the plan's own with its secrets found again."""
    known = set(request_secrets(catalog, sealer.open_text(plan.request)))
    steps: list[PlanStep] = []
    for step in plan.steps:
        hidden = secret_variables(catalog, step.playbook)
        declared = catalog.entries[step.playbook].variables if hidden else {}
        variables: dict[str, VariableValue] = {}
        for name, value in step.variables.items():
            if name not in hidden:
                variables[name] = value
                continue
            plain = sealer.open(value) if isinstance(value, str) and is_sealed(value) else value
            if plain == declared[name].default:
                continue  # resolved at execution from the catalog: never stored
            if isinstance(plain, str):
                known.add(plain)
                variables[name] = sealer.seal(plain)
            else:  # a typed secret (a number): its value is what runs; the text never shows it
                known.add(str(plain))
                variables[name] = plain
        steps.append(step.model_copy(update={"variables": variables}))
    text = shown(request if request is not None else sealer.seal_text(plan.request, known))
    return plan.model_copy(
        update={
            "request": _clean(text, known),
            "summary": _clean(plan.summary, known),
            "steps": tuple(s.model_copy(update={"reason": _clean(s.reason, known)}) for s in steps),
        }
    )


def _clean(text: str, secrets: Iterable[str]) -> str:
    return redacted(shown(text), secrets)
