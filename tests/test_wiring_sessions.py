"""How sealed legacy sessions are configured (``wiring.py``): the keyring, the lifetime, the
end check, and where ended sessions are kept."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from mcpwall.adapters.secrets import SECRET_KEY_VARIABLE
from mcpwall.core.errors import InvalidValue, SecretKeyError
from mcpwall.gateway.sealing import SealedState, SessionKeyring, derived_key
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.wiring import session_keyring, session_sealing

STATE = SealedState("key", "2025-11-25", {}, 1, 2)


def text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def test_the_listed_keys_seal_with_the_first_and_open_with_any(tmp_path: Path) -> None:
    new, old = os.urandom(32), os.urandom(32)
    ring = session_keyring(tmp_path, {"MCPWALL_SESSION_KEYS": f" {text(new)} , {text(old)} "})
    assert len(ring) == 2
    sealed = ring.seal(STATE, "g", None)
    assert SessionKeyring([new]).open(sealed, "g", None) == STATE
    assert ring.open(SessionKeyring([old]).seal(STATE, "g", None), "g", None) == STATE


def test_unset_the_key_is_derived_from_the_secret_key(tmp_path: Path) -> None:
    secret = os.urandom(32)
    ring = session_keyring(tmp_path, {SECRET_KEY_VARIABLE: text(secret)})
    sealed = ring.seal(STATE, "g", None)
    assert SessionKeyring([derived_key(secret)]).open(sealed, "g", None) == STATE


def test_a_malformed_key_stops_the_start_naming_which(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match=r"MCPWALL_SESSION_KEYS \(key 2\)"):
        session_keyring(tmp_path, {"MCPWALL_SESSION_KEYS": f"{text(os.urandom(32))},short"})


def test_lifetime_and_end_check_are_read_and_checked(tmp_path: Path) -> None:
    environ = {
        SECRET_KEY_VARIABLE: text(os.urandom(32)),
        "MCPWALL_SESSION_LIFETIME": "600",
        "MCPWALL_SESSION_END_CHECK": "0.25",
    }
    clock = FakeClock()
    sealing = session_sealing(MemoryStore(clock), tmp_path, environ, clock)
    assert sealing.lifetime == 600
    assert sealing.ended.check_every == 0.25
    with pytest.raises(InvalidValue, match="MCPWALL_SESSION_LIFETIME"):
        session_sealing(
            MemoryStore(clock), tmp_path, {**environ, "MCPWALL_SESSION_LIFETIME": "0"}, clock
        )
