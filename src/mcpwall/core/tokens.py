"""Bearer tokens and object ids: their format, and the hash that is all a store ever keeps.

A token is a prefix naming its kind followed by at least 32 random bytes in URL-safe base64
(no padding): ``mcpw_…`` for grants, ``mcpwa_…`` for admin tokens. The prefix lets secret
scanners recognise a leaked token and tells a user which kind they hold.

Randomness is a parameter (the core reads no entropy source); callers pass
``secrets.token_bytes(TOKEN_BYTES)``.

Tokens are hashed with plain SHA-256 and not a slow password hash: a token carries 256 bits
of entropy, so there is nothing to brute-force, and the data plane hashes once per request.
"""

from __future__ import annotations

import base64
import hashlib
import re
from enum import StrEnum

from mcpwall.core.errors import InvalidValue

TOKEN_BYTES = 32

# A token is hashed on every request; anything longer than this is not one of ours.
MAX_TOKEN_LENGTH = 256

_HASH = re.compile(r"[0-9a-f]{64}")
_BODY = re.compile(r"[A-Za-z0-9_-]{43,}")  # 32 bytes are 43 base64 characters


class TokenKind(StrEnum):
    """What a token opens; the value is its prefix."""

    GRANT = "mcpw_"
    ADMIN = "mcpwa_"


def make_token(kind: TokenKind, entropy: bytes) -> str:
    """Build a token of ``kind`` from ``entropy`` (at least 32 random bytes)."""
    if len(entropy) < TOKEN_BYTES:
        raise ValueError(f"a token needs at least {TOKEN_BYTES} random bytes, got {len(entropy)}")
    return kind.value + base64.urlsafe_b64encode(entropy).rstrip(b"=").decode("ascii")


def is_token(value: str, kind: TokenKind) -> bool:
    """Whether ``value`` is shaped like a token of ``kind``: a cheap check before any lookup."""
    # ``kind`` is its prefix (a StrEnum member is a str): no ``.value`` lookup per request.
    return (
        len(value) <= MAX_TOKEN_LENGTH
        and value.startswith(kind)
        and _BODY.fullmatch(value, len(kind)) is not None
    )


def hash_token(token: str) -> str:
    """The SHA-256 of ``token`` in lowercase hex: the only form in which a store keeps it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_token_hash(value: str) -> str:
    """Return ``value`` if it is a token hash; the message never shows it (it may be a token)."""
    if _HASH.fullmatch(value) is None:
        raise InvalidValue("token hash", value, "64 lowercase hex digits", secret=True)
    return value


def make_id(prefix: str, entropy: bytes) -> str:
    """An object id such as ``grt_3f9a0c1d2e4b5a69`` from ``prefix`` and 8 random bytes.

    Ids contain ``_`` and names never do, so a reference is unambiguously one or the other.
    """
    if len(entropy) != 8:
        raise ValueError(f"an id takes 8 random bytes, got {len(entropy)}")
    return f"{prefix}_{entropy.hex()}"
