"""Signing: bytes <-> signed bytes, kept apart from the codec (model <-> bytes).

Every AMQP message body is signed as it is published: an HMAC-SHA256 over the exact body
bytes, keyed by the agent the message is from or to (one key per agent, shared only by that
agent and the orchestrators; never one key for everyone). The signature travels in the
``x-chiffon-sig`` header as ``hmac-sha256=<hex>`` and names its key in ``x-chiffon-key``.
Signing the bytes rather than a re-serialisation means an agent in another language checks a
signature without reproducing anyone's JSON formatting.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

SCHEME = "hmac-sha256="
KEY_BYTES = 32
_BLOCK = 64  # SHA-256's block size: HMAC pads the key to it


def new_key() -> bytes:
    """A fresh random signing key."""
    return secrets.token_bytes(KEY_BYTES)


def sign(key: bytes, body: bytes) -> str:
    """The ``x-chiffon-sig`` value of ``body`` under ``key``."""
    inner, outer = _pads(key)
    inner = inner.copy()
    inner.update(body)
    outer = outer.copy()
    outer.update(inner.digest())
    return SCHEME + outer.hexdigest()


@functools.lru_cache(maxsize=1024)
def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC's keyed inner and outer hashes (RFC 2104), computed once per key: each message
    then costs two hash copies, not OpenSSL's one-shot HMAC, which looks the algorithm up
    again every call (on a round trip, with cold caches, that lookup cost more than the hash).
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )


def verify(key: bytes, body: bytes, signature: object) -> bool:
    """Whether ``signature`` is ``body``'s under ``key`` (constant-time)."""
    if not isinstance(signature, str) or not signature.startswith(SCHEME):
        return False
    # As bytes: compare_digest raises TypeError on a str with non-ASCII characters.
    return hmac.compare_digest(sign(key, body).encode(), signature.encode())
