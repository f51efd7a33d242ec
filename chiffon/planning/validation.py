"""Validate a plan against the catalog and the inventory, and normalise it.

Every plan, whoever wrote it (the catalog planner, a model, a hand-built test), passes through
``validate_plan`` before anyone sees it. A valid plan comes back normalised, so validating it
again gives the same plan:

- variables coerced to their declared types, declared defaults filled in;
- hosts expanded from groups to inventory host names, in order, without duplicates;
- each step checked against its playbook's plays: every step runs with ``--limit`` its
  hosts, so each host must be one a play of the playbook targets (a play of ``hosts:
  media`` cannot run "on pi2" when pi2 is not in media), and a ``hosts:`` templated with
  anything but ``chiffon_hosts``, the step's variables or a ``default('…')`` is refused;
- a role or collection the playbook needs that is not installed is refused, with Ansible's
  line for it and the command that installs it (``chiffon catalog requirements --install``);
- a variable the planner did not set takes the repository's own value when the repository
  gives every host of the step the same one (group_vars, host_vars, role defaults, play
  vars), is left to the repository when its hosts' values differ or cannot be read before
  the run, and takes the catalog's default only when the repository does not set it;
- each step's ``digest`` set from the catalog (what an approval of the step approves);
- steps ordered so that each runs after the entries its catalog ``after`` and ``needs`` list,
  when those are in the plan too (otherwise the planner's order is kept);
- the plan's risk set to the highest risk of its entries.

A step whose ``needs`` entry is absent from the plan is allowed: the request may rely on an
earlier run having deployed it ("add the portals to Kuma's monitors"), and when it did not,
the playbook itself fails with a clear message on the agent. Nothing else is allowed through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from chiffon.catalog import Catalog, CatalogEntry, CatalogError, SourcedValue, Variable
from chiffon.catalog.plays import Unresolvable, pattern_hosts, play_hosts
from chiffon.catalog.requirements import fix_command
from chiffon.catalog.units import UnitError, duration, size
from chiffon.planning.errors import InvalidPlan
from chiffon.protocol import Plan, PlanStep
from chiffon.protocol.plan import Scalar, VariableValue

MAX_STR = 1000
"""The longest str value a plan may carry (a value, never a script)."""

REDACTED = "***"

_RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
_INT = re.compile(r"^[+-]?[0-9]+$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class _Bad(Exception):
    """A variable value that cannot be used; the message is the reason's tail."""


def validate_plan(
    plan: Plan, catalog: Catalog, *, digest: Callable[[str], str] | None = None
) -> Plan:
    """The plan, normalised, when every step names a catalog entry, inventory hosts and the
    entry's declared variables with values of the declared types.

    ``digest`` maps an entry id to its playbook digest; it defaults to ``catalog.digest``
    (which reads the playbook's files). Raises ``InvalidPlan`` whose ``reasons`` list every
    problem found, one sentence each.
    """
    digest = digest or catalog.digest
    reasons: list[str] = []
    if not plan.steps:
        reasons.append("the plan has no steps")
    steps: list[PlanStep] = []
    claimed: dict[tuple[str, str], int] = {}
    for n, step in enumerate(plan.steps, start=1):
        where = f"step {n} ({step.playbook})"
        entry = catalog.entries.get(step.playbook)
        if entry is None:
            reasons.append(
                f'step {n}: unknown playbook "{step.playbook}": the catalog has no such entry'
            )
        hosts = _hosts(step.hosts, catalog, where, reasons)
        for host in hosts:
            first = claimed.setdefault((step.playbook, host), n)
            if first != n:
                reasons.append(
                    f'{where}: playbook "{step.playbook}" already runs on host "{host}" '
                    f"in step {first}"
                )
        if entry is None:
            continue
        if not hosts:
            _variables(step.variables, entry, where, reasons, {}, hosts)
            continue
        repository = _repository(catalog, entry, hosts, step.variables, where, reasons)
        variables = _variables(step.variables, entry, where, reasons, repository, hosts)
        _targeted(catalog, entry, hosts, variables, where, reasons)
        _installed(catalog, entry, where, reasons)
        try:
            step_digest = digest(entry.id)
        except OSError as exc:
            reasons.append(f'{where}: the files of playbook "{entry.id}" cannot be read: {exc}')
            continue
        steps.append(
            PlanStep(
                playbook=entry.id,
                hosts=hosts,
                variables=variables,
                reason=step.reason,
                digest=step_digest,
            )
        )
    if reasons:
        raise InvalidPlan(reasons)
    ordered = _ordered(steps, catalog, reasons)
    if reasons:
        raise InvalidPlan(reasons)
    risk = max((catalog.entries[s.playbook].risk for s in ordered), key=_RISK_ORDER.__getitem__)
    return Plan(
        request=plan.request,
        steps=tuple(ordered),
        summary=plan.summary,
        planner=plan.planner,
        confidence=plan.confidence,
        risk=risk,
    )


