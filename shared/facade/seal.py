"""Secrets and sealed rows: what reaches Table Storage is useless without what only the client holds.

A row is keyed by the SHA-256 of a secret the client (or the browser) holds: a code, a state, a
transaction id. Its contents are sealed (AES-256-GCM) with a key derived from that same secret
(HKDF-SHA256), so the store alone reveals nothing, and a row can be opened only by whoever presents
the secret, which is what the request was going to prove anyway.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    """The row key of a secret (hex, which Table Storage keys accept as they are)."""
    return hashlib.sha256(value.encode()).hexdigest()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret.encode())


def seal(secret: str, purpose: str, data: dict[str, Any]) -> str:
    nonce = os.urandom(NONCE_BYTES)
    box = AESGCM(_key(secret, purpose)).encrypt(nonce, json.dumps(data).encode(), purpose.encode())
    return b64(nonce + box)


def open_sealed(secret: str, purpose: str, sealed: str) -> dict[str, Any]:
    """The data, or ValueError when the secret is not the one it was sealed with (or the row was altered)."""
    from cryptography.exceptions import InvalidTag

    raw = unb64(sealed)
    try:
        plain = AESGCM(_key(secret, purpose)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode())
    except InvalidTag as exc:
        raise ValueError("sealed with another secret") from exc
    data = json.loads(plain)
    if not isinstance(data, dict):
        raise ValueError("not a sealed object")
    return data


def encrypt_with(key: bytes, plain: str, context: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return b64(nonce + AESGCM(key).encrypt(nonce, plain.encode(), context.encode()))


def decrypt_with(key: bytes, boxed: str, context: str) -> str:
    from cryptography.exceptions import InvalidTag

    raw = unb64(boxed)
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except InvalidTag as exc:
        raise ValueError("not ours") from exc


def pkce_s256(verifier: str) -> str:
    return b64(hashlib.sha256(verifier.encode("ascii")).digest())
