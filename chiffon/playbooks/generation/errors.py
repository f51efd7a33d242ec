"""Generation's errors, one class per condition. Each message is one sentence that names the
problem, ready to print as it is."""

from __future__ import annotations

from collections.abc import Sequence

from chiffon.playbooks.errors import PlaybooksError


class GenerationError(PlaybooksError):
    """Base class of the errors of ``chiffon.playbooks.generation``."""

    code = "generation_error"


class InvalidServiceName(GenerationError):
    """Raised when a service name cannot name a catalog entry, a role and its variables:
    it must be lowercase letters, digits and single dashes, start with a letter, end with a
    letter or a digit, and be 2 to 40 characters long."""

    code = "invalid_service_name"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f'service name "{name}" is invalid: {reason}')
        self.name = name


class AlreadyInCatalog(GenerationError):
    """Raised when the service is already in the catalog: an entry has its id or names it
    among its services, or its directory ``generated/<name>`` exists."""

    code = "already_in_catalog"

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f'"{name}" is already in the catalog: {where}')
        self.name = name


class PortOutOfRange(GenerationError):
    """Raised when a port is not between 1 and 65535."""

    code = "port_out_of_range"

    def __init__(self, what: str, port: int) -> None:
        super().__init__(f"{what} {port} is out of range: a port is between 1 and 65535")
        self.port = port


class InvalidImage(GenerationError):
    """Raised when a container image is not a valid reference, or is not pinned: no tag, or
    the ``latest`` tag (a redeploy would silently change what runs)."""

    code = "invalid_image"

    def __init__(self, image: str, reason: str) -> None:
        super().__init__(f'image "{image}" {reason}')
        self.image = image


class InvalidVolume(GenerationError):
    """Raised when a ``--volume`` is not ``HOST:CONTAINER`` or ``HOST:CONTAINER:ro|rw`` with a
    relative (under the service's directory) or absolute host path and an absolute container
    path, or repeats a container path."""

    code = "invalid_volume"

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f'volume "{text}" is invalid: {reason}')
        self.text = text


class InvalidEnv(GenerationError):
    """Raised when an ``--env`` is not ``KEY=VALUE`` with a shell-style key and a one-line
    value free of template markers, or repeats a key."""

    code = "invalid_env"

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f'environment variable "{text}" is invalid: {reason}')
        self.text = text


class UnknownTarget(GenerationError):
    """Raised when the hosts a generated entry should target by default name no group or host
    of the catalog's inventory."""

    code = "unknown_target"

    def __init__(self, target: str, groups: Sequence[str]) -> None:
        super().__init__(
            f'hosts "{target}" is not a group or host of the inventory; its groups are '
            + ", ".join(groups)
        )
        self.target = target


class ChecksFailed(GenerationError):
    """Raised when a generated playbook fails ``ansible-playbook --syntax-check`` or has
    ansible-lint findings. ``problems`` lists each one (``file:line: rule: message``);
    nothing generated is left in the catalog."""

    code = "checks_failed"

    def __init__(self, service: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"the playbook generated for {service} did not pass its checks: " + "; ".join(problems)
        )
        self.problems = list(problems)


class CatalogNotAppendable(GenerationError):
    """Raised when ``catalog.yml`` cannot take a new entry by appending text (its entries are
    not a block-style list), or does not load once it is appended; the file is left as it
    was."""

    code = "catalog_not_appendable"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot add an entry to {path}: {reason}")
        self.path = path


class GeneratedChanged(GenerationError):
    """Raised when installing an approved generated entry whose staged files no longer match
    the digest the approval named: what would be installed is not what was approved."""

    code = "generated_changed"

    def __init__(self, entry_id: str, approved: str, current: str) -> None:
        super().__init__(
            f'the generated playbook "{entry_id}" changed after approval '
            f"(approved {approved[:19]}…, now {current[:19]}…): plan again"
        )
        self.entry_id = entry_id
