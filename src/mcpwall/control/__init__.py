"""The control plane: the operations the CLI, the admin API and ``apply`` share.

Each operation validates first and changes the store last, so a refused change leaves nothing
half-written. Tokens are made here, shown to the caller once, and handed to the store only
as their hash.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from mcpwall.core.audit import AuditEvent, AuditFilter
from mcpwall.core.durations import MAX_SECONDS
from mcpwall.core.errors import InvalidValue, NotFound, PolicyError, Problem
from mcpwall.core.logins import (
    SECRET_BYTES,
    LoginSession,
    LoginTimeouts,
    new_session,
    secret_hash,
)
from mcpwall.core.policy import (
    CompiledPolicy,
    compile_text as compile_text,  # its home was here
    load_policy,
)
from mcpwall.core.policy.explain import source_at
from mcpwall.core.registry import AdminToken, Grant, PolicyVersion, Role, check_bindings
from mcpwall.core.tokens import TOKEN_BYTES, TokenKind, hash_token, is_token, make_token
from mcpwall.ports.clock import Clock, SystemClock
from mcpwall.ports.store import Store

__all__ = [
    "ControlPlane",
    "IssuedAdminToken",
    "IssuedGrant",
    "LoggedIn",
    "OpenedLogin",
    "SetPolicy",
]

LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    """A grant just issued or rotated, with its token: the only time the token is known."""

    grant: Grant
    token: str


@dataclass(frozen=True, slots=True)
class IssuedAdminToken:
    """An admin token just created, with the token itself (shown once)."""

    admin_token: AdminToken
    token: str


@dataclass(frozen=True, slots=True)
class OpenedLogin:
    """A dashboard login just opened, with its secret: the cookie's value, known only now."""

    session: LoginSession
    admin_token: AdminToken
    secret: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """A live dashboard session and the active admin token it stands for."""

    session: LoginSession
    admin_token: AdminToken


@dataclass(frozen=True, slots=True)
class SetPolicy:
    """A policy version just stored, with the lint warnings its document raised."""

    version: PolicyVersion
    warnings: tuple[Problem, ...]


