"""The built-in table of well-known homelab services (``known_services.yml``): what a request
that names one the catalog lacks ("Deploy Jellyfin") is generated from.

``find_known`` reads words of a request the catalog did not match and answers the services
they name: by name, title or synonym, plurals and word order as the catalog planner reads
them, and misspellings of a name ("jellyfn").
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from chiffon.catalog import Resources
from chiffon.catalog.matching import allowed_typos, edit_distance, tokenize
from chiffon.playbooks.generation.spec import DEFAULT_RESOURCES, ServiceSpec, service_spec

TABLE = Path(__file__).with_name("known_services.yml")


class KnownService(BaseModel):
    """One row of the table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    description: str
    synonyms: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    image: str
    port: int
    container_port: int | None = None
    volumes: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    healthcheck: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    resources: Resources = DEFAULT_RESOURCES

    def spec(self) -> ServiceSpec:
        """The service as a checked ``ServiceSpec`` (the table is checked by a test, so this
        raises only for a table edited badly: the ``service_spec`` errors)."""
        return service_spec(
            self.name,
            image=self.image,
            port=self.port,
            container_port=self.container_port,
            volumes=self.volumes,
            env=self.env,
            title=self.title,
            description=self.description,
            tags=self.tags,
            synonyms=self.synonyms,
            prefer_hosts=self.hosts,
            healthcheck=self.healthcheck,
            resources=self.resources,
        )

    def terms(self) -> tuple[str, ...]:
        return (self.name, self.title, *self.synonyms)


@functools.cache
def known_services() -> tuple[KnownService, ...]:
    """The table, loaded once per process."""
    data = yaml.safe_load(TABLE.read_text())
    return tuple(KnownService.model_validate(row) for row in data["services"])


def find_known(words: str) -> tuple[KnownService, ...]:
    """The known services ``words`` name: exact terms (the longest wins) before misspelt
    names (one edit); empty when none. More than one means the words are ambiguous."""
    keys = [t.key for t in tokenize(words)]
    if not keys:
        return ()
    spans = {"".join(keys[i:j]) for i in range(len(keys)) for j in range(i + 1, len(keys) + 1)}
    best: dict[str, int] = {}
    for service in known_services():
        for term in service.terms():
            key = "".join(t.key for t in tokenize(term))
            if key in spans:
                best[service.name] = max(best.get(service.name, 0), len(key))
    if best:
        longest = max(best.values())
        return tuple(s for s in known_services() if best.get(s.name) == longest)
    # One edit at most, on names of five letters or more: a service generated for a word that
    # only looked like its name ("freshness" for FreshRSS) would be a wrong proposal.
    typos = []
    for service in known_services():
        key = "".join(t.key for t in tokenize(service.name))
        if allowed_typos(key) and any(len(k) >= 5 and edit_distance(k, key, 1) <= 1 for k in keys):
            typos.append(service)
    return tuple(typos)
