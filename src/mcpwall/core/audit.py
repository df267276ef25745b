"""The admin audit trail: who changed what, when, and which object, never a secret.

A store records one event per change, in the same transaction as the change, from the
:class:`Change` built here; this module is the one place that decides what an event says,
so "no secrets" is enforced in one spot: upstreams are described by their kind and the
*keys* of their env and headers, tokens not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from mcpwall.core.errors import InvalidValue
from mcpwall.core.registry import AdminToken, Grant, PolicyVersion, Upstream

# Read-only (covariant) containers, so a ``list[str]`` or ``dict[str, str]`` is a JSON value.
JSON: TypeAlias = "str | int | float | bool | Sequence[JSON] | Mapping[str, JSON] | None"


class Action(StrEnum):
    """The changes a store records by itself."""

    UPSTREAM_ADD = "upstream.add"
    UPSTREAM_UPDATE = "upstream.update"
    UPSTREAM_REMOVE = "upstream.remove"
    POLICY_SET = "policy.set"
    GRANT_ISSUE = "grant.issue"
    GRANT_REVOKE = "grant.revoke"
    GRANT_ROTATE = "grant.rotate"
    ADMIN_TOKEN_CREATE = "admin_token.create"  # noqa: S105 (an action, not a password)
    ADMIN_TOKEN_REVOKE = "admin_token.revoke"  # noqa: S105
    DASHBOARD_LOGIN = "dashboard.login"
    DASHBOARD_LOGOUT = "dashboard.logout"


@dataclass(frozen=True, slots=True)
class Change:
    """What an audit event says about a change, before the store gives it an id and a time."""

    action: str
    object_kind: str
    object_id: str
    details: Mapping[str, JSON] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded change: ``id`` increases with every event, ``at`` is when it was made."""

    id: int
    at: datetime
    actor: str
    action: str
    object_kind: str
    object_id: str
    details: Mapping[str, JSON] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


def upstream_change(action: Action, upstream: Upstream) -> Change:
    # Only keys: an env or header value is a credential, and args or a URL may embed one too.
    details: dict[str, JSON] = {
        "kind": upstream.kind.value,
        "env_keys": sorted(upstream.env),
        "header_keys": sorted(upstream.headers),
    }
    return Change(action.value, "upstream", upstream.name, details)


def policy_change(version: PolicyVersion) -> Change:
    return Change(Action.POLICY_SET.value, "policy", version.name, {"version": version.version})


def grant_change(action: Action, grant: Grant) -> Change:
    details: dict[str, JSON] = {
        "label": grant.label,
        "bindings": dict(grant.bindings),
        "expires_at": None if grant.expires_at is None else grant.expires_at.isoformat(),
    }
    return Change(action.value, "grant", grant.id, details)


def admin_token_change(action: Action, token: AdminToken) -> Change:
    """A change to an admin token, or a dashboard login or logout made with it."""
    details: dict[str, JSON] = {"label": token.label, "role": token.role.value}
    return Change(action.value, "admin_token", token.id, details)


MAX_PAGE_SIZE = 1000


def check_page_size(limit: int) -> int:
    """Return ``limit`` if it is a page size a store serves: 1 to 1000 events."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidValue("page size", str(limit), f"1 to {MAX_PAGE_SIZE}")
    return limit
