"""Signing: the signature is standard HMAC-SHA256 over the exact bytes, whatever the key."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from chiffon.protocol.signing import SCHEME, new_key, sign, verify


@pytest.mark.parametrize("key_bytes", [0, 1, 32, 63, 64, 65, 200])
def test_a_signature_is_the_standard_hmac_sha256_of_the_body(key_bytes: int) -> None:
    key = os.urandom(key_bytes)
    for body in (b"", b"[]", os.urandom(1000)):
        expected = SCHEME + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert sign(key, body) == expected
        assert verify(key, body, expected)


def test_verify_refuses_another_body_another_key_or_a_malformed_signature() -> None:
    key, body = new_key(), b'[{"kind": "agent.heartbeat"}]'
    signature = sign(key, body)
    assert not verify(key, body + b" ", signature)
    assert not verify(new_key(), body, signature)
    assert not verify(key, body, signature.removeprefix(SCHEME))
    assert not verify(key, body, signature[:-1] + "é")
    assert not verify(key, body, None)
