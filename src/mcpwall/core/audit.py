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
    UPSTREAM_PIN = "upstream.pin"
    UPSTREAM_UNPIN = "upstream.unpin"
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
        "pinning": upstream.pinning.value,
    }
    return Change(action.value, "upstream", upstream.name, details)


def pin_change(
    upstream: str,
    tool_hashes: Mapping[str, str],
    instructions_hash: str | None,
    *,
    first_use: bool = False,
) -> Change:
    """Tools (and perhaps the server's instructions) pinned: their names and new hashes only.

    Never their text: a definition is the upstream's to show, and a poisoned one would carry
    its payload into every reader of the trail. ``instructions_hash`` is None when the
    instructions' pin was left as it was; ``first_use`` marks the pins a gateway made at its
    first listing of an upstream nobody had pinned (trust on first use).
    """
    details: dict[str, JSON] = {"tools": {name: tool_hashes[name] for name in sorted(tool_hashes)}}
    if instructions_hash is not None:
        details["instructions_hash"] = instructions_hash
    if first_use:
        details["first_use"] = True
    return Change(Action.UPSTREAM_PIN.value, "upstream", upstream, details)


def unpin_change(upstream: str, names: Sequence[str]) -> Change:
    """Pins removed (tools the upstream no longer lists): their names."""
    return Change(Action.UPSTREAM_UNPIN.value, "upstream", upstream, {"tools": sorted(names)})


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
FILTER_FIELDS = ("actor", "action", "object_kind", "object_id")
OBJECT_KINDS = ("upstream", "policy", "grant", "admin_token")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit events to list; every field that is set must match exactly, except
    ``action``, which also takes a kind of action (``grant`` for ``grant.issue``,
    ``grant.revoke``…)."""

    actor: str | None = None
    action: str | None = None
    object_kind: str | None = None
    object_id: str | None = None

    def __post_init__(self) -> None:
        for what, text in (("actor", self.actor), ("object id", self.object_id)):
            if text is not None and not (0 < len(text) <= 256 and _no_controls(text)):
                raise InvalidValue(what, text, "1 to 256 characters, no control characters")
        if self.object_kind is not None and self.object_kind not in OBJECT_KINDS:
            raise InvalidValue("object kind", self.object_kind, "one of " + ", ".join(OBJECT_KINDS))
        if self.action is not None and self.action not in ACTION_CHOICES:
            raise InvalidValue("action", self.action, "one of " + ", ".join(ACTION_CHOICES))

    @classmethod
    def of(cls, query: Mapping[str, str], *, blank_is_any: bool = False) -> AuditFilter:
        """The filter a query string gives (``actor``, ``action``, ``object_kind``,
        ``object_id``); an empty value is refused, or with ``blank_is_any`` (a form's empty
        field) filters nothing."""
        values = {name: query.get(name) for name in FILTER_FIELDS}
        if blank_is_any:
            values = {name: value or None for name, value in values.items()}
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(getattr(self, name) is not None for name in FILTER_FIELDS)

    @property
    def action_prefix(self) -> str | None:
        """``grant.`` when ``action`` names a kind of action rather than one action."""
        return None if self.action is None or "." in self.action else f"{self.action}."

    def matches(self, event: AuditEvent) -> bool:
        prefix = self.action_prefix
        return (
            (self.actor is None or event.actor == self.actor)
            and (
                self.action is None
                or event.action == self.action
                or (prefix is not None and event.action.startswith(prefix))
            )
            and (self.object_kind is None or event.object_kind == self.object_kind)
            and (self.object_id is None or event.object_id == self.object_id)
        )


def _no_controls(text: str) -> bool:
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


# Every action, and every kind of action (the part before the dot), that a filter may name.
ACTION_CHOICES = tuple(
    sorted({action.value for action in Action} | {a.value.split(".")[0] for a in Action})
)


def check_page_size(limit: int) -> int:
    """Return ``limit`` if it is a page size a store serves: 1 to 1000 events."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidValue("page size", str(limit), f"1 to {MAX_PAGE_SIZE}")
    return limit
