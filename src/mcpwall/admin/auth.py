"""Who is calling, and may they: bearer admin tokens and their roles (RFC 6750).

A request without a usable token gets 401 with ``WWW-Authenticate: Bearer``; a token whose
role is too low gets 403 naming the role needed. Which one of "unknown", "revoked" and
"expired" made a token unusable is not said: the caller holding it knows, anyone else
should not learn it.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from mcpwall.admin.errors import ApiError
from mcpwall.control import ControlPlane
from mcpwall.core.registry import AdminToken, Role

REALM = 'Bearer realm="mcpwall admin"'


def bearer_token(headers: Headers) -> str:
    """The token of an ``Authorization: Bearer …`` header; 401 if there is none."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "unauthenticated",
            "this API needs an admin token: send Authorization: Bearer mcpwa_… "
            "(create one with: mcpwall admin token create --role viewer)",
            headers={"WWW-Authenticate": REALM},
        )
    return token


def authorize(control: ControlPlane, token: str, needed: Role) -> AdminToken:
    """The admin token ``token`` opens, if its role includes ``needed``; else 401 or 403."""
    caller = control.authenticate_admin(token)
    if caller is None:
        raise ApiError(
            401,
            "invalid_token",
            "the admin token is not valid: it is unknown, revoked or expired",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
    if not caller.role.includes(needed):
        raise ApiError(
            403,
            "forbidden",
            f"this needs role {needed.value} or higher; this token has role {caller.role.value}",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope"'},
        )
    return caller
