"""Sealed legacy session ids: what opens them (the keyring, the grant, the endpoint), what
they carry (never a token or argument), and how long they get (bounded)."""

from __future__ import annotations

import base64
import dataclasses
import os

import orjson
import pytest

from mcpwall.gateway.sealing import (
    KEY_ID_BYTES,
    MAX_HEADER_BYTES,
    MAX_SEALED_BYTES,
    MAX_UPSTREAM_SESSION_ID,
    NONCE_BYTES,
    PREFIX,
    SealedState,
    SessionKeyring,
    derived_key,
    plaintext,
    relayed_capabilities,
)
from mcpwall.ports.upstream import Resumption

GRANT = "g" * 32
FLAGS = {"tools": {"listChanged": True}, "resources": {"subscribe": True}, "logging": {}}


def resumption(n: int = 0, length: int = 32) -> Resumption:
    return Resumption(f"{n:x}".rjust(length, "0"), "2025-11-25", FLAGS)


def state(**changes: object) -> SealedState:
    base = SealedState(
        "k" * 22, "2025-11-25", {"roots": {"listChanged": True}}, 1_700_000_000,
        1_700_086_400, {"k8s": resumption(1), "github": resumption(2)},
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_sealed_id_opens_to_what_was_sealed() -> None:
    ring = SessionKeyring([os.urandom(32)])
    sealed = ring.seal(state(), GRANT, "k8s")
    assert sealed.startswith(PREFIX)
    assert ring.open(sealed, GRANT, "k8s") == state()


def test_each_seal_differs_though_the_state_is_the_same() -> None:
    ring = SessionKeyring([os.urandom(32)])
    assert ring.seal(state(), GRANT, None) != ring.seal(state(), GRANT, None)


@pytest.mark.parametrize(
    ("grant", "endpoint"), [("h" * 32, "k8s"), (GRANT, None), (GRANT, "github")]
)
def test_it_does_not_open_for_another_grant_or_endpoint(grant: str, endpoint: str | None) -> None:
    ring = SessionKeyring([os.urandom(32)])
    assert ring.open(ring.seal(state(), GRANT, "k8s"), grant, endpoint) is None


def test_a_tampered_id_does_not_open() -> None:
    ring = SessionKeyring([os.urandom(32)])
    sealed = ring.seal(state(), GRANT, None)
    for at in (len(PREFIX), len(PREFIX) + 10, len(sealed) // 2, len(sealed) - 2):
        flipped = "A" if sealed[at] != "A" else "B"
        assert ring.open(sealed[:at] + flipped + sealed[at + 1 :], GRANT, None) is None
    for broken in (
        "",
        PREFIX,
        PREFIX + "!!!",
        "s2." + sealed[3:],
        sealed[:40],
        sealed + "A" * 3000,
    ):
        assert ring.open(broken, GRANT, None) is None


def test_keys_rotate_current_first_the_previous_still_opens() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = SessionKeyring([old]).seal(state(), GRANT, None)
    during = SessionKeyring([new, old])
    assert during.open(before, GRANT, None) == state()
    sealed_now = during.seal(state(), GRANT, None)
    assert SessionKeyring([new]).open(sealed_now, GRANT, None) == state()  # sealed with new
    assert SessionKeyring([old]).open(sealed_now, GRANT, None) is None
    assert SessionKeyring([new]).open(before, GRANT, None) is None  # old taken out


def test_a_well_sealed_plaintext_of_another_shape_does_not_open() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from mcpwall.gateway import sealing

    key = os.urandom(32)
    nonce = os.urandom(NONCE_BYTES)
    binding = sealing._binding(GRANT, None)
    for text in (b"[]", b'{"a":1}', b'["k","v",{},"1",2,[]]', b"not json"):
        raw = sealing._key_id(key) + nonce + AESGCM(key).encrypt(nonce, text, binding)
        forged = PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        assert SessionKeyring([key]).open(forged, GRANT, None) is None


def test_the_longest_id_is_the_documented_bound() -> None:
    assert MAX_HEADER_BYTES == 2_777
    ring = SessionKeyring([os.urandom(32)])
    many = {f"upstream-{n:02}": resumption(n, MAX_UPSTREAM_SESSION_ID) for n in range(60)}
    sealed = ring.seal(state(upstreams=many), GRANT, None)
    assert len(sealed) <= MAX_HEADER_BYTES
    opened = ring.open(sealed, GRANT, None)
    assert opened is not None
    assert 5 < len(opened.upstreams) < 60  # those that fit, in name order
    assert list(opened.upstreams) == sorted(many)[: len(opened.upstreams)]
    assert len(plaintext(state(upstreams=many))) <= MAX_SEALED_BYTES


@pytest.mark.parametrize("count", [1, 4, 8])
def test_a_typical_id_grows_by_under_two_hundred_bytes_an_upstream(count: int) -> None:
    ring = SessionKeyring([os.urandom(32)])
    upstreams = {f"upstream-{n}": resumption(n) for n in range(count)}
    sealed = ring.seal(state(upstreams=upstreams), GRANT, None)
    assert len(sealed) <= 200 + 200 * count
    assert KEY_ID_BYTES == 4


def test_an_upstream_session_id_too_long_to_seal_is_left_out() -> None:
    long = Resumption("x" * (MAX_UPSTREAM_SESSION_ID + 1), "2025-11-25", {})
    sealed = plaintext(state(upstreams={"a": long, "b": resumption(1)}))
    assert b"xxxx" not in sealed
    assert b'"b"' in sealed


def test_only_relayed_capabilities_are_sealed_and_each_setting_short() -> None:
    declared = {
        "roots": {"listChanged": True},
        "sampling": {"context": {"long": "y" * 500}, "other": 1},
        "experimental": {"secret": "never"},
        "elicitation": {"form": {}},
    }
    kept = relayed_capabilities(declared)
    assert kept == {
        "roots": {"listChanged": True},
        "sampling": {"context": {}},
        "elicitation": {"form": {}},
    }
    assert b"never" not in orjson.dumps(kept)


def test_the_derived_key_is_stable_and_not_the_secret() -> None:
    secret = os.urandom(32)
    assert derived_key(secret) == derived_key(secret)
    assert derived_key(secret) != secret
    assert len(derived_key(secret)) == 32


def test_a_keyring_needs_whole_keys() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SessionKeyring([])
    with pytest.raises(ValueError, match="32 bytes"):
        SessionKeyring([b"short"])
