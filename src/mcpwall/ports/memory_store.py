"""``MemoryStore``: the in-memory ``Store`` that tests use, kept honest by the contract suite.

Every method checks everything first and changes state last, under one lock, so a change
happens whole or not at all, as in a database transaction.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from mcpwall.core.audit import (
    JSON,
    Action,
    AuditEvent,
    AuditFilter,
    Change,
    admin_token_change,
    check_page_size,
    grant_change,
    pin_change,
    policy_change,
    unpin_change,
    upstream_change,
)
from mcpwall.core.errors import NotFound
from mcpwall.core.logins import LoginSession
from mcpwall.core.names import check_name
from mcpwall.core.pins import (
    UNSET,
    InstructionsArg,
    Pins,
    new_instructions_hash,
    new_pins,
    read_instructions_pin,
    read_tool_pin,
)
from mcpwall.core.registry import (
    ADMIN_ID_PREFIX,
    GRANT_ID_PREFIX,
    AdminToken,
    Grant,
    PolicyVersion,
    Role,
    Status,
    Upstream,
    check_actor,
    check_bindings_exist,
    check_new_admin_token,
    check_new_grant,
    grant_not_active,
    is_grant_id,
    label_in_use,
    policy_version_not_found,
    token_hash_in_use,
    upstream_exists,
    upstream_in_use,
)
from mcpwall.core.tokens import check_token_hash, make_id
from mcpwall.ports.clock import Clock, SystemClock


class MemoryStore:
    """A ``Store`` held in dicts; ``clock`` stamps every change."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._revision = 0
        self._upstreams: dict[str, Upstream] = {}
        self._policies: dict[str, list[PolicyVersion]] = {}
        self._grants: dict[str, Grant] = {}  # by id
        self._label_holders: dict[str, str] = {}  # label → id of the grant that holds it
        self._admin_tokens: dict[str, AdminToken] = {}
        self._audit: list[AuditEvent] = []
        self._logins: dict[str, LoginSession] = {}  # by secret hash
        # upstream → tool name → its pin as a SQL store keeps it (the text, read on each get)
        self._tool_pins: dict[str, dict[str, _StoredPin]] = {}
        self._instruction_pins: dict[str, _StoredInstructions] = {}

    def _commit(self, actor: str, change: Change) -> None:
        """Bump the revision and record a change just made: the end of a transaction."""
        self._revision += 1
        self._record(actor, change.action, change.object_kind, change.object_id, change.details)

    def _record(
        self, actor: str, action: str, kind: str, object_id: str, details: Mapping[str, JSON]
    ) -> AuditEvent:
        event = AuditEvent(
            len(self._audit) + 1, self._clock.now(), actor, action, kind, object_id, details
        )
        self._audit.append(event)
        return event

    def revision(self) -> int:
        with self._lock:
            return self._revision

    def close(self) -> None:
        pass

    # Upstreams

    def add_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        check_actor(actor)
        with self._lock:
            if upstream.name in self._upstreams:
                raise upstream_exists(upstream.name)
            self._upstreams[upstream.name] = upstream
            self._commit(actor, upstream_change(Action.UPSTREAM_ADD, upstream))
        return upstream

    def update_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        check_actor(actor)
        with self._lock:
            self.get_upstream(upstream.name)
            self._upstreams[upstream.name] = upstream
            self._commit(actor, upstream_change(Action.UPSTREAM_UPDATE, upstream))
        return upstream

    def get_upstream(self, name: str) -> Upstream:
        with self._lock:
            if name not in self._upstreams:
                raise NotFound("upstream", name)
            return self._upstreams[name]

    def list_upstreams(self) -> list[Upstream]:
        with self._lock:
            return [self._upstreams[name] for name in sorted(self._upstreams)]

    def remove_upstream(self, name: str, *, actor: str) -> None:
        check_actor(actor)
        with self._lock:
            upstream = self.get_upstream(name)
            now = self._clock.now()
            labels = [
                grant.label
                for grant in self._grants.values()
                if name in grant.bindings and grant.is_active(now)
            ]
            if labels:
                raise upstream_in_use(name, labels)
            del self._upstreams[name]
            self._tool_pins.pop(name, None)
            self._instruction_pins.pop(name, None)
            self._commit(actor, upstream_change(Action.UPSTREAM_REMOVE, upstream))

    # Pins

    def get_pins(self, upstream: str) -> Pins:
        with self._lock:
            self.get_upstream(upstream)
            return _read_pins(
                upstream,
                self._tool_pins.get(upstream, {}),
                self._instruction_pins.get(upstream),
            )

    def pin_tools(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: InstructionsArg = UNSET,
        actor: str,
    ) -> Pins:
        check_actor(actor)
        pins = new_pins(upstream, tools)
        text_hash = None if instructions is UNSET else new_instructions_hash(upstream, instructions)
        with self._lock:
            self.get_upstream(upstream)
            stored = dict(self._tool_pins.get(upstream, {}))
            held = self._instruction_pins.get(upstream)
            if not pins and text_hash is None:
                return _read_pins(upstream, stored, held)
            now = self._clock.now()
            for pin in pins:
                stored[pin.name] = _StoredPin(pin.text, pin.hash, now, actor)
            if text_hash is not None and instructions is not UNSET:
                held = _StoredInstructions(instructions, text_hash, now, actor)
            # Read before keeping: a change that leaves a pin unreadable is refused whole.
            result = _read_pins(upstream, stored, held)
            self._tool_pins[upstream] = stored
            if held is not None:
                self._instruction_pins[upstream] = held
            hashes = {pin.name: pin.hash for pin in pins}
            self._commit(actor, pin_change(upstream, hashes, text_hash))
            return result

    def pin_first_use(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: str | None,
        actor: str,
    ) -> Pins:
        check_actor(actor)
        pins = new_pins(upstream, tools)
        text_hash = new_instructions_hash(upstream, instructions)
        with self._lock:
            self.get_upstream(upstream)
            if self._tool_pins.get(upstream) or upstream in self._instruction_pins:
                return self.get_pins(upstream)
            now = self._clock.now()
            stored = {pin.name: _StoredPin(pin.text, pin.hash, now, actor) for pin in pins}
            held = _StoredInstructions(instructions, text_hash, now, actor)
            result = _read_pins(upstream, stored, held)
            self._tool_pins[upstream] = stored
            self._instruction_pins[upstream] = held
            hashes = {pin.name: pin.hash for pin in pins}
            change = pin_change(upstream, hashes, text_hash, first_use=True)
            self._record(actor, change.action, change.object_kind, change.object_id, change.details)
            return result

    def unpin_tools(self, upstream: str, names: Collection[str], *, actor: str) -> Pins:
        check_actor(actor)
        with self._lock:
            self.get_upstream(upstream)
            stored = dict(self._tool_pins.get(upstream, {}))
            removed = sorted(name for name in set(names) if name in stored)
            for name in removed:
                del stored[name]
            result = _read_pins(upstream, stored, self._instruction_pins.get(upstream))
            if removed:
                self._tool_pins[upstream] = stored
                self._commit(actor, unpin_change(upstream, removed))
            return result

    # Policies

    def add_policy_version(self, name: str, text: str, *, actor: str) -> PolicyVersion:
        check_name(name, "policy name")
        check_actor(actor)
        with self._lock:
            versions = self._policies.setdefault(name, [])
            added = PolicyVersion(name, len(versions) + 1, text, self._clock.now(), actor)
            versions.append(added)
            self._commit(actor, policy_change(added))
        return added

    def get_policy(self, name: str, version: int | None = None) -> PolicyVersion:
        versions = self.list_policy_versions(name)
        if version is None:
            return versions[-1]
        if not 1 <= version <= len(versions):
            raise policy_version_not_found(name, version, len(versions))
        return versions[version - 1]

    def list_policies(self) -> list[PolicyVersion]:
        with self._lock:
            return [self._policies[name][-1] for name in sorted(self._policies)]

    def list_policy_versions(self, name: str) -> list[PolicyVersion]:
        with self._lock:
            if name not in self._policies:
                raise NotFound("policy", name)
            return list(self._policies[name])

    # Grants

    def issue_grant(
        self,
        label: str,
        bindings: Mapping[str, str],
        token_hash: str,
        *,
        expires_at: datetime | None = None,
        actor: str,
    ) -> Grant:
        checked = check_new_grant(label, bindings, token_hash, expires_at)
        check_actor(actor)
        with self._lock:
            check_bindings_exist(checked, self._upstreams, self._policies)
            now = self._clock.now()
            holder = self._label_holder(label)
            if holder is not None and holder.is_active(now):
                raise label_in_use(label, holder)
            self._check_new_grant_hash(token_hash)
            grant = Grant(_new_id(GRANT_ID_PREFIX), label, token_hash, checked, now, expires_at)
            self._put_grant(grant, holds_label=True)
            self._commit(actor, grant_change(Action.GRANT_ISSUE, grant))
        return grant

    def get_grant(self, ref: str) -> Grant:
        with self._lock:
            grant = self._grants.get(ref) if is_grant_id(ref) else self._label_holder(ref)
            if grant is None:
                raise NotFound("grant", ref)
            return grant

    def find_grant_by_token_hash(self, token_hash: str) -> Grant | None:
        with self._lock:
            return next((g for g in self._grants.values() if g.token_hash == token_hash), None)

    def list_grants(self) -> list[Grant]:
        with self._lock:
            return sorted(self._grants.values(), key=lambda g: (g.created_at, g.id))

    def revoke_grant(self, ref: str, *, actor: str) -> Grant:
        check_actor(actor)
        with self._lock:
            grant = self.get_grant(ref)
            if grant.revoked_at is not None:
                return grant
            revoked = replace(grant, revoked_at=self._clock.now())
            self._put_grant(revoked, holds_label=False)
            self._commit(actor, grant_change(Action.GRANT_REVOKE, revoked))
        return revoked

    def rotate_grant(self, ref: str, token_hash: str, *, actor: str) -> Grant:
        check_token_hash(token_hash)
        check_actor(actor)
        with self._lock:
            grant = self.get_grant(ref)
            status = grant.status(self._clock.now())
            if status is not Status.ACTIVE:
                raise grant_not_active(grant, status)
            self._check_new_grant_hash(token_hash)
            rotated = replace(grant, token_hash=token_hash)
            self._put_grant(rotated, holds_label=True)
            self._commit(actor, grant_change(Action.GRANT_ROTATE, rotated))
        return rotated

    def touch_grant(self, grant_id: str) -> None:
        with self._lock:
            if grant_id not in self._grants:
                raise NotFound("grant", grant_id)
            grant = self._grants[grant_id]
            self._grants[grant_id] = replace(grant, last_used_at=self._clock.now())

    def _label_holder(self, label: str) -> Grant | None:
        grant_id = self._label_holders.get(label)
        return None if grant_id is None else self._grants[grant_id]

    def _put_grant(self, grant: Grant, *, holds_label: bool) -> None:
        self._grants[grant.id] = grant
        if holds_label:
            self._label_holders[grant.label] = grant.id
        elif self._label_holders.get(grant.label) == grant.id:
            del self._label_holders[grant.label]

    def _check_new_grant_hash(self, token_hash: str) -> None:
        if self.find_grant_by_token_hash(token_hash) is not None:
            raise token_hash_in_use()

    # Admin tokens

    def create_admin_token(
        self,
        role: Role,
        token_hash: str,
        *,
        label: str | None = None,
        expires_at: datetime | None = None,
        actor: str,
    ) -> AdminToken:
        role = check_new_admin_token(role, token_hash, label, expires_at)
        check_actor(actor)
        with self._lock:
            if self.find_admin_token_by_token_hash(token_hash) is not None:
                raise token_hash_in_use()
            token = AdminToken(
                _new_id(ADMIN_ID_PREFIX),
                label,
                role,
                token_hash,
                self._clock.now(),
                actor,
                expires_at,
            )
            self._admin_tokens[token.id] = token
            self._commit(actor, admin_token_change(Action.ADMIN_TOKEN_CREATE, token))
        return token

    def find_admin_token_by_token_hash(self, token_hash: str) -> AdminToken | None:
        with self._lock:
            tokens = self._admin_tokens.values()
            return next((t for t in tokens if t.token_hash == token_hash), None)

    def get_admin_token(self, token_id: str) -> AdminToken:
        with self._lock:
            return self._get_admin_token(token_id)

    def list_admin_tokens(self) -> list[AdminToken]:
        with self._lock:
            return sorted(self._admin_tokens.values(), key=lambda t: (t.created_at, t.id))

    def revoke_admin_token(self, token_id: str, *, actor: str) -> AdminToken:
        check_actor(actor)
        with self._lock:
            token = self._get_admin_token(token_id)
            if token.revoked_at is not None:
                return token
            revoked = replace(token, revoked_at=self._clock.now())
            self._admin_tokens[token_id] = revoked
            self._end_logins_of(token_id)
            self._commit(actor, admin_token_change(Action.ADMIN_TOKEN_REVOKE, revoked))
        return revoked

    def touch_admin_token(self, token_id: str) -> None:
        with self._lock:
            token = self._get_admin_token(token_id)
            self._admin_tokens[token_id] = replace(token, last_used_at=self._clock.now())

    def _get_admin_token(self, token_id: str) -> AdminToken:
        if token_id not in self._admin_tokens:
            raise NotFound("admin token", token_id)
        return self._admin_tokens[token_id]

    # Dashboard logins

    def add_login_session(self, session: LoginSession, *, actor: str) -> None:
        check_actor(actor)
        with self._lock:
            token = self._get_admin_token(session.admin_token_id)
            if session.secret_hash in self._logins:
                raise token_hash_in_use()
            self._logins[session.secret_hash] = session
            change = admin_token_change(Action.DASHBOARD_LOGIN, token)
            self._record(actor, change.action, change.object_kind, token.id, change.details)

    def find_login_session(self, secret_hash: str) -> LoginSession | None:
        with self._lock:
            return self._logins.get(secret_hash)

    def touch_login_session(self, secret_hash: str) -> None:
        with self._lock:
            session = self._logins.get(secret_hash)
            if session is None:
                raise NotFound("login session", "(its secret is not shown)")
            self._logins[secret_hash] = replace(session, last_seen_at=self._clock.now())

    def end_login_session(self, secret_hash: str, *, actor: str) -> bool:
        check_actor(actor)
        with self._lock:
            session = self._logins.pop(secret_hash, None)
            if session is None:
                return False
            token = self._get_admin_token(session.admin_token_id)
            change = admin_token_change(Action.DASHBOARD_LOGOUT, token)
            self._record(actor, change.action, change.object_kind, token.id, change.details)
            return True

    def prune_login_sessions(self, idle_since: datetime) -> int:
        now = self._clock.now()
        with self._lock:
            ended = [
                key
                for key, session in self._logins.items()
                if session.expires_at <= now or session.last_seen_at < idle_since
            ]
            for key in ended:
                del self._logins[key]
            return len(ended)

    def _end_logins_of(self, admin_token_id: str) -> None:
        for key in [k for k, s in self._logins.items() if s.admin_token_id == admin_token_id]:
            del self._logins[key]

    # Audit trail

    def append_audit(
        self,
        actor: str,
        action: str,
        object_kind: str,
        object_id: str,
        details: Mapping[str, JSON] | None = None,
    ) -> AuditEvent:
        check_actor(actor)
        with self._lock:
            return self._record(actor, action, object_kind, object_id, details or {})

    def list_audit(
        self, *, limit: int = 100, before: int | None = None, only: AuditFilter | None = None
    ) -> list[AuditEvent]:
        check_page_size(limit)
        with self._lock:
            events = [
                e
                for e in self._audit
                if (before is None or e.id < before) and (only is None or only.matches(e))
            ]
            return events[::-1][:limit]


@dataclass(frozen=True, slots=True)
class _StoredPin:
    text: str
    hash: str
    pinned_at: datetime
    pinned_by: str


@dataclass(frozen=True, slots=True)
class _StoredInstructions:
    text: str | None
    hash: str
    pinned_at: datetime
    pinned_by: str


def _read_pins(
    upstream: str, tools: Mapping[str, _StoredPin], instructions: _StoredInstructions | None
) -> Pins:
    """Stored pins read as a SQL store reads its rows (``PinUnreadable`` if one can't be)."""
    read = {
        name: read_tool_pin(upstream, name, p.text, p.hash, p.pinned_at, p.pinned_by)
        for name, p in tools.items()
    }
    held = (
        None
        if instructions is None
        else read_instructions_pin(
            upstream,
            instructions.text,
            instructions.hash,
            instructions.pinned_at,
            instructions.pinned_by,
        )
    )
    return Pins(upstream, read, held)


def _new_id(prefix: str) -> str:
    return make_id(prefix, secrets.token_bytes(8))
