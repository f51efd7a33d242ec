"""The probes a ``shell-check`` catalog entry declares, in its file (the entry's ``playbook``,
so the approval's digest covers them like a playbook's): a YAML list, each item one probe.

    - probe: disk                  # free space where a path lives
      path: ${data_dir}
      min_free_mb: ${min_free_mb}  # optional; and/or max_used_percent
    - probe: unit                  # a systemd unit's state
      unit: jellyfin.service
      expect: active               # active (default), inactive, failed
    - probe: container             # a Docker container's state
      name: jellyfin
      expect: running              # running (default), stopped, absent
    - probe: port                  # a TCP port on this machine
      port: 8096
      expect: free                 # listening (default), free
    - probe: path
      path: /srv/media
      expect: present              # present (default), absent
      wait_s: 30                   # any probe: wait up to this long for it to hold

Every probe only reads: a statvfs, ``systemctl show``, ``docker inspect``, the kernel's socket
table, a stat. None takes a command, a shell or a flag from the file: each builds one fixed
argument vector, and the names it passes are checked against a pattern first.

``${name}`` refers to a variable the entry declares (its value, or its default): a value that
is exactly ``${name}`` takes the variable's type; anywhere else it is spliced in as text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chiffon.agents.probes.errors import ProbesInvalid

_UNIT = r"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,250}$"
_CONTAINER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class _Probe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: ClassVar[str]
    """The field that names what the probe looks at, in its ``title``."""

    probe: str
    wait_s: float = Field(default=0.0, ge=0.0, le=3600.0)

    @property
    def title(self) -> str:
        """What the probe looks at, as its results name it (``unit jellyfin.service``)."""
        return f"{self.probe} {getattr(self, self.subject)}"


class DiskProbe(_Probe):
    subject = "path"
    probe: Literal["disk"]
    path: str = Field(min_length=1, max_length=4096)
    min_free_mb: int | None = Field(default=None, ge=0)
    max_used_percent: float | None = Field(default=None, ge=0.0, le=100.0)


class UnitProbe(_Probe):
    subject = "unit"
    probe: Literal["unit"]
    unit: str = Field(pattern=_UNIT)
    expect: Literal["active", "inactive", "failed"] = "active"


class ContainerProbe(_Probe):
    subject = "name"
    probe: Literal["container"]
    name: str = Field(pattern=_CONTAINER)
    expect: Literal["running", "stopped", "absent"] = "running"


class PortProbe(_Probe):
    subject = "port"
    probe: Literal["port"]
    port: int = Field(ge=1, le=65535)
    expect: Literal["listening", "free"] = "listening"


class PathProbe(_Probe):
    subject = "path"
    probe: Literal["path"]
    path: str = Field(min_length=1, max_length=4096)
    expect: Literal["present", "absent"] = "present"


Probe = Annotated[
    DiskProbe | UnitProbe | ContainerProbe | PortProbe | PathProbe, Field(discriminator="probe")
]
_PROBES: TypeAdapter[list[Probe]] = TypeAdapter(list[Probe])


def load_probes(path: Path, variables: Mapping[str, Any]) -> list[Probe]:
    """The probes ``path`` declares, ``${name}`` replaced from ``variables``. Raises
    ``ProbesInvalid`` naming the file and the problem."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProbesInvalid(path, str(exc)) from None
    if not isinstance(data, list) or not data:
        raise ProbesInvalid(path, "it must hold a list of probes")
    try:
        return _PROBES.validate_python(_substitute(data, variables))
    except KeyError as exc:
        raise ProbesInvalid(path, f"${{{exc.args[0]}}} names no declared variable") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        number, *field = first["loc"]
        where = f"probe {int(number) + 1}" + "".join(f".{part}" for part in field)
        raise ProbesInvalid(path, f"{where}: {first['msg']}") from None
    except ValueError as exc:  # a malformed ${...}
        raise ProbesInvalid(path, str(exc)) from None


def _substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, str):
        template = string.Template(value)
        names = template.get_identifiers()
        if len(names) == 1 and value.strip() in (f"${names[0]}", f"${{{names[0]}}}"):
            return variables[names[0]]
        return template.substitute(variables)
    return value