class ControlPlane:
    """Control-plane operations over a :class:`Store`.

    ``entropy`` makes random bytes for tokens (tests may pass a deterministic one).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        entropy: Callable[[int], bytes] = secrets.token_bytes,
        login_timeouts: LoginTimeouts | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.login_timeouts = login_timeouts or LoginTimeouts()
        self._entropy = entropy

    # -- policies ---------------------------------------------------------------------------------

    def set_policy(
        self, name: str, text: str | bytes, *, actor: str, source: str = ""
    ) -> SetPolicy:
        """Validate ``text`` and store it as the next version of policy ``name``.

        An invalid document raises :class:`PolicyError` and is never stored, so the last good
        version keeps serving.
        """
        if isinstance(text, bytes):
            text = _policy_text(text, source or name)
        compiled = compile_text(text, name=name, source=source)
        stored = self.store.add_policy_version(name, text, actor=actor)
        return SetPolicy(stored, compiled.warnings)

    def compiled_policy(self, name: str, version: int | None = None) -> CompiledPolicy:
        """A stored policy version, compiled."""
        stored = self.store.get_policy(name, version)
        return compile_text(stored.text, name=stored.name, version=stored.version)

    def rule_source(self, name: str, version: int, rule: str) -> str | None:
        """The part of policy ``name`` version ``version`` that rule pointer ``rule`` names,
        as indented JSON; None for a rule that is not a pointer (``(default deny)``…) or one
        that the version does not have (the policy or version is gone)."""
        if not rule.startswith("/") or not name:
            return None
        try:
            document = self.compiled_policy(name, version).document
        except (NotFound, PolicyError):
            return None
        return source_at(document, rule)

    # -- grants -----------------------------------------------------------------------------------

    def issue_grant(
        self,
        label: str,
        bindings: Mapping[str, str],
        *,
        expires_in: int | None = None,
        actor: str,
    ) -> IssuedGrant:
        """Issue a grant binding each upstream to a policy; ``expires_in`` is in seconds."""
        bindings = check_bindings(bindings)
        token = self._new_token(TokenKind.GRANT)
        expires_at = (
            None if expires_in is None else self.clock.now() + timedelta(seconds=expires_in)
        )
        grant = self.store.issue_grant(
            label, bindings, hash_token(token), expires_at=expires_at, actor=actor
        )
        return IssuedGrant(grant, token)

    def rotate_grant(self, ref: str, *, actor: str) -> IssuedGrant:
        """Give a grant a new token; the old one stops working at once."""
        token = self._new_token(TokenKind.GRANT)
        return IssuedGrant(self.store.rotate_grant(ref, hash_token(token), actor=actor), token)

    def authenticate_grant(self, token: str) -> Grant | None:
        """The active grant this token opens, or None (malformed, unknown, revoked, expired)."""
        if not is_token(token, TokenKind.GRANT):
            return None
        grant = self.store.find_grant_by_token_hash(hash_token(token))
        return grant if grant is not None and grant.is_active(self.clock.now()) else None

    # -- admin tokens -----------------------------------------------------------------------------

    def create_admin_token(
        self, role: Role, *, label: str | None = None, expires_in: int | None = None, actor: str
    ) -> IssuedAdminToken:
        token = self._new_token(TokenKind.ADMIN)
        expires_at = (
            None if expires_in is None else self.clock.now() + timedelta(seconds=expires_in)
        )
        created = self.store.create_admin_token(
            role, hash_token(token), label=label, expires_at=expires_at, actor=actor
        )
        return IssuedAdminToken(created, token)

    def authenticate_admin(self, token: str) -> AdminToken | None:
        """The active admin token this bearer token is, or None."""
        if not is_token(token, TokenKind.ADMIN):
            return None
        found = self.store.find_admin_token_by_token_hash(hash_token(token))
        now = self.clock.now()
        if found is None or not found.is_active(now):
            return None
        # "Last used" is for people reading a list: a minute's precision spares a write per call.
        if found.last_used_at is None or now - found.last_used_at >= LAST_USED_PRECISION:
            self.store.touch_admin_token(found.id)
        return found

    # -- reading, for the dashboard --------------------------------------------------------------

    def upstream_names(self) -> list[str]:
        """The name of every upstream, in order."""
        return [upstream.name for upstream in self.store.list_upstreams()]

    # -- the audit trail -------------------------------------------------------------------------

    def audit_page(
        self, *, limit: int = 100, before: int | None = None, only: AuditFilter | None = None
    ) -> list[AuditEvent]:
        """Up to ``limit`` audit events, newest first, with ids below ``before`` if given,
        that ``only`` matches."""
        return self.store.list_audit(limit=limit, before=before, only=only)

    # -- dashboard logins -------------------------------------------------------------------------

    def log_in(self, token: str) -> OpenedLogin | None:
        """Exchange an admin token for a new dashboard session; None if the token is unusable.

        Every login makes a new secret (no session id is ever reused), and sessions that have
        ended are deleted on the way, so the table holds only live ones and a few stale.
        """
        caller = self.authenticate_admin(token)
        if caller is None:
            return None
        now = self.clock.now()
        self.store.prune_login_sessions(now - self.login_timeouts.idle)
        secret = _secret_text(self._entropy(SECRET_BYTES))
        session = new_session(secret, caller.id, now, self.login_timeouts)
        self.store.add_login_session(session, actor=admin_actor(caller))
        return OpenedLogin(session, caller, secret)

    def logged_in(self, secret: str) -> LoggedIn | None:
        """The live session with this secret and its admin token, if both are still good.

        A session whose admin token was revoked, or has expired, is over at once.
        """
        session = self.store.find_login_session(secret_hash(secret))
        now = self.clock.now()
        if session is None or not session.is_live(now, self.login_timeouts):
            return None
        token = self._admin_token_by_id(session.admin_token_id)
        if token is None or not token.is_active(now):
            return None
        if session.needs_touch(now):
            self.store.touch_login_session(session.secret_hash)
        return LoggedIn(session, token)

    def log_out(self, secret: str) -> bool:
        """End the session with this secret; False if there was none (already over)."""
        hashed = secret_hash(secret)
        session = self.store.find_login_session(hashed)
        if session is None:
            return False
        token = self._admin_token_by_id(session.admin_token_id)
        actor = admin_actor(token) if token is not None else f"admin:{session.admin_token_id}"
        return self.store.end_login_session(hashed, actor=actor)

    def _admin_token_by_id(self, token_id: str) -> AdminToken | None:
        try:
            return self.store.get_admin_token(token_id)
        except NotFound:
            return None

    def _expiry(self, expires_in: int | None) -> datetime | None:
        if expires_in is None:
            return None
        if not 0 < expires_in <= MAX_SECONDS:
            raise InvalidValue("expiry", f"{expires_in} seconds", "1 second to 100 years")
        return self.clock.now() + timedelta(seconds=expires_in)

    def _new_token(self, kind: TokenKind) -> str:
        return make_token(kind, self._entropy(TOKEN_BYTES))

    # -- policies (dashboard) ---------------------------------------------------------------------

    def policies(self) -> list[PolicyVersion]:
        """Every policy at its current version, by name."""
        return self.store.list_policies()

    def policy_versions(self, name: str) -> list[PolicyVersion]:
        """Every version of policy ``name``, oldest first; :class:`NotFound` if there is none."""
        return self.store.list_policy_versions(name)

    def policy_version(self, name: str, version: int | None = None) -> PolicyVersion:
        """A stored version of policy ``name`` with its text (the current one by default)."""
        return self.store.get_policy(name, version)


def admin_actor(caller: AdminToken) -> str:
    """How the audit trail names a change made with this admin token: never the token itself.

    The id makes it unambiguous (labels need not be unique); the label makes it readable.
    """
    return f"admin:{caller.id} ({caller.label})" if caller.label else f"admin:{caller.id}"


def _secret_text(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _policy_text(data: bytes, source: str) -> str:
    """Policy bytes as the text the store keeps; not UTF-8 is a policy problem like any other."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        load_policy(data, source=source)  # raises PolicyError with the position
        raise PolicyError([Problem("", "not UTF-8 text")], source=source) from None
