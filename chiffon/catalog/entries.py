"""The playbook catalog and its inventory, loaded from a directory.

A catalog directory holds ``catalog.yml`` (the entries: id, description, tags, services,
typed variables with defaults, resource needs), the playbooks it names, and an Ansible
inventory, INI or YAML (``chiffon.catalog.inventory``; ``inventory:`` in catalog.yml names
it, ``inventory.yml`` by default). Loading parses files only: Ansible itself is imported by
the agent that runs the playbooks, never by planning.

A loaded catalog may also hold *staged* entries: playbooks generated for a run
(``chiffon.playbooks.generation``) whose files are still in a staging directory laid out
like the catalog root, awaiting approval. They are added to the one ``Catalog`` object the
process shares (planner, run, agent, display), so every holder sees the same entries; the
catalog's files on disk change only when an approved entry is installed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from chiffon.catalog.errors import CatalogError
from chiffon.catalog.inventory import Inventory, SourcedValue, load_inventory
from chiffon.catalog.plays import Play, read_plays, repository_values, same_value
from chiffon.catalog.requirements import Missing, missing_for

VariableType = Literal["str", "int", "float", "bool", "list", "duration", "size"]
"""``duration``: a number with a time unit, in the form Prometheus and systemd read ("30s",
"15m", "2h", "7d", "2w", "1y", "1h30m"); ``size``: a number with a byte unit ("512MB", "5GB").
A bare number is refused for both: "1800" does not say whether it is seconds or minutes."""
Risk = Literal["low", "medium", "high"]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variable(_Model):
    """A declared playbook variable. ``secret`` values are redacted wherever shown or stored."""

    type: VariableType = "str"
    default: Any = None
    description: str = ""
    secret: bool = False
    choices: tuple[Any, ...] | None = None
    pattern: str | None = Field(default=None, description="A regex a str value must match.")


class Resources(_Model):
    """What a step of this entry needs from the machine that runs it."""

    cpu_cores: float = 0.0
    memory_mb: int = 0
    gpu_vram_mb: int = 0


class Removal(_Model):
    """How an entry is taken away again: its own playbook (stop the service, delete what the
    deploy wrote), with its own variables. The catalog turns it into the entry
    ``remove-<id>``, which plans run like any other; a request to remove an entry without one
    is refused, never planned as a deploy."""

    playbook: str = Field(description="Path of the removal playbook, relative to the catalog root.")
    description: str = ""
    variables: dict[str, Variable] = Field(default_factory=dict)
    risk: Risk = "medium"


class CatalogEntry(_Model):
    """One playbook the planners may use."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    playbook: str = Field(description="Path of the playbook, relative to the catalog root.")
    description: str
    tags: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = Field(
        default=(), description="Other words people use for this entry (the catalog planner)."
    )
    hosts: str = Field(description="Default inventory group or host when the request names none.")
    after: tuple[str, ...] = Field(
        default=(), description="Entry ids that must run before this one when both are planned."
    )
    needs: tuple[str, ...] = Field(
        default=(), description="Entry ids whose result this one reads (e.g. monitors need Kuma)."
    )
    variables: dict[str, Variable] = Field(default_factory=dict)
    resources: Resources = Resources()
    risk: Risk = "low"
    executor: str = Field(
        default="ansible",
        pattern=r"^[a-z][a-z0-9-]{0,62}$",
        description="What carries its steps out (an executor of chiffon.agents.kinds): "
        "`ansible` runs the playbook; `shell-check` runs the read-only probes the file declares.",
    )
    run_tags: tuple[str, ...] = Field(
        default=(),
        description="Ansible tags the playbook runs with (`ansible-playbook --tags`): how an "
        "entry of a site playbook runs one role of it, not the whole playbook.",
    )
    flags: dict[str, bool | int | str] = Field(
        default_factory=dict,
        description="Extra variables every run of this entry sets, whatever the plan says: the "
        "feature flags (`jellyfin_enabled: true`) a site playbook's `when:` selects roles by.",
    )

    @model_validator(mode="after")
    def _flags_are_not_variables(self) -> CatalogEntry:
        for name in self.flags:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"flag {name!r} is not an Ansible variable name")
            if name in self.variables:
                raise ValueError(
                    f"{name!r} is both a flag (fixed) and a variable (set by plans): keep one"
                )
        for tag in self.run_tags:
            if not tag.strip() or "," in tag:
                raise ValueError(f"run tag {tag!r} must be one non-empty tag without commas")
        return self

    removal: Removal | None = Field(
        default=None, description="The playbook that removes what this entry deploys."
    )
    removes: str | None = Field(
        default=None,
        description="Set by the catalog on the entry it makes from another's `removal`: the id "
        "of the entry it removes. Not written in catalog.yml.",
    )

    def removal_entry(self) -> CatalogEntry | None:
        """The entry ``remove-<id>`` made from ``removal``; None without one."""
        if self.removal is None:
            return None
        r = self.removal
        return CatalogEntry(
            id=f"remove-{self.id}",
            playbook=r.playbook,
            description=r.description or f"Remove {self.id}: the removal playbook of {self.id}.",
            services=self.services,
            hosts=self.hosts,
            variables=dict(r.variables),
            risk=r.risk,
            executor=self.executor,
            removes=self.id,
        )


