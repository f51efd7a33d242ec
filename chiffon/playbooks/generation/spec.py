"""What a generated playbook is made from: a service, its pinned image, its port, its volumes
and environment, and the catalog metadata of its entry.

``service_spec`` checks every part and raises the error that names what is wrong, so that
nothing is written for a bad argument. Names derive from the service: the catalog id is the
service name (``uptime-kuma``), the role and the variables' prefix are its snake case
(``uptime_kuma``, ``uptime_kuma_image``) because ansible-lint wants role names and role
variables that way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Literal

from chiffon.catalog import Catalog, Resources, Risk, Variable
from chiffon.playbooks.generation.errors import (
    InvalidEnv,
    InvalidImage,
    InvalidServiceName,
    InvalidVolume,
    PortOutOfRange,
    UnknownTarget,
)

MAX_NAME = 40
MAX_VALUE = 1000

_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest].
_IMAGE = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9][a-zA-Z0-9.-]*(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_PATH_PART = re.compile(r"^[A-Za-z0-9._-]+$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEMPLATE_MARKERS = ("{{", "{%", "{#", "}}", "%}", "#}")
# Words of an environment key that say its value is a secret (ADMIN_TOKEN, DB_PASSWORD).
_SECRET_WORDS = frozenset(
    [
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "KEY",
        "APIKEY",
        "PRIVATE",
        "CREDENTIAL",
        "CREDENTIALS",
        "SALT",
    ]
)
# A value that looks like a generated token: long, one "word" of token characters, letters
# and digits both, no dots (a host name is not a secret).
_TOKEN_VALUE = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/=_-]{20,}$")

DEFAULT_RESOURCES = Resources(cpu_cores=0.5, memory_mb=512)


@dataclasses.dataclass(frozen=True, slots=True)
class Volume:
    """A bind mount: ``host`` relative (a directory under the service's directory) or
    absolute (under ``homelab_prefix``), ``container`` absolute."""

    host: str
    container: str
    mode: Literal["rw", "ro"] = "rw"

    @property
    def relative(self) -> bool:
        return not self.host.startswith("/")

    def __str__(self) -> str:
        suffix = ":ro" if self.mode == "ro" else ""
        return f"{self.host}:{self.container}{suffix}"


@dataclasses.dataclass(frozen=True, slots=True)
class EnvVar:
    """One variable of the service's environment file, and the catalog variable holding it."""

    key: str
    value: str
    secret: bool
    variable: str


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A checked description of a service to generate (build it with ``service_spec``)."""

    name: str
    title: str
    image: str
    port: int
    container_port: int
    volumes: tuple[Volume, ...]
    env: tuple[EnvVar, ...]
    description: str
    tags: tuple[str, ...]
    synonyms: tuple[str, ...]
    hosts: str | None
    """The inventory group or host the entry targets by default; None: chosen from the
    catalog (``default_target``)."""
    prefer_hosts: tuple[str, ...]
    """Groups to try, in order, before the catalog's usual one (from the known services)."""
    healthcheck: tuple[str, ...]
    resources: Resources
    risk: Risk

    @property
    def role(self) -> str:
        """The role's name, also the prefix of every variable: the name in snake case."""
        return self.name.replace("-", "_")

    @property
    def image_variable(self) -> str:
        return f"{self.role}_image"

    @property
    def port_variable(self) -> str:
        return f"{self.role}_port"

    @property
    def secret_keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.env if e.secret)

    def variables(self) -> dict[str, Variable]:
        """The entry's declared variables: port first (requests' "on port N" binds to the
        first variable ending in ``_port``), image, then one per environment key."""
        out = {
            self.port_variable: Variable(
                type="int", default=self.port, description="Host port the service listens on."
            ),
            self.image_variable: Variable(
                type="str", default=self.image, description="Container image, pinned."
            ),
        }
        for env in self.env:
            out[env.variable] = Variable(
                type="str",
                default=env.value,
                secret=env.secret,
                description=f"{env.key} in the service's environment.",
            )
        return out


