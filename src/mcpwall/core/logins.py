"""Dashboard logins: a server-side session standing for one admin token, and when it ends.

Logging in to the dashboard exchanges an admin token for a random *session secret* that the
browser keeps in an HttpOnly cookie. The store keeps only the secret's SHA-256 (like every
token), so reading the database does not let anyone in. A session ends at the first of:
its idle timeout (no request for that long), its absolute timeout (counted from login),
logout, or its admin token being revoked or expiring.

The CSRF token of a session is derived from its secret (an HMAC), so every replica can check
it without storing anything more, and it says nothing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from mcpwall.core.errors import InvalidValue
from mcpwall.core.tokens import check_token_hash

SECRET_BYTES = 32
# How often "last seen" is written: a dashboard polling every few seconds must not write on
# every request, and the idle timeout need not be more exact than this.
LAST_SEEN_PRECISION = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class LoginTimeouts:
    """How long a dashboard session lasts: ``idle`` without a request, ``absolute`` at most."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)

    def __post_init__(self) -> None:
        for what, value in (("idle timeout", self.idle), ("absolute timeout", self.absolute)):
            if value <= timedelta(0):
                raise InvalidValue(what, str(value), "a positive duration")
        if self.idle > self.absolute:
            raise InvalidValue(
                "idle timeout", str(self.idle), f"at most the absolute timeout ({self.absolute})"
            )


@dataclass(frozen=True, slots=True)
class LoginSession:
    """One dashboard login, as the store keeps it: never the secret, only its hash."""

    secret_hash: str
    admin_token_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # the absolute end, fixed at login

    def __post_init__(self) -> None:
        check_token_hash(self.secret_hash)

    def is_live(self, now: datetime, timeouts: LoginTimeouts) -> bool:
        """Whether the session may still be used at ``now``."""
        return now < self.expires_at and now - self.last_seen_at < timeouts.idle

    def needs_touch(self, now: datetime) -> bool:
        """Whether a request at ``now`` should be written down as the last one seen."""
        return now - self.last_seen_at >= LAST_SEEN_PRECISION


def new_session(
    secret: str, admin_token_id: str, now: datetime, timeouts: LoginTimeouts
) -> LoginSession:
    """The session a login with ``secret`` opens at ``now``."""
    return LoginSession(secret_hash(secret), admin_token_id, now, now, now + timeouts.absolute)


def secret_hash(secret: str) -> str:
    """The SHA-256 of a session secret in lowercase hex: the only form the store keeps."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of the session with ``secret``: an HMAC, so it reveals nothing of it."""
    return hmac.new(secret.encode("utf-8"), b"mcpwall dashboard csrf", hashlib.sha256).hexdigest()


def csrf_matches(secret: str, given: str) -> bool:
    """Whether ``given`` is the session's CSRF token (compared in constant time)."""
    return hmac.compare_digest(csrf_token(secret).encode(), given.encode("utf-8", "replace"))
