"""The ``Store`` port: upstreams, policy versions, grants, admin tokens and the audit trail.

Methods are synchronous: the control plane calls them directly, the gateway calls them off its
hot path (it caches what it reads and watches :meth:`Store.revision` for changes).

Rules every implementation keeps (the contract suite in ``tests/adapters/store`` checks them
against each):

- Every change happens whole or not at all, and in the same transaction it bumps the
  revision and records one audit event naming ``actor``. Recording that the data plane used a
  token (``touch_*``) is bookkeeping, not a change: it does neither.
- Tokens are never given to a store, only their SHA-256 (:func:`mcpwall.core.tokens.hash_token`).
- A grant label is unique among active grants; an expired grant gives up its label to a new
  grant that asks for it. Every binding names a stored upstream and policy.
- A grant is referred to (``ref``) by its id (``grt_…``) or by the label it holds.
- Mistakes raise the errors of :mod:`mcpwall.core.errors`: ``InvalidValue`` for malformed input,
  ``NotFound``, ``Conflict``, and ``StoreUnavailable`` when the database cannot be reached.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from mcpwall.core.audit import JSON, AuditEvent, AuditFilter
from mcpwall.core.logins import LoginSession
from mcpwall.core.pins import UNSET, InstructionsArg, Pins
from mcpwall.core.registry import AdminToken, Grant, PolicyVersion, Role, Upstream


class UpstreamStore(Protocol):
    def add_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        """Store a new upstream; ``Conflict`` if the name is taken."""
        ...

    def update_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        """Replace the stored upstream of that name (new command, URL or secrets)."""
        ...

    def get_upstream(self, name: str) -> Upstream: ...

    def list_upstreams(self) -> list[Upstream]:
        """Every upstream, by name."""
        ...

    def remove_upstream(self, name: str, *, actor: str) -> None:
        """Remove an upstream; ``Conflict`` naming the active grants bound to it, if any."""
        ...


class PinStore(Protocol):
    """Tool-definition pins (:mod:`mcpwall.core.pins`), shared by every replica.

    A pin keeps the tool object exactly as the upstream sent it (read back equal, key order
    and all text intact) and the hash the store computes of it — never one a caller gives.
    Pinning and unpinning are changes: they bump the revision (gateways reload pins as they
    reload policies) and record one audit event naming the tools and their hashes, never
    their text. Removing an upstream removes its pins with it.

    Each returns the pins as they are after it, read in the same transaction: a change that
    would leave an unreadable pin behind raises ``PinUnreadable`` and changes nothing, and
    pinning (or unpinning) the unreadable tool again is how it is repaired.
    """

    def get_pins(self, upstream: str) -> Pins:
        """The upstream's pins; an empty record if it was never pinned; ``NotFound`` if there
        is no such upstream; ``PinUnreadable`` if a stored pin cannot be read (fail closed)."""
        ...

    def pin_tools(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: InstructionsArg = UNSET,
        actor: str,
    ) -> Pins:
        """Pin exactly these tool objects (adding or replacing the pins of their names; others
        stay) and, unless ``instructions`` is ``UNSET``, the server's instructions (None: it
        sends none). ``InvalidValue`` for a tool without a distinct string name, or not JSON."""
        ...

    def pin_first_use(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: str | None,
        actor: str,
    ) -> Pins:
        """Trust on first use: pin these tools and instructions only if the upstream has no
        pin at all, in one transaction that every replica's attempt is serialised on; return
        the pins as they are after it (another replica's, when it came first).

        Recorded in the audit trail (``first_use``) but not a change of the revision: what a
        gateway serves is what it served before the pins existed."""
        ...

    def unpin_tools(self, upstream: str, names: Collection[str], *, actor: str) -> Pins:
        """Remove the pins of these tools (names not pinned are ignored; if none was, nothing
        changes and nothing is recorded)."""
        ...


class PolicyStore(Protocol):
    def add_policy_version(self, name: str, text: str, *, actor: str) -> PolicyVersion:
        """Store ``text`` as the next version of policy ``name`` (1 for a new policy).

        The store keeps the text exactly and does not read it: validate it first.
        """
        ...

    def get_policy(self, name: str, version: int | None = None) -> PolicyVersion:
        """A stored version; the current (latest) one when ``version`` is None."""
        ...

    def list_policies(self) -> list[PolicyVersion]:
        """The current version of every policy, by name."""
        ...

    def list_policy_versions(self, name: str) -> list[PolicyVersion]:
        """Every version of policy ``name``, oldest first."""
        ...


class GrantLookup(Protocol):
    """What the data plane needs: authenticate a token, and note when it was used."""

    def revision(self) -> int:
        """A number that grows with every change; equal numbers mean nothing changed."""
        ...

    def find_grant_by_token_hash(self, token_hash: str) -> Grant | None:
        """The grant whose token has this hash, whatever its status; None if there is none."""
        ...

    def touch_grant(self, grant_id: str) -> None:
        """Record that the grant was used now."""
        ...


class GrantStore(GrantLookup, Protocol):
    def issue_grant(
        self,
        label: str,
        bindings: Mapping[str, str],
        token_hash: str,
        *,
        expires_at: datetime | None = None,
        actor: str,
    ) -> Grant:
        """Store a new active grant binding each upstream to a policy (``upstream → policy``)."""
        ...

    def get_grant(self, ref: str) -> Grant: ...

    def list_grants(self) -> list[Grant]:
        """Every grant, whatever its status, oldest first (ties by id)."""
        ...

    def revoke_grant(self, ref: str, *, actor: str) -> Grant:
        """Revoke a grant now; revoking a revoked grant changes nothing."""
        ...

    def rotate_grant(self, ref: str, token_hash: str, *, actor: str) -> Grant:
        """Give an active grant a new token; the old one stops working at once."""
        ...


class AdminTokenStore(Protocol):
    def create_admin_token(
        self,
        role: Role,
        token_hash: str,
        *,
        label: str | None = None,
        expires_at: datetime | None = None,
        actor: str,
    ) -> AdminToken: ...

    def get_admin_token(self, token_id: str) -> AdminToken:
        """The admin token with this id, whatever its status; ``NotFound`` if there is none."""
        ...

    def find_admin_token_by_token_hash(self, token_hash: str) -> AdminToken | None:
        """The admin token with this hash, whatever its status; None if there is none."""
        ...

    def list_admin_tokens(self) -> list[AdminToken]:
        """Every admin token, oldest first (ties by id)."""
        ...

    def revoke_admin_token(self, token_id: str, *, actor: str) -> AdminToken:
        """Revoke an admin token now; revoking a revoked token changes nothing."""
        ...

    def touch_admin_token(self, token_id: str) -> None:
        """Record that the admin token was used now."""
        ...


class AuditTrail(Protocol):
    def append_audit(
        self,
        actor: str,
        action: str,
        object_kind: str,
        object_id: str,
        details: Mapping[str, JSON] | None = None,
    ) -> AuditEvent:
        """Record an event that is not a store change (changes record their own)."""
        ...

    def list_audit(
        self, *, limit: int = 100, before: int | None = None, only: AuditFilter | None = None
    ) -> list[AuditEvent]:
        """Up to ``limit`` events, newest first, with ids below ``before`` if given, that
        ``only`` matches if given."""
        ...


class LoginSessionStore(Protocol):
    """Dashboard logins (:mod:`mcpwall.core.logins`), shared by every replica.

    A login and a logout are recorded in the audit trail but are not changes: they do not
    bump the revision (no gateway needs to reload anything). Revoking an admin token deletes
    its sessions in the same transaction.
    """

    def add_login_session(self, session: LoginSession, *, actor: str) -> None:
        """Store a new session and record the login; ``Conflict`` if the hash is taken."""
        ...

    def find_login_session(self, secret_hash: str) -> LoginSession | None:
        """The session with this secret hash, live or not; None if there is none."""
        ...

    def touch_login_session(self, secret_hash: str) -> None:
        """Record that the session was used now (bookkeeping, like ``touch_grant``)."""
        ...

    def end_login_session(self, secret_hash: str, *, actor: str) -> bool:
        """Delete a session and record the logout; False if there was no such session."""
        ...

    def prune_login_sessions(self, idle_since: datetime) -> int:
        """Delete sessions past their absolute end, or not seen since ``idle_since``."""
        ...


class Store(
    UpstreamStore,
    PinStore,
    PolicyStore,
    GrantStore,
    AdminTokenStore,
    LoginSessionStore,
    AuditTrail,
    Protocol,
):
    """Everything the control plane keeps, behind one object."""

    def close(self) -> None:
        """Release connections; the store is not used after."""
        ...
