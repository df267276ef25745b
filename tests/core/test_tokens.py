"""Bearer tokens, their hashes, and object ids."""

from __future__ import annotations

import hashlib

import pytest

from mcpwall.core.errors import InvalidValue
from mcpwall.core.tokens import (
    TokenKind,
    check_token_hash,
    hash_token,
    is_token,
    make_id,
    make_token,
)

ENTROPY = bytes(range(32))


def test_a_grant_token_is_its_prefix_and_url_safe_base64() -> None:
    token = make_token(TokenKind.GRANT, ENTROPY)
    assert token == "mcpw_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    assert make_token(TokenKind.ADMIN, ENTROPY).startswith("mcpwa_")
    assert is_token(token, TokenKind.GRANT)


def test_a_token_needs_32_random_bytes() -> None:
    with pytest.raises(ValueError, match="at least 32 random bytes, got 16"):
        make_token(TokenKind.GRANT, bytes(16))
    assert is_token(make_token(TokenKind.GRANT, bytes(64)), TokenKind.GRANT)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "mcpw_",
        "mcpw_short",
        "Bearer mcpw_" + "A" * 43,
        "mcpw_" + "A" * 42,
        "mcpw_" + "A" * 42 + "=",
        "mcpw_" + "A" * 300,
        "mcpwa_" + "A" * 43,  # an admin token is no grant token
    ],
)
def test_anything_else_is_not_a_grant_token(value: str) -> None:
    assert not is_token(value, TokenKind.GRANT)


def test_an_admin_token_is_not_a_grant_token_and_back() -> None:
    grant = make_token(TokenKind.GRANT, ENTROPY)
    admin = make_token(TokenKind.ADMIN, ENTROPY)
    assert (is_token(admin, TokenKind.ADMIN), is_token(grant, TokenKind.ADMIN)) == (True, False)


def test_a_token_is_kept_as_its_sha256_in_hex() -> None:
    token = make_token(TokenKind.GRANT, ENTROPY)
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert check_token_hash(hash_token(token)) == hash_token(token)


@pytest.mark.parametrize("value", ["", "A" * 64, "a" * 63, "a" * 65, "mcpw_" + "A" * 43])
def test_a_malformed_hash_is_refused_without_being_shown(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"^token hash \(not shown, \d+ characters\): ") as e:
        check_token_hash(value)
    if value:
        assert value not in str(e.value)


def test_an_id_is_a_prefix_and_16_hex_digits() -> None:
    assert make_id("grt", bytes.fromhex("0123456789abcdef")) == "grt_0123456789abcdef"
    with pytest.raises(ValueError, match="8 random bytes, got 4"):
        make_id("grt", bytes(4))
