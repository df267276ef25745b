"""Sealed legacy session ids: what any replica needs to carry on a session, in its id.

A legacy session's ``Mcp-Session-Id`` is ``s1.`` and, in URL-safe base64 without padding, a
key id (4 bytes), a nonce (12 bytes) and the AES-256-GCM encryption of the session's
:class:`SealedState`, bound (as associated data) to the grant and the endpoint it was opened
for: under another grant's token, or on another endpoint, it does not open. Every replica
holds the same :class:`SessionKeyring` (``MCPWALL_SESSION_KEYS``, current key first; see
docs/operations.md), so any of them opens any session's id, and a key can be rotated: ids
sealed under a key still in the ring keep working, under one taken out they are refused.

What is sealed: the session's own random key (what a DELETE ends, see
:mod:`mcpwall.gateway.ended`), the protocol version negotiated with the agent, the agent's
client capabilities as far as they are relayed upstream (roots, sampling, elicitation), when
the session was opened and when it expires, and per HTTP upstream the upstream's own session
id, protocol version and declared capabilities (names and flags). Never a token, never an
argument: nothing the agent sends after ``initialize`` goes in.

The plaintext is at most :data:`MAX_SEALED_BYTES`, so an id is at most
:data:`MAX_HEADER_BYTES` long whatever the number of upstreams: upstream sessions that do not
fit (or whose id is longer than :data:`MAX_UPSTREAM_SESSION_ID`) are left out, and a replica
that carries on the session opens new ones with those upstreams.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mcpwall.core.mcp.capabilities import upstream_client_capabilities
from mcpwall.gateway.ended import EndedSessions
from mcpwall.ports.clock import Clock
from mcpwall.ports.upstream import Resumption

PREFIX: Final = "s1."
KEY_BYTES: Final = 32
KEY_ID_BYTES: Final = 4
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
MAX_SEALED_BYTES: Final = 2048
MAX_UPSTREAM_SESSION_ID: Final = 128
MAX_CAPABILITY_VALUE_BYTES: Final = 64  # a relayed capability setting longer than this is {}
MAX_HEADER_BYTES: Final = len(PREFIX) + -(
    -(KEY_ID_BYTES + NONCE_BYTES + MAX_SEALED_BYTES + TAG_BYTES) * 4 // 3
)
"""The longest sealed id: 2,777 bytes, well within what HTTP servers take in one header."""
SESSION_KEYS_SETTING: Final = "MCPWALL_SESSION_KEYS"
LIFETIME_SETTING: Final = "MCPWALL_SESSION_LIFETIME"
LIFETIME_SECONDS: Final = 24 * 60 * 60
_ASSOCIATED: Final = b"mcpwall legacy session v1\n"


@dataclass(frozen=True, slots=True)
class SealedState:
    """What a replica needs to carry on a legacy session (see the module's docstring).
    ``issued`` and ``expires`` are Unix times in seconds."""

    key: str
    version: str
    capabilities: Mapping[str, object]
    issued: int
    expires: int
    upstreams: Mapping[str, Resumption] = field(default_factory=dict)


def relayed_capabilities(declared: Mapping[str, object]) -> dict[str, object]:
    """The agent's client capabilities as far as the gateway relays them (and so needs
    them): roots, sampling, elicitation, each setting short (a longer one is sealed as
    ``{}``: the capability is kept, its detail is not)."""
    relayed = upstream_client_capabilities(declared, agent_era="legacy", upstream_era="legacy")
    kept: dict[str, object] = {}
    for name, settings in relayed.items():
        assert isinstance(settings, dict)
        kept[name] = {
            key: value if len(orjson.dumps(value)) <= MAX_CAPABILITY_VALUE_BYTES else {}
            for key, value in settings.items()
        }
    return kept


class SessionKeyring:
    """The keys sealed ids are sealed with (the first) and opened with (any)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"a session key is {KEY_BYTES} bytes, not {len(key)}")
        self._keys = {_key_id(key): AESGCM(key) for key in reversed(keys)}
        self._current = _key_id(keys[0])

    def __len__(self) -> int:
        return len(self._keys)

    def seal(self, state: SealedState, grant_id: str, endpoint: str | None) -> str:
        """``state`` as an ``Mcp-Session-Id``, bound to ``grant_id`` and ``endpoint``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        aead = self._keys[self._current]
        sealed = aead.encrypt(nonce, plaintext(state), _binding(grant_id, endpoint))
        raw = self._current + nonce + sealed
        return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def open(self, session_id: str, grant_id: str, endpoint: str | None) -> SealedState | None:
        """The state sealed in ``session_id`` for this grant and endpoint; None for an id that
        is not one (tampered with, sealed under a key not in the ring, for another grant…)."""
        if not session_id.startswith(PREFIX) or len(session_id) > MAX_HEADER_BYTES:
            return None
        body = session_id[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            return None
        aead = self._keys.get(raw[:KEY_ID_BYTES])
        start = KEY_ID_BYTES + NONCE_BYTES
        if aead is None or len(raw) < start + TAG_BYTES:
            return None
        try:
            text = aead.decrypt(raw[KEY_ID_BYTES:start], raw[start:], _binding(grant_id, endpoint))
        except InvalidTag:
            return None
        return _decode(text)


def plaintext(state: SealedState) -> bytes:
    """What :meth:`SessionKeyring.seal` encrypts: at most :data:`MAX_SEALED_BYTES`, the
    upstream sessions that do not fit left out."""
    base = [state.key, state.version, state.capabilities, state.issued, state.expires]
    upstreams: list[list[object]] = []
    size = len(orjson.dumps([*base, upstreams]))
    for name in sorted(state.upstreams):
        resumption = state.upstreams[name]
        if len(resumption.session_id) > MAX_UPSTREAM_SESSION_ID:
            continue
        entry: list[object] = [
            name, resumption.session_id, resumption.protocol_version, resumption.capabilities
        ]  # fmt: skip
        grown = len(orjson.dumps(entry)) + (1 if upstreams else 0)
        if size + grown <= MAX_SEALED_BYTES:
            upstreams.append(entry)
            size += grown
    encoded = orjson.dumps([*base, upstreams])
    if len(encoded) > MAX_SEALED_BYTES:  # relayed_capabilities keeps this far off
        raise ValueError("a session's own state does not fit in a sealed id")
    return encoded


def _decode(text: bytes) -> SealedState | None:
    """The state in a decrypted plaintext; None if it is not shaped as :func:`plaintext`
    writes it (a key shared with something else, say)."""
    try:
        value = orjson.loads(text)
        key, version, capabilities, issued, expires, upstreams = value
        resumptions = {
            name: Resumption(session_id, protocol_version, flags)
            for name, session_id, protocol_version, flags in upstreams
        }
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    strings = [key, version, *resumptions]
    strings += [r.session_id for r in resumptions.values()]
    strings += [r.protocol_version for r in resumptions.values()]
    mappings = [capabilities, *(r.capabilities for r in resumptions.values())]
    if not (
        all(isinstance(text, str) for text in strings)
        and all(isinstance(mapping, dict) for mapping in mappings)
        and type(issued) is int
        and type(expires) is int
    ):
        return None
    return SealedState(key, version, capabilities, issued, expires, resumptions)


def derived_key(secret: bytes) -> bytes:
    """The session key derived from the secret key, when no keyring is configured."""
    return hmac.new(secret, b"mcpwall legacy sessions v1", hashlib.sha256).digest()


def _key_id(key: bytes) -> bytes:
    return hmac.new(key, b"mcpwall session key id", hashlib.sha256).digest()[:KEY_ID_BYTES]


def _binding(grant_id: str, endpoint: str | None) -> bytes:
    return _ASSOCIATED + f"{grant_id}\n{endpoint or ''}".encode()


@dataclass(frozen=True)
class SessionSealing:
    """What the HTTP gateway needs to seal and carry on legacy sessions: the keyring, the
    ended sessions, the clock, and how long an id stays good (``MCPWALL_SESSION_LIFETIME``)."""

    keyring: SessionKeyring
    ended: EndedSessions
    clock: Clock
    lifetime: float = LIFETIME_SECONDS

    def seal(
        self,
        key: str,
        grant_id: str,
        endpoint: str | None,
        version: str,
        capabilities: Mapping[str, object],
        upstreams: Mapping[str, Resumption],
    ) -> tuple[str, int]:
        """A new session's sealed id, and when it expires (Unix time)."""
        issued = int(self.clock.now().timestamp())
        expires = issued + int(self.lifetime)
        state = SealedState(
            key, version, relayed_capabilities(capabilities), issued, expires, upstreams
        )
        return self.keyring.seal(state, grant_id, endpoint), expires

    def now(self) -> float:
        return self.clock.now().timestamp()