class Catalog(_Model):
    """A loaded catalog: its root directory, entries by id, and inventory."""

    root: Path
    entries: dict[str, CatalogEntry]
    inventory: Inventory
    # entry id -> (the root its files are under, the run that staged it)
    _staged: dict[str, tuple[Path, str]] = PrivateAttr(default_factory=dict)
    _version: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _references_exist(self) -> Catalog:
        for entry in self.entries.values():
            for other in (*entry.after, *entry.needs):
                if other not in self.entries:
                    raise ValueError(f"entry {entry.id!r} refers to unknown entry {other!r}")
            if not self.inventory.resolve(entry.hosts):
                raise ValueError(
                    f"entry {entry.id!r} targets {entry.hosts!r}, which the inventory lacks"
                )
        return self

    def deployable(self) -> list[str]:
        """The ids of the entries that deploy something (every entry but the removals the
        catalog made from ``removal``), in catalog order."""
        return [e.id for e in self.entries.values() if e.removes is None]

    def removal_of(self, entry_id: str) -> str | None:
        """The id of the entry that removes ``entry_id``; None when it declares no removal."""
        entry = self.entries.get(entry_id)
        if entry is None or entry.removal is None:
            return None
        return f"remove-{entry_id}"

    @property
    def version(self) -> int:
        """A number that changes whenever an entry is staged, installed or unstaged: what a
        planner compares to know its vocabulary is stale."""
        return self._version

    def base(self, entry_id: str) -> Path:
        """The root an entry's files are under: its staging directory while it is staged,
        else the catalog root."""
        staged = self._staged.get(entry_id)
        return staged[0] if staged is not None else self.root

    def playbook_path(self, entry_id: str) -> Path:
        """The playbook file of an entry, found by id (never a path joined from a message)."""
        return self.base(entry_id) / self.entries[entry_id].playbook

    @property
    def requirements_dir(self) -> Path:
        """Chiffon's own directory for the repository's ``requirements.yml``: ``roles/`` and
        ``collections/`` installed there by ``chiffon catalog requirements --install``, which
        ansible-playbook is pointed at. Inside the catalog root, ignored by git (its own
        ``.gitignore``), so the repository's files are left as they are."""
        return self.root / ".chiffon" / "requirements"

    def plays(self, entry_id: str) -> list[Play]:
        """The plays of the entry's playbook (``chiffon.catalog.plays.read_plays``)."""
        return read_plays(self.playbook_path(entry_id))

    def repository_values(
        self,
        entry_id: str,
        hosts: Sequence[str],
        variables: Mapping[str, Any] | None = None,
    ) -> dict[str, dict[str, SourcedValue]]:
        """For each variable the entry declares, the value the repository itself gives each
        of ``hosts`` and where (``chiffon.catalog.plays.repository_values``)."""
        entry = self.entries[entry_id]
        return repository_values(
            self.base(entry_id),
            self.playbook_path(entry_id),
            self.inventory,
            entry.variables,
            hosts,
            step_variables=variables,
            extra_roles=[self.requirements_dir / "roles"],
        )

    def missing_requirements(self, entry_id: str) -> list[Missing]:
        """The roles and collections the entry's playbook needs that are not installed
        (``chiffon.catalog.requirements.missing_for``). Raises ``CatalogError`` for a
        playbook that cannot be read."""
        return missing_for(
            self.base(entry_id), self.playbook_path(entry_id),
            requirements_dir=self.requirements_dir, catalog_root=self.root,
        )  # fmt: skip

    def passed_variables(
        self, entry_id: str, hosts: Sequence[str], variables: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The step's variables Ansible must be given as extra vars (which override
        everything else): a value the step sets that is not what the repository already
        gives each of ``hosts``, and a declared default the repository does not set on every
        host. A value equal to the repository's own is left out, the repository's
        precedence kept. Raises ``CatalogError`` for a playbook that cannot be read."""
        entry = self.entries[entry_id]
        repository = self.repository_values(entry_id, hosts, variables) if hosts else {}
        out: dict[str, Any] = {}
        for name, var in entry.variables.items():
            own = repository.get(name, {})
            everywhere = bool(hosts) and all(h in own for h in hosts)
            if name in variables:
                value = variables[name]
                if not (everywhere and all(same_value(value, own[h].value) for h in hosts)):
                    out[name] = value
            elif var.default is not None and not everywhere:
                out[name] = var.default
        return out

    def variable_sources(
        self, entry_id: str, hosts: Sequence[str], variables: Mapping[str, Any]
    ) -> dict[str, str]:
        """Where each declared variable's value comes from on a run of the step: ``plan``
        (passed as an extra var), ``catalog default`` (passed: the repository lacks it), or
        the repository's own place (``group_vars/media.yml:2 (group media)``; ``per host:
        …`` when hosts differ). A variable nobody sets is absent. Unreadable playbook:
        empty (validation says why)."""
        try:
            passed = self.passed_variables(entry_id, hosts, variables)
            repository = self.repository_values(entry_id, hosts, variables) if hosts else {}
        except CatalogError:
            return {}
        root = self.base(entry_id)
        out: dict[str, str] = {}
        for name in self.entries[entry_id].variables:
            if name in passed:
                out[name] = "plan" if name in variables else "catalog default"
                continue
            places = {h: v.where(root) for h, v in repository.get(name, {}).items()}
            if len(set(places.values())) == 1:
                out[name] = next(iter(places.values()))
            elif places:
                out[name] = "per host: " + "; ".join(f"{h} {w}" for h, w in places.items())
        return out

    def files(self, entry_id: str) -> list[Path]:
        """The entry's playbook and every file under its directory's roles, templates and
        files: what ``digest`` covers, in that order."""
        playbook = self.playbook_path(entry_id)
        files = [playbook]
        base = playbook.parent
        for sub in ("roles", "templates", "files"):
            folder = base / sub
            if folder.is_dir():
                files.extend(p for p in sorted(folder.rglob("*")) if p.is_file())
        return files

    def digest(self, entry_id: str) -> str:
        """sha256 over the entry's files (``files``), each named relative to the root it is
        under: what an approval of this entry's step approves. A staged entry has the digest
        it will have once installed."""
        root = self.base(entry_id)
        h = hashlib.sha256()
        for path in self.files(entry_id):
            h.update(str(path.relative_to(root)).encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
        return "sha256:" + h.hexdigest()

    def stage(self, entry: CatalogEntry, root: Path, owner: str) -> None:
        """Add a generated entry whose files are under ``root`` (``root / entry.playbook``),
        staged by ``owner`` (a run id). Raises ``CatalogError`` when the id is taken, the
        playbook is missing, or the entry targets hosts the inventory lacks."""
        if entry.id in self.entries:
            raise CatalogError(f"cannot stage {entry.id!r}: the catalog already has it")
        if not (root / entry.playbook).is_file():
            raise CatalogError(f"cannot stage {entry.id!r}: {root / entry.playbook} is missing")
        if (outside := outside_of(root.resolve(), entry.playbook)) is not None:
            raise CatalogError(f"cannot stage {entry.id!r}: its playbook resolves to {outside}")
        if not self.inventory.resolve(entry.hosts):
            raise CatalogError(
                f"cannot stage {entry.id!r}: it targets {entry.hosts!r}, which the inventory lacks"
            )
        self._staged[entry.id] = (root.resolve(), owner)
        self.entries[entry.id] = entry
        self._version += 1

    def staged(self, entry_id: str) -> Path | None:
        """The staging root of a staged entry; None for an installed or unknown one."""
        staged = self._staged.get(entry_id)
        return staged[0] if staged is not None else None

    def staged_by(self, owner: str) -> list[str]:
        """The ids of the entries ``owner`` staged and that are still staged."""
        return [entry_id for entry_id, (_, who) in self._staged.items() if who == owner]

    def mark_installed(self, entry_id: str) -> None:
        """The staged entry's files are now under the catalog root: resolve them there."""
        if self._staged.pop(entry_id, None) is not None:
            self._version += 1

    def unstage(self, entry_id: str) -> None:
        """Forget a staged entry (its run is over without installing it). An installed or
        unknown id is left alone."""
        if self._staged.pop(entry_id, None) is not None:
            self.entries.pop(entry_id, None)
            self._version += 1