def service_spec(
    name: str,
    *,
    image: str,
    port: int,
    container_port: int | None = None,
    volumes: Iterable[str] = (),
    env: Iterable[str] | Mapping[str, str] = (),
    title: str | None = None,
    description: str | None = None,
    tags: Iterable[str] = (),
    synonyms: Iterable[str] = (),
    hosts: str | None = None,
    prefer_hosts: Iterable[str] = (),
    healthcheck: Iterable[str] = (),
    resources: Resources = DEFAULT_RESOURCES,
    risk: Risk = "medium",
) -> ServiceSpec:
    """A checked ``ServiceSpec``. ``volumes`` are ``HOST:CONTAINER[:ro|rw]`` texts, ``env``
    ``KEY=VALUE`` texts or a mapping.

    Raises ``InvalidServiceName``, ``InvalidImage``, ``PortOutOfRange``, ``InvalidVolume`` or
    ``InvalidEnv``, naming the first problem found.
    """
    check_name(name)
    check_image(image)
    check_port("port", port)
    container = port if container_port is None else container_port
    check_port("container port", container)
    role = name.replace("-", "_")
    mounts = _volumes(volumes)
    pairs = list(env.items()) if isinstance(env, Mapping) else [_env_pair(t) for t in env]
    title = title or name.replace("-", " ").title()
    return ServiceSpec(
        name=name,
        title=title,
        image=image,
        port=port,
        container_port=container,
        volumes=mounts,
        env=_env(pairs, role),
        description=description or f"Deploy {title} ({image}), a generated compose service.",
        tags=tuple(dict.fromkeys(("generated", *tags))),
        synonyms=tuple(
            dict.fromkeys([*synonyms, *([name.replace("-", " ")] if "-" in name else [])])
        ),
        hosts=hosts,
        prefer_hosts=tuple(prefer_hosts),
        healthcheck=tuple(healthcheck),
        resources=resources,
        risk=risk,
    )


def check_name(name: str) -> None:
    """Raises ``InvalidServiceName`` unless ``name`` can be a catalog id, a role name and a
    variable prefix."""
    if not name:
        raise InvalidServiceName(name, "it is empty")
    if len(name) < 2:
        raise InvalidServiceName(name, "it must be at least 2 characters")
    if len(name) > MAX_NAME:
        raise InvalidServiceName(name, f"it is longer than {MAX_NAME} characters")
    if name != name.lower():
        raise InvalidServiceName(name, "use lowercase letters")
    if not name[0].isalpha():
        raise InvalidServiceName(name, "it must start with a letter")
    if "--" in name or not _NAME.match(name):
        raise InvalidServiceName(
            name, "use letters, digits and single dashes, ending with a letter or a digit"
        )


def check_image(image: str) -> None:
    """Raises ``InvalidImage`` unless ``image`` is a reference pinned to a tag other than
    ``latest`` or to a digest."""
    m = _IMAGE.match(image)
    if not m:
        raise InvalidImage(
            image, "is not a container image reference (e.g. jellyfin/jellyfin:10.10.3)"
        )
    if m.group("digest"):
        return
    tag = m.group("tag")
    if tag is None:
        raise InvalidImage(image, f"has no tag: pin a version, e.g. {image}:1.2.3")
    if tag == "latest":
        raise InvalidImage(
            image, "is on the latest tag: pin a version, so a redeploy runs what was approved"
        )


def check_port(what: str, port: int) -> None:
    """Raises ``PortOutOfRange`` unless 1 <= ``port`` <= 65535."""
    if not 1 <= port <= 65535:
        raise PortOutOfRange(what, port)


