"""Rows ↔ registry values, with the sealing and opening of secrets on the way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from mcpwall.adapters.secrets import SecretBox
from mcpwall.core.registry import (
    AdminToken,
    Grant,
    Pinning,
    PolicyVersion,
    Role,
    Upstream,
    UpstreamKind,
)

if TYPE_CHECKING:
    from sqlalchemy import Row

    from mcpwall.core.audit import JSON, AuditEvent


def _context(upstream: str, field: str, key: str) -> str:
    return f"upstream {upstream} {field} {key}"


def upstream_values(upstream: Upstream, box: SecretBox) -> dict[str, Any]:
    """The columns of ``upstream``, its env and header values sealed."""
    name = upstream.name
    return {
        "name": name,
        "kind": upstream.kind.value,
        "command": upstream.command,
        "args": list(upstream.args),
        "cwd": upstream.cwd,
        "url": upstream.url,
        "env": {k: box.seal(v, _context(name, "env", k)) for k, v in upstream.env.items()},
        "headers": {
            k: box.seal(v, _context(name, "header", k)) for k, v in upstream.headers.items()
        },
        "pinning": upstream.pinning.value,
    }


def upstream_from(row: Row[Any], box: SecretBox) -> Upstream:
    name = row.name
    return Upstream(
        name,
        UpstreamKind(row.kind),
        command=row.command,
        args=tuple(row.args),
        env={k: box.open(v, _context(name, "env", k)) for k, v in row.env.items()},
        cwd=row.cwd,
        url=row.url,
        headers={k: box.open(v, _context(name, "header", k)) for k, v in row.headers.items()},
        pinning=Pinning(row.pinning),
    )


def policy_version_from(row: Row[Any]) -> PolicyVersion:
    return PolicyVersion(row.name, row.version, row.text, row.created_at, row.created_by)


def grants_from(rows: Iterable[Row[Any]]) -> list[Grant]:
    """Grants from rows of a grant joined with its bindings (one row per binding), in order."""
    found: dict[str, tuple[Row[Any], dict[str, str]]] = {}
    for row in rows:
        _, bindings = found.setdefault(row.id, (row, {}))
        if row.upstream is not None:
            bindings[row.upstream] = row.policy
    return [
        Grant(
            row.id,
            row.label,
            row.token_hash,
            bindings,
            row.created_at,
            row.expires_at,
            row.revoked_at,
            row.last_used_at,
        )
        for row, bindings in found.values()
    ]


def admin_token_from(row: Row[Any]) -> AdminToken:
    return AdminToken(
        row.id,
        row.label,
        Role(row.role),
        row.token_hash,
        row.created_at,
        row.created_by,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
    )


def audit_event_from(row: Row[Any]) -> AuditEvent:
    # Here, not at the top: ``mcpwall stdio`` reads an upstream with this module before it
    # spawns it, and the audit trail's types need not load for that (issue 16 §3).
    from mcpwall.core.audit import AuditEvent

    return AuditEvent(
        row.id, row.at, row.actor, row.action, row.object_kind, row.object_id, row.details
    )


def plain_json(value: JSON) -> JSON:
    """``value`` with read-only mappings and sequences made into dicts and lists, for ``json``."""
    if isinstance(value, Mapping):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain_json(item) for item in value]
    return value


def columns_of(value: Any, exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The fields of a registry dataclass, as column values."""
    names = (f.name for f in fields(value))
    return {name: getattr(value, name) for name in names if name not in exclude}
