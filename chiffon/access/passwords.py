"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile: 64 MiB, t=3).

A hash costs about a tenth of a second of CPU on purpose, so it runs in a worker thread and
never stalls the event loop; logins are rate limited by the HTTP layer.
"""

from __future__ import annotations

import functools

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("not anybody's password")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_HASHER.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with no stored hash (an unknown user) it
    verifies against a dummy one, so the answer takes as long either way."""

    def verify() -> bool:
        try:
            return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify)