def _with_removal(entry: CatalogEntry, index: Path) -> list[CatalogEntry]:
    try:
        removal = entry.removal_entry()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogError(
            f"{index}: entry {entry.id!r}: its removal entry: {where}: {first['msg']}"
        ) from None
    return [entry] if removal is None else [entry, removal]


def load_catalog(root: Path | str) -> Catalog:
    """Load ``root/catalog.yml`` and its inventory. Raises ``CatalogError`` naming the file
    and the problem."""
    root = Path(root).resolve()
    index = root / "catalog.yml"
    try:
        data = yaml.load(index.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise CatalogError(f"{root} is not a catalog: it has no catalog.yml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{index}:{mark.line + 1}" if mark is not None else str(index)
        raise CatalogError(f"{at}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise CatalogError(f"{index}: expected a mapping with an `entries` list")
    inventory = read_inventory(root / str(data.get("inventory", "inventory.yml")), index)
    entries: dict[str, CatalogEntry] = {}
    for n, raw in enumerate(data["entries"]):
        try:
            entry = CatalogEntry.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            at = _line_of(index, ("entries", n, *first["loc"]))
            raise CatalogError(f"{at}: entry {n + 1}: {where}: {first['msg']}") from None
        if entry.removes is not None:
            at = _line_of(index, ("entries", n, "removes"))
            raise CatalogError(
                f"{at}: entry {entry.id!r}: `removes` is set by the catalog from another "
                "entry's `removal`, not written in catalog.yml"
            )
        for one in _with_removal(entry, index):
            where_id = ("entries", n, "removal") if one.removes else ("entries", n, "id")
            if one.id in entries:
                at = _line_of(index, where_id)
                raise CatalogError(f"{at}: entry id {one.id!r} appears twice")
            key = (
                ("entries", n, "removal", "playbook") if one.removes else ("entries", n, "playbook")
            )
            what = "removal playbook" if one.removes else "playbook"
            if not (root / one.playbook).is_file():
                at = _line_of(index, key)
                raise CatalogError(f"{at}: entry {entry.id!r}: {what} {one.playbook} is missing")
            if (outside := outside_of(root, one.playbook)) is not None:
                at = _line_of(index, key)
                raise CatalogError(
                    f"{at}: entry {entry.id!r}: {what} {one.playbook} is outside the catalog "
                    f"(it resolves to {outside}): an entry's files stay under {root}"
                )
            entries[one.id] = one
    try:
        return Catalog(root=root, entries=entries, inventory=inventory)
    except ValidationError as exc:
        raise CatalogError(f"{index}: {exc.errors()[0]['msg']}") from None


def outside_of(root: Path, relative: str) -> Path | None:
    """Where ``root / relative`` really is (``..`` and symlinks followed) when that is not
    under ``root`` (which is resolved); ``None`` when it is."""
    real = (root / relative).resolve()
    return None if real.is_relative_to(root) else real


def read_inventory(path: Path, index: Path) -> Inventory:
    """The inventory at ``path`` (named by the catalog ``index``), INI or YAML
    (``chiffon.catalog.inventory``). Raises ``CatalogError``; ``InventoryError`` names the
    inventory's file and line."""
    if not path.exists():
        raise CatalogError(f"{index}: inventory {path} does not exist")
    return load_inventory(path)


def _line_of(index: Path, loc: tuple[Any, ...]) -> str:
    """``index:LINE`` for the value at ``loc`` (only on an error path: it reads the file
    again)."""
    from chiffon.catalog.checking import line_at

    try:
        node = yaml.compose(index.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return str(index)
    return f"{index}:{line_at(node, loc)}" if node is not None else str(index)
