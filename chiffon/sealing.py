"""Sealed values: secrets kept at rest only encrypted, under a key of this installation.

A secret typed into a request ("admin password hunter2") or given to a step's secret variable
is stored, journaled, sent to a local agent and written to the trail only as a *sealed token*
(``sealed:v1:<base64url>``); it is opened where it is used — by the planner reading the
request, and by the agent at execution — and shown everywhere as ``***``.

Sealing is deterministic (AES-SIV, RFC 5297): one value under one key always gives the same
token, so a plan holding sealed values has a stable hash (what an approval approves), and the
same secret in a request and in its plan is the same token. What that leaks is only whether
two sealed values are equal. The key is 64 random bytes in a file (``CHIFFON_HOME/sealing.key``
by default, mode 0600, created on first use); a process without it cannot open a token and
says so (``Unsealable``).

A leaf module: ``cryptography`` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chiffon.errors import ChiffonError, ConfigError

PREFIX = "sealed:v1:"
SHOWN = "***"
"""What a secret is shown as."""
KEY_FILE = "sealing.key"
_KEY_BYTES = 64
_TOKEN = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_-]{22,}")


class Unsealable(ChiffonError):
    """Raised by ``Sealer.open`` when a token was not sealed under this key (another
    installation's, or altered)."""

    code = "unsealable"


class SealingKeyUnusable(ConfigError):
    """Raised at start-up when the sealing key file cannot be read or made, or holds no key."""

    code = "sealing_key_unusable"


def is_sealed(value: object) -> bool:
    """Whether ``value`` is a sealed token."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def shown(text: str) -> str:
    """``text`` with every sealed token in it replaced by ``***``."""
    return _TOKEN.sub(SHOWN, text)


def redacted(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``***`` (the longest
    first, so that a secret containing another is replaced whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, SHOWN)
    return text


class Sealer:
    """Seals and opens values under one key: ``Sealer.from_file(path)`` or ``Sealer(key)``."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise SealingKeyUnusable(f"a sealing key is {_KEY_BYTES} bytes, not {len(key)}")
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        self._siv = AESSIV(key)

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """The sealer of the key in ``path``, which is created (0600, 64 random bytes, hex)
        when it does not exist. Raises ``SealingKeyUnusable`` naming the file when it cannot be
        read or made, or does not hold a key."""
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            text = _create(path)
        except OSError as exc:
            raise SealingKeyUnusable(
                f"the sealing key {path} cannot be read: {exc.strerror}"
            ) from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise SealingKeyUnusable(f"the sealing key {path} does not hold a hex key") from None
        return cls(key)

    def seal(self, value: str) -> str:
        """The token of ``value``; a token is returned as it is."""
        if is_sealed(value):
            return value
        sealed = self._siv.encrypt(value.encode(), None)
        return PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, token: str) -> str:
        """The value sealed in ``token``. Raises ``Unsealable`` when it was not sealed under
        this key."""
        from cryptography.exceptions import InvalidTag

        data = token.removeprefix(PREFIX)
        try:
            raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            return self._siv.decrypt(raw, None).decode()
        except (InvalidTag, ValueError):
            raise Unsealable(
                "a sealed secret was not sealed under this installation's key (the "
                "orchestrator's CHIFFON_HOME/sealing.key, or CHIFFON_SEALING_KEY_FILE)"
            ) from None

    def open_text(self, text: str) -> str:
        """``text`` with each of its tokens opened. Raises ``Unsealable``."""
        return _TOKEN.sub(lambda m: self.open(m.group()), text)

    def seal_text(self, text: str, secrets: Iterable[str]) -> str:
        """``text`` with each occurrence of each non-empty secret replaced by its token."""
        for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
            text = text.replace(secret, self.seal(secret))
        return text

    def open_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with every sealed value opened. Raises ``Unsealable``."""
        return {k: self.open(v) if is_sealed(v) else v for k, v in values.items()}


def _create(path: Path) -> str:
    # Written aside, then linked into place: a process racing us reads a whole key or none.
    text = os.urandom(_KEY_BYTES).hex()
    # Named for this call, not just the process: two threads making it at once each write
    # their own file (sharing one, the first to finish unlinked it under the other's link).
    aside = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:  # another process made it first: theirs is the key
            return path.read_text().strip()
    except OSError as exc:
        raise SealingKeyUnusable(f"the sealing key {path} cannot be made: {exc.strerror}") from None
    finally:
        aside.unlink(missing_ok=True)
    return text