def secret_variables(catalog: Catalog, entry_id: str) -> set[str]:
    """The names of the entry's variables marked ``secret`` (empty for an unknown id)."""
    entry = catalog.entries.get(entry_id)
    if entry is None:
        return set()
    return {name for name, var in entry.variables.items() if var.secret}


DEFAULT_SECRET = "default, change it"
"""How a secret variable left at the catalog's default is shown: the default goes out, and
whoever approves should know it (a ``change-me`` hidden behind ``***`` looks chosen)."""


def render_variables(step: PlanStep, catalog: Catalog) -> dict[str, VariableValue]:
    """The step's variables for display: secret values replaced by ``"***"``, and a secret
    variable at its catalog default (set to it, or left out: the agent fills it in) shown as
    ``DEFAULT_SECRET``."""
    entry = catalog.entries.get(step.playbook)
    declared = entry.variables if entry is not None else {}
    shown: dict[str, VariableValue] = {}
    for k, v in step.variables.items():
        var = declared.get(k)
        if var is None or not var.secret:
            shown[k] = v
        else:
            shown[k] = DEFAULT_SECRET if v == var.default else REDACTED
    for k, var in declared.items():
        if var.secret and k not in shown and var.default not in (None, ""):
            shown[k] = DEFAULT_SECRET
    return shown


def _hosts(
    targets: tuple[str, ...], catalog: Catalog, where: str, reasons: list[str]
) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for target in targets:
        members = catalog.inventory.resolve(target)
        if not members:
            reasons.append(f'{where}: host "{target}" is not in the inventory')
        seen.update(dict.fromkeys(members))
    return tuple(seen)


def _checked_playbook(catalog: Catalog, entry: CatalogEntry) -> bool:
    # Plays are read for Ansible entries whose file exists (a test catalog may hand in
    # digests for files it never wrote; a missing file is the digest's reason).
    return entry.executor == "ansible" and catalog.playbook_path(entry.id).is_file()


def _repository(
    catalog: Catalog,
    entry: CatalogEntry,
    hosts: tuple[str, ...],
    given: Mapping[str, Any],
    where: str,
    reasons: list[str],
) -> dict[str, dict[str, SourcedValue]]:
    if not entry.variables or not _checked_playbook(catalog, entry):
        return {}
    try:
        return catalog.repository_values(entry.id, hosts, given)
    except CatalogError as exc:
        reasons.append(f"{where}: {exc}")
        return {}


def _targeted(
    catalog: Catalog,
    entry: CatalogEntry,
    hosts: tuple[str, ...],
    variables: Mapping[str, Any],
    where: str,
    reasons: list[str],
) -> None:
    """Every host of the step is one a play of the playbook runs on under ``--limit``."""
    if not _checked_playbook(catalog, entry):
        return
    try:
        plays = catalog.plays(entry.id)
    except CatalogError as exc:
        reasons.append(f"{where}: {exc}")
        return
    root = catalog.base(entry.id)
    reached: set[str] = set()
    for play in plays:
        try:
            reached.update(play_hosts(play, catalog.inventory, hosts, variables))
        except Unresolvable as exc:
            reasons.append(
                f'{where}: {play.where(root)} targets "{play.hosts}", which depends on '
                f'"{exc}", known only once the run starts: the run could not be held to the '
                "plan's hosts. Target an inventory group, or "
                "\"{{ chiffon_hosts | default('GROUP') }}\""
            )
            return
    missing = [h for h in hosts if h not in reached]
    if missing:
        described = "; ".join(
            f'{play.where(root)} targets "{play.hosts}" '
            f"({', '.join(_safe_targets(catalog, play.hosts)) or 'no host'})"
            for play in plays
        )
        reasons.append(
            f"{where}: no play of {entry.playbook} runs on "
            f"{', '.join(repr(h) for h in missing)}, so the run would do nothing there: "
            f"{described or 'it has no plays'}"
        )


def _installed(catalog: Catalog, entry: CatalogEntry, where: str, reasons: list[str]) -> None:
    """Every role and collection the playbook needs is installed: said before approval, in
    Ansible's words, with the command that installs it."""
    if not _checked_playbook(catalog, entry):
        return
    try:
        missing = catalog.missing_requirements(entry.id)
    except CatalogError:
        return  # _targeted reported the unreadable playbook
    for item in missing:
        reasons.append(
            f"{where}: {item.kind} {item.name} (used at {item.used_at}) is not installed: "
            f"{item.reason}. Fix: {fix_command(catalog.root, item)}"
        )


def _safe_targets(catalog: Catalog, pattern: str) -> tuple[str, ...]:
    try:
        return pattern_hosts(catalog.inventory, pattern)
    except Exception:  # a templated pattern reads as no inventory name
        return ()


