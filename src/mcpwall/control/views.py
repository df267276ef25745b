"""The JSON shapes of stored objects, as ``--json`` output and the admin API return them.

One place decides what leaves the process: secret values are masked, tokens never appear
(only the operation that creates a token adds it, once).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from mcpwall.core.audit import AuditEvent
from mcpwall.core.registry import AdminToken, Grant, PolicyVersion, Upstream, UpstreamKind

JSONObject = dict[str, object]
MASK = "***"


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return moment.isoformat() if moment is not None else None


def masked_url(url: str | None) -> str | None:
    """``url`` with any password and query values masked: credentials belong in headers,
    but a URL like ``https://user:pw@host/mcp?key=…`` must not leak through a listing."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # such as a bracketed host that is not an IPv6 address
        return "(a URL that can't be parsed; not shown)"
    netloc = parts.netloc
    if password is not None:
        netloc = netloc.replace(f":{password}@", f":{MASK}@", 1)
    query = "&".join(
        f"{name}={MASK}" if value else name
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def upstream_view(upstream: Upstream) -> JSONObject:
    """Every field of an upstream; env and header values, URL passwords and queries masked."""
    view: JSONObject = {"name": upstream.name, "kind": upstream.kind.value}
    if upstream.kind is UpstreamKind.STDIO:
        view |= {"command": upstream.command, "args": list(upstream.args), "cwd": upstream.cwd}
        view["env"] = dict.fromkeys(upstream.env, MASK)
    else:
        view |= {"url": masked_url(upstream.url), "headers": dict.fromkeys(upstream.headers, MASK)}
    view["pinning"] = upstream.pinning.value
    return view


def policy_view(policy: PolicyVersion, *, with_text: bool = False) -> JSONObject:
    view: JSONObject = {
        "name": policy.name,
        "version": policy.version,
        "created_at": timestamp(policy.created_at),
        "created_by": policy.created_by,
    }
    if with_text:
        view["text"] = policy.text
    return view


def grant_view(grant: Grant, now: datetime) -> JSONObject:
    """A grant without its token (the store never had it)."""
    return {
        "id": grant.id,
        "label": grant.label,
        "bindings": dict(grant.bindings),
        "created_at": timestamp(grant.created_at),
        "expires_at": timestamp(grant.expires_at),
        "revoked_at": timestamp(grant.revoked_at),
        "last_used_at": timestamp(grant.last_used_at),
        "status": grant.status(now).value,
    }


def admin_token_view(token: AdminToken, now: datetime) -> JSONObject:
    return {
        "id": token.id,
        "label": token.label,
        "role": token.role.value,
        "created_at": timestamp(token.created_at),
        "created_by": token.created_by,
        "expires_at": timestamp(token.expires_at),
        "revoked_at": timestamp(token.revoked_at),
        "last_used_at": timestamp(token.last_used_at),
        "status": token.status(now).value,
    }


def audit_event_view(event: AuditEvent) -> JSONObject:
    return {
        "id": event.id,
        "at": timestamp(event.at),
        "actor": event.actor,
        "action": event.action,
        "object_kind": event.object_kind,
        "object_id": event.object_id,
        "details": dict(event.details),
    }