def parse_volume(text: str) -> Volume:
    """``HOST:CONTAINER[:ro|rw]`` as a ``Volume``. Raises ``InvalidVolume``."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise InvalidVolume(text, "write HOST:CONTAINER or HOST:CONTAINER:ro")
    host, container = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise InvalidVolume(text, f'the mode must be ro or rw, not "{mode}"')
    if host.startswith("./"):
        host = host[2:]
    host = host.rstrip("/") or host
    if not host or host == ".":
        raise InvalidVolume(text, "the host path is empty")
    if host.startswith("~"):
        raise InvalidVolume(text, "the host path must be relative or absolute, not under ~")
    if not container.startswith("/"):
        raise InvalidVolume(text, f'the container path "{container}" must be absolute')
    for path, which in ((host, "host"), (container, "container")):
        segments = [s for s in path.strip("/").split("/") if s]
        if not segments and which == "host":
            raise InvalidVolume(text, "the host path cannot be the root directory")
        for segment in segments:
            if segment in (".", ".."):
                raise InvalidVolume(text, f"the {which} path may not contain . or ..")
            if not _PATH_PART.match(segment):
                raise InvalidVolume(
                    text, f"the {which} path may hold letters, digits, '.', '_', '-' and '/'"
                )
    return Volume(host, container.rstrip("/") or "/", "ro" if mode == "ro" else "rw")


def looks_secret(key: str, value: str) -> bool:
    """Whether an environment variable looks like it holds a secret: its key says so
    (``*_PASSWORD``, ``*_TOKEN``, ``SECRET_KEY``…) or its value looks like a token."""
    words = set(key.upper().split("_"))
    return bool(words & _SECRET_WORDS) or bool(_TOKEN_VALUE.match(value))


def default_target(spec: ServiceSpec, catalog: Catalog) -> str:
    """The inventory target of the generated entry: the spec's ``hosts`` (which must
    resolve), else the first of its preferred groups the inventory has, else the group most
    of the catalog's entries target (where the homelab runs its services), else ``all``.

    Raises ``UnknownTarget`` when the spec's ``hosts`` names nothing in the inventory."""
    inventory = catalog.inventory
    if spec.hosts is not None:
        if not inventory.resolve(spec.hosts):
            raise UnknownTarget(spec.hosts, sorted(inventory.groups))
        return spec.hosts
    for group in spec.prefer_hosts:
        if inventory.groups.get(group):
            return group
    counts: dict[str, int] = {}
    for entry in catalog.entries.values():
        if entry.removes is None and inventory.resolve(entry.hosts):  # removals deploy nothing
            counts[entry.hosts] = counts.get(entry.hosts, 0) + 1
    if counts:
        return max(counts, key=lambda target: counts[target])
    return "all"


def _volumes(texts: Iterable[str]) -> tuple[Volume, ...]:
    seen: dict[str, Volume] = {}
    for text in texts:
        volume = parse_volume(text)
        if volume.container in seen:
            raise InvalidVolume(text, f"{volume.container} is mounted twice")
        seen[volume.container] = volume
    return tuple(seen.values())


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise InvalidEnv(text, "write KEY=VALUE")
    return key, value


def _env(pairs: Iterable[tuple[str, str]], role: str) -> tuple[EnvVar, ...]:
    reserved = {f"{role}_image", f"{role}_port", f"{role}_dir"}
    out: dict[str, EnvVar] = {}
    for key, value in pairs:
        # An error message may be printed and logged: a secret's value stays out of it.
        shown = f"{key}=***" if looks_secret(key, value) else f"{key}={value}"
        if not _ENV_KEY.match(key):
            raise InvalidEnv(
                shown, "the key must be letters, digits and _, not starting with a digit"
            )
        if key in out:
            raise InvalidEnv(shown, f"{key} is given twice")
        if any(c in value for c in "\n\r\0"):
            raise InvalidEnv(shown, "the value must be one line")
        if any(marker in value for marker in _TEMPLATE_MARKERS):
            raise InvalidEnv(shown, "the value may not contain template markers ({{ }}, {% %})")
        if len(value) > MAX_VALUE:
            raise InvalidEnv(shown, f"the value is longer than {MAX_VALUE} characters")
        variable = f"{role}_{key.lower()}"
        if variable in reserved:
            variable = f"{role}_env_{key.lower()}"
        out[key] = EnvVar(key, value, looks_secret(key, value), variable)
    return tuple(out.values())