def _variables(
    given: Mapping[str, Any],
    entry: CatalogEntry,
    where: str,
    reasons: list[str],
    repository: Mapping[str, Mapping[str, SourcedValue]],
    hosts: tuple[str, ...],
) -> dict[str, VariableValue]:
    # Declared order, so two plans with the same values print the same way.
    out: dict[str, VariableValue] = {}
    for name in given:
        if name not in entry.variables:
            reasons.append(f'{where}: variable "{name}" is not declared by playbook "{entry.id}"')
    for name, var in entry.variables.items():
        if name in given:
            try:
                out[name] = _coerce(given[name], var)
            except _Bad as exc:
                reasons.append(f'{where}: variable "{name}" {exc}')
        elif hosts and all(h in repository.get(name, {}) for h in hosts):
            # The repository sets it on every host: its value, when it is one plain value
            # (shown in the plan, and not passed to Ansible since it is the same); otherwise
            # nothing, and the repository's precedence decides on each host. (Set on some
            # hosts only, the catalog's default is what the others need: it is used.)
            own = _one_value(repository[name], var)
            if own is not None:
                out[name] = own
        elif var.default is not None:
            try:
                out[name] = _coerce(var.default, var)
            except _Bad as exc:  # a catalog whose default breaks its own rule
                reasons.append(f'{where}: the default of variable "{name}" {exc}')
    return out


def _one_value(per_host: Mapping[str, SourcedValue], var: Variable) -> VariableValue | None:
    values = [sourced.value for sourced in per_host.values()]
    first = values[0]
    if any(v != first or type(v) is not type(first) for v in values[1:]):
        return None
    if isinstance(first, str) and ("{{" in first or "{%" in first):
        return None
    try:
        return _coerce(first, var)
    except _Bad:
        return None


def _coerce(value: Any, var: Variable) -> VariableValue:
    result: VariableValue
    if var.type == "list":
        items = value if isinstance(value, list | tuple) else _split(value)
        result = [_scalar(item) for item in items]
        for item in result:
            _check(item, var)
        return result
    result = _typed(value, var.type)
    _check(result, var)
    return result


def _split(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [part for part in re.split(r"[,\s]+", value) if part]
    return [value]


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n").replace("\0", "\\0")
    return f'"{text[:60]}…"' if len(text) > 60 else f'"{text}"'


def _scalar(value: Any) -> Scalar:
    if isinstance(value, str | bool | int):
        return _safe(value) if isinstance(value, str) else value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _Bad(f"must hold plain values, not {_shown(value)}")


def _safe(text: str) -> str:
    # A model never produces commands: a value is one short line.
    if "\n" in text or "\r" in text or "\0" in text:
        raise _Bad(f"must be one line without NUL characters, not {_shown(text)}")
    if len(text) > MAX_STR:
        raise _Bad(f"must be at most {MAX_STR:,} characters, not {len(text):,}")
    return text


def _typed(value: Any, type_: str) -> Scalar:
    wrong = _Bad(f"must be {type_}, not {_shown(value)}")
    if isinstance(value, str):
        value = _safe(value)
    if type_ == "str":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise wrong
        return value if isinstance(value, str) else str(value)
    if type_ == "int":
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.match(value.strip()):
            return int(value.strip())
        raise wrong
    if type_ == "float":
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise wrong from None
        else:
            raise wrong
        if not math.isfinite(number):
            raise wrong
        return number
    if type_ in ("duration", "size"):
        try:
            return duration(value) if type_ == "duration" else size(value)
        except UnitError as exc:
            raise _Bad(str(exc)) from None
    if type_ == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise wrong
    raise wrong


def _check(value: Scalar, var: Variable) -> None:
    if var.choices is not None and value not in var.choices:
        allowed = ", ".join(str(c) for c in var.choices)
        raise _Bad(f"must be one of {allowed}, not {_shown(value)}")
    if var.pattern is not None and isinstance(value, str) and not re.fullmatch(var.pattern, value):
        raise _Bad(f"must match {var.pattern}, not {_shown(value)}")


def _ordered(steps: list[PlanStep], catalog: Catalog, reasons: list[str]) -> list[PlanStep]:
    """A stable topological order: repeatedly take the first step whose predecessors in the
    plan have all been taken."""
    present = {s.playbook for s in steps}
    before = {
        s.playbook: {
            p
            for p in (*catalog.entries[s.playbook].after, *catalog.entries[s.playbook].needs)
            if p in present and p != s.playbook
        }
        for s in steps
    }
    remaining = list(steps)
    left = {p: sum(1 for s in steps if s.playbook == p) for p in present}
    out: list[PlanStep] = []
    while remaining:
        for i, step in enumerate(remaining):
            if all(left[p] == 0 for p in before[step.playbook]):
                out.append(remaining.pop(i))
                left[step.playbook] -= 1
                break
        else:
            stuck = ", ".join(f'"{s.playbook}"' for s in remaining)
            reasons.append(
                f"playbooks {stuck} cannot be ordered: the catalog makes each run after another"
            )
            return out
    return out
