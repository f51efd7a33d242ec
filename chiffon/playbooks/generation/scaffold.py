"""The files of a generated entry, rendered from the templates next to this module.

A generated entry lives in a directory of its own, laid out the same wherever it is
(a temporary directory while it is checked, a run's staging directory while it awaits
approval, the catalog once installed)::

    generated/<name>/<name>.yml                    the playbook: hosts, gather_facts, the role
    generated/<name>/roles/<role>/defaults/main.yml
    generated/<name>/roles/<role>/tasks/main.yml
    generated/<name>/roles/<role>/handlers/main.yml
    generated/<name>/roles/<role>/templates/compose.yaml.j2
    generated/<name>/roles/<role>/templates/<name>.env.j2

One directory per entry keeps its digest (``Catalog.digest``: the playbook and the ``roles``
folder next to it) to its own files: adding a generated entry changes no other entry's digest,
and moving the directory from staging into the catalog keeps its own.

The templates are Jinja2 with ``[[ ]]`` and ``[% %]`` delimiters, so the Ansible Jinja they
produce (``{{ }}``) is written as it is. jinja2 is imported when rendering, not before.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from chiffon.catalog import CatalogEntry
from chiffon.playbooks.generation.errors import UnknownTarget
from chiffon.playbooks.generation.spec import ServiceSpec

GENERATED = "generated"
"""The catalog folder generated entries live in."""

TEMPLATES = Path(__file__).with_name("templates")

_TARGET = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclasses.dataclass(frozen=True, slots=True)
class Scaffold:
    """A rendered entry: its catalog metadata and its files, relative to the root they were
    written under (``generated/<name>/…``)."""

    entry: CatalogEntry
    files: tuple[PurePosixPath, ...]

    @property
    def directory(self) -> PurePosixPath:
        return entry_directory(self.entry.id)

    @property
    def tasks(self) -> PurePosixPath:
        """The role's tasks file: what a reviewer reads first."""
        return next(f for f in self.files if f.parts[-2:] == ("tasks", "main.yml"))


def entry_directory(name: str) -> PurePosixPath:
    """Where a generated entry's files live, relative to a catalog (or staging) root."""
    return PurePosixPath(GENERATED, name)


def catalog_entry(spec: ServiceSpec, hosts: str) -> CatalogEntry:
    """The catalog entry of a generated service targeting ``hosts`` by default."""
    return CatalogEntry(
        id=spec.name,
        playbook=str(entry_directory(spec.name) / f"{spec.name}.yml"),
        description=spec.description,
        tags=spec.tags,
        services=(spec.name,),
        synonyms=spec.synonyms,
        hosts=hosts,
        variables=spec.variables(),
        resources=spec.resources,
        risk=spec.risk,
    )


def render(spec: ServiceSpec, hosts: str) -> dict[PurePosixPath, str]:
    """The entry's files (path relative to the root -> text), in the order a reviewer reads
    them. Raises ``UnknownTarget`` for a target that cannot be written into a play."""
    if not _TARGET.match(hosts):
        raise UnknownTarget(hosts, [])
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    # JSON strings are YAML double-quoted scalars: any value is written safely quoted.
    environment.filters["yaml"] = _json
    environment.filters["json"] = _json
    conventions = ["homelab_srv", "homelab_pending_actions", "compose_restart_policy"]
    if any(not volume.relative for volume in spec.volumes):
        conventions.append("homelab_prefix")
    context: dict[str, Any] = {"spec": spec, "hosts": hosts, "conventions": conventions}
    base = entry_directory(spec.name)
    role = base / "roles" / spec.role
    layout = {
        base / f"{spec.name}.yml": "playbook.yml.tmpl",
        role / "tasks" / "main.yml": "tasks.yml.tmpl",
        role / "handlers" / "main.yml": "handlers.yml.tmpl",
        role / "defaults" / "main.yml": "defaults.yml.tmpl",
        role / "templates" / "compose.yaml.j2": "compose.yaml.j2.tmpl",
        role / "templates" / f"{spec.name}.env.j2": "env.j2.tmpl",
    }
    return {path: environment.get_template(name).render(context) for path, name in layout.items()}


def write(spec: ServiceSpec, hosts: str, root: Path) -> Scaffold:
    """Render the entry and write its files under ``root`` (``root/generated/<name>/…``).
    Raises ``UnknownTarget`` and ``OSError``."""
    files = render(spec, hosts)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Scaffold(catalog_entry(spec, hosts), tuple(files))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
